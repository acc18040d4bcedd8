"""Rows of the benchmark table and their three renderings: text, Markdown, JSON.

A row is one figure (images/s, MB, ...) or one ratio of two figures measured
in the same run ("x"); a ratio row may carry a target, and the table says
whether its median meets it.
"""

import dataclasses
import json
import operator
from typing import Any, Optional

from bench import stats

_OPERATORS = {">=": operator.ge, "<=": operator.le, ">": operator.gt}

# Row statuses other than a measured value.
MEASURED = "measured"
NOT_RUN = "not run"
# The note of a row that --quick leaves out (a covering few are measured).
QUICK_NOTE = "not measured with --quick"
NOT_IMPLEMENTED = "not implemented"
FAILED = "failed"


@dataclasses.dataclass(frozen=True)
class Target:
  """A bound on a row's median, e.g. Target(">=", 2.5)."""
  op: str
  bound: float

  def __post_init__(self):
    if self.op not in _OPERATORS:
      raise ValueError(f"op must be one of {sorted(_OPERATORS)}, got "
                       f"{self.op!r}")

  def met(self, value: float) -> bool:
    return bool(_OPERATORS[self.op](value, self.bound))

  def __str__(self) -> str:
    return f"{self.op} {stats.fmt(self.bound)}"


@dataclasses.dataclass(frozen=True)
class Row:
  """One line of the table.

  Attributes:
    id: stable key, "<section>/<name>", e.g. "build/ratio_2_workers_pickle".
    section: the section title, e.g. "1 build".
    name: what was measured, in words.
    unit: "images/s", "MB", "x" (a ratio), ...
    value: the median and range over repeats; None when not measured.
    target: bound the median should meet, if the issue sets one.
    note: how it was measured, or why it is missing.
    status: MEASURED, NOT_RUN, NOT_IMPLEMENTED or FAILED.
  """
  id: str
  section: str
  name: str
  unit: str
  value: Optional[stats.Stat] = None
  target: Optional[Target] = None
  note: str = ""
  status: str = MEASURED

  @property
  def met(self) -> Optional[bool]:
    if self.target is None or self.value is None:
      return None
    return self.target.met(self.value.median)

  def to_dict(self) -> dict[str, Any]:
    return {
        "id": self.id, "section": self.section, "name": self.name,
        "unit": self.unit,
        "value": self.value.to_dict() if self.value else None,
        "target": str(self.target) if self.target else None,
        "met": self.met, "note": self.note, "status": self.status,
    }


@dataclasses.dataclass(frozen=True)
class Spec:
  """A row before it is measured: what it is, not what it came to."""
  id: str
  section: str
  name: str
  unit: str
  target: Optional[Target] = None

  def measured(self, value: stats.Stat, note: str = "") -> Row:
    return Row(self.id, self.section, self.name, self.unit, value,
               self.target, note, MEASURED)

  def missing(self, status: str, note: str) -> Row:
    """The row without a value (not run, not implemented or failed)."""
    return Row(self.id, self.section, self.name, self.unit, None,
               self.target, note, status)


def rows_of(specs: list[Spec], values: dict[str, tuple]) -> list[Row]:
  """Each spec measured from values[its id after "section/"] = (Stat,
  note), or not run with QUICK_NOTE where --quick left it out."""
  rows = []
  for spec in specs:
    value = values.get(spec.id.split("/", 1)[1])
    rows.append(spec.measured(*value) if value else
                spec.missing(NOT_RUN, QUICK_NOTE))
  return rows


_HEADER = ("section", "measurement", "median", "min", "max", "unit", "target",
           "met", "note")


def _cells(row: Row) -> tuple[str, ...]:
  if row.value is None:
    median = low = high = ""
    met = row.status
  else:
    median = stats.fmt(row.value.median)
    low, high = stats.fmt(row.value.low), stats.fmt(row.value.high)
    met = {None: "", True: "yes", False: "MISSED"}[row.met]
  return (row.section, row.name, median, low, high, row.unit,
          str(row.target) if row.target else "", met, row.note)


def to_text(rows: list[Row], max_note: int = 60) -> str:
  """A fixed-width table for the terminal (notes cut at max_note chars)."""
  lines = [_HEADER] + [
      tuple(c if i != 8 or len(c) <= max_note else c[:max_note - 3] + "..."
            for i, c in enumerate(_cells(r))) for r in rows]
  widths = [max(len(line[i]) for line in lines) for i in range(len(_HEADER))]
  numeric = {2, 3, 4}

  def render(line):
    return "  ".join(cell.rjust(w) if i in numeric else cell.ljust(w)
                     for i, (cell, w) in enumerate(zip(line, widths))).rstrip()

  out = [render(lines[0]), "  ".join("-" * w for w in widths)]
  out += [render(line) for line in lines[1:]]
  return "\n".join(out)


def _md_escape(text: str) -> str:
  return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(rows: list[Row], meta: dict[str, Any]) -> str:
  """The table in Markdown, under a short header naming the run."""
  out = ["# pneumonia-tfds benchmark", ""]
  for key in ("command", "mode", "started", "wall_seconds",
              "section_seconds", "load_average_1_5_15min", "machine",
              "versions"):
    if key in meta:
      value = meta[key]
      if isinstance(value, (dict, list)):
        value = json.dumps(value)
      out.append(f"- {key}: {_md_escape(str(value))}")
  out += ["", "Each figure: median [min-max] over the repeats named in its "
          "note. Ratios are computed per repeat from figures measured back to "
          "back, then summarized.", ""]
  out.append("| " + " | ".join(_HEADER) + " |")
  out.append("|" + "|".join(["---"] * len(_HEADER)) + "|")
  for row in rows:
    out.append("| " + " | ".join(_md_escape(c) for c in _cells(row)) + " |")
  return "\n".join(out) + "\n"


def to_json(rows: list[Row], meta: dict[str, Any]) -> str:
  return json.dumps({"meta": meta, "rows": [r.to_dict() for r in rows]},
                    indent=2, sort_keys=False) + "\n"
