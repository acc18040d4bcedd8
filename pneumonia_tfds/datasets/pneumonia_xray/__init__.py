"""The pneumonia_xray dataset."""
