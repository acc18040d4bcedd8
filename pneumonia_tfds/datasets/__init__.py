"""TFDS dataset folders, one per dataset."""
