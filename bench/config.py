"""The frozen, validated configuration of one benchmark run.

`bench/run.py` turns its flags into a `BenchConfig` once; every section reads
its sizes from here, so --quick changes sizes in one place and never which
rows exist.
"""

import dataclasses
from typing import Optional

SECTIONS = ("build", "input", "input_stages", "memory", "train_step",
            "quality", "scale", "serve", "feed")
# Fractions of chest_xray_small for the memory section, as (label, every):
# every 16th file of each folder, every 4th, all.
MEMORY_FRACTIONS = (("1/16", 16), ("1/4", 4), ("all", 1))
# Parts of the scale section's synthetic sources, as (label, every): the
# first whole patients holding at least 1/16 of the files, 1/4, all.
SCALE_FRACTIONS = (("1/16", 16), ("1/4", 4), ("all", 1))
# Entries of the quality section: the two binary models, then small_resnet
# trained on the pneumonia types (bench/quality.py).
QUALITY_MODELS = ("small_resnet", "blog_cnn", "small_resnet_type")


@dataclasses.dataclass(frozen=True)
class BenchConfig:
  """Everything a benchmark run depends on.

  Attributes:
    shared_data: the read-only data folder (chest_xray/, chest_xray_small/).
    work_dir: where builds, pickles and model dirs are written.
    out_dir: where results.json and results.md go.
    quick: a few images and one repeat: checks that every row still runs.
    quality: also run section 5 (trains three models; long).
    quality_models: the entries of section 5 to run (QUALITY_MODELS); the
      others' rows say "not run".
    sections: the sections to run; the others' rows say "not run".
    repeats: repeats of each timed figure (training: timed windows).
    memory_repeats: fresh child processes per memory figure.
    quality_epochs: epochs of each quality training run (at most; early
      stopping may end sooner).
  """
  shared_data: str
  work_dir: str
  out_dir: str
  quick: bool = False
  quality: bool = False
  quality_models: tuple[str, ...] = QUALITY_MODELS
  sections: tuple[str, ...] = SECTIONS
  repeats: int = 3
  memory_repeats: int = 3
  quality_epochs: int = 30

  def validate(self) -> "BenchConfig":
    unknown = set(self.sections) - set(SECTIONS)
    if unknown:
      raise ValueError(f"sections: unknown {sorted(unknown)}; known: "
                       f"{', '.join(SECTIONS)}")
    unknown = set(self.quality_models) - set(QUALITY_MODELS)
    if unknown:
      raise ValueError(f"quality_models: unknown {sorted(unknown)}; known: "
                       f"{', '.join(QUALITY_MODELS)}")
    for name in ("repeats", "memory_repeats", "quality_epochs"):
      if getattr(self, name) < 1:
        raise ValueError(f"{name}: must be at least 1, got "
                         f"{getattr(self, name)}")
    return self

  def runs(self, section: str) -> bool:
    if section == "quality":
      return self.quality and section in self.sections
    return section in self.sections

  # Sizes: the in a full run, tiny ones in --quick.

  @property
  def build_repeats(self) -> int:
    """Builds take seconds: twice the repeats of the other sections."""
    return 2 * self.repeats

  @property
  def build_per_folder(self) -> Optional[int]:
    """Kermany originals per split/class folder (None: all 286)."""
    return 4 if self.quick else None

  @property
  def small_per_folder(self) -> Optional[int]:
    """chest_xray_small files per split/class folder (None: all 5432)."""
    return 16 if self.quick else None

  @property
  def originals_repeats(self) -> int:
    """Section 2's repeats on the originals set: about 200 examples, so 4x
    the repeats of the others (1 with --quick, whose figures mean nothing)."""
    return self.repeats if self.quick else 4 * self.repeats

  @property
  def batch_size(self) -> int:
    return 32

  @property
  def train_batch_size(self) -> int:
    return 4 if self.quick else 32

  @property
  def train_image_size(self) -> int:
    return 48 if self.quick else 204

  @property
  def train_warmup_steps(self) -> int:
    return 1 if self.quick else 2

  @property
  def train_steps_per_window(self) -> int:
    return 1 if self.quick else 3

  @property
  def memory_fractions(self) -> tuple[tuple[str, int], ...]:
    """MEMORY_FRACTIONS measured: with --quick only the two the growth is
    of."""
    if self.quick:
      return (MEMORY_FRACTIONS[0], MEMORY_FRACTIONS[-1])
    return MEMORY_FRACTIONS

  @property
  def memory_parallel(self) -> int:
    """Memory children run at once (peak RSS is per process either way)."""
    return 3 if self.quick else 1

  @property
  def scale_files(self) -> int:
    """Synthetic source files of the scale section (its "all" part)."""
    return 480 if self.quick else 50_000

  @property
  def scale_workers(self) -> int:
    """Processes making the synthetic files and the local build's
    num_workers (the machine's 2 CPUs)."""
    return 2

  @property
  def scale_beam_workers(self) -> int:
    """Beam's direct_num_workers: 2, but 1 with --quick, where starting
    each worker (it imports TensorFlow) is most of a build."""
    return 1 if self.quick else 2

  @property
  def scale_repeats(self) -> int:
    """Child builds per scale figure (--repeats): the six builds of a full
    run take about 3.5 minutes on 2 CPUs, so 3 repeats with the synthetic
    files about 11.5."""
    return self.repeats

  @property
  def scale_warmup_files(self) -> int:
    """Files of the untimed warm-up build per mode (0: none)."""
    return 0 if self.quick else 200

  @property
  def scale_parallel(self) -> int:
    """Scale builds run at once: two with --quick (its figures mean
    nothing, and start-up is most of each build), else one."""
    return 2 if self.quick else 1
