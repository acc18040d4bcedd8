"""How many CPUs this process may use."""

import os


def available_cpus() -> int:
  """CPUs this process may run on: its affinity mask, which a container's
  CPU limit (cpuset) narrows, where os.cpu_count() counts the whole host."""
  if hasattr(os, "sched_getaffinity"):
    return len(os.sched_getaffinity(0))
  return os.cpu_count() or 1
