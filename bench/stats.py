"""Repeated measurements: a median with its range, and paired ratios.

A ratio is computed per repeat from figures measured back to back in that
repeat (A_i / B_i), then summarized like any other figure, so a machine that
slows down between repeats moves both sides of a ratio together.
"""

import dataclasses
import statistics
import time
from typing import Callable, Optional, Sequence


@dataclasses.dataclass(frozen=True)
class Stat:
  """Median and min-max of repeated values (one value: all three equal)."""
  median: float
  low: float
  high: float
  values: tuple[float, ...]

  @classmethod
  def of(cls, values: Sequence[float]) -> "Stat":
    values = tuple(float(v) for v in values)
    if not values:
      raise ValueError("Stat.of needs at least one value")
    return cls(statistics.median(values), min(values), max(values), values)

  def to_dict(self) -> dict:
    return {"median": self.median, "min": self.low, "max": self.high,
            "values": list(self.values)}


def paired_ratio(numerators: Sequence[float],
                 denominators: Sequence[float]) -> Stat:
  """Stat of numerators[i] / denominators[i] (same repeat i)."""
  if len(numerators) != len(denominators):
    raise ValueError(f"paired_ratio needs equal lengths, got "
                     f"{len(numerators)} and {len(denominators)}")
  return Stat.of([n / d for n, d in zip(numerators, denominators)])


def timed(function: Callable[[], object]) -> tuple[float, object]:
  """(wall seconds, result) of one call."""
  start = time.perf_counter()
  result = function()
  return time.perf_counter() - start, result


def rate(count: float, seconds: float) -> float:
  """Items per second; a zero duration (a clock tick) counts as 1 ns."""
  return count / max(seconds, 1e-9)


def fmt(value: Optional[float], digits: int = 3) -> str:
  """A compact number: 3 significant digits, thousands without exponent."""
  if value is None:
    return ""
  magnitude = abs(value)
  if magnitude >= 1000:
    return f"{value:,.0f}"
  if magnitude >= 100:
    return f"{value:.0f}"
  return f"{value:.{digits}g}"
