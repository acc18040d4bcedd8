"""CPU counts follow the process's affinity mask, not the host's CPUs."""

import os

from pneumonia_tfds import cpus


def test_available_cpus_follows_the_affinity_mask(monkeypatch):
  assert cpus.available_cpus() == len(os.sched_getaffinity(0))
  # A container limited to 2 of a host's 64 CPUs.
  monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
  monkeypatch.setattr(os, "cpu_count", lambda: 64)
  assert cpus.available_cpus() == 2
