"""Did the operating point carry over from the split it was chosen on?

A threshold chosen on validation gives a sensitivity and a specificity
there, with bootstrap intervals (thresholds.with_intervals). When the
reported split's figure at that threshold falls outside validation's
interval, the images differ from validation's in a way the model notices:
another period, site or scanner, or another pixel path (how an image
reached its size and codec). The report says so beside the numbers.
"""

from typing import Any, Mapping, Optional

RATES = ("sensitivity", "specificity")


def _side(value: Optional[float], interval) -> Optional[str]:
  if value is None or interval is None:
    return None
  low, high = interval
  if value < low:
    return "below"
  if value > high:
    return "above"
  return None


def check(choice: Mapping[str, Any],
          overall: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
  """Compares the reported split's rates with the choosing split's.

  Args:
    choice: thresholds.Choice.to_dict() (with sensitivity_ci and
      specificity_ci; without them nothing can be said).
    overall: the reported split's metrics (name -> {"value", ...}).

  Returns:
    {"shifted": bool, "compared": bool, "rates": {name: {"value",
     "reference", "reference_ci", "side": "below" | "above" | None}}}.
  """
  rates, compared = {}, False
  for name in RATES:
    interval = choice.get(f"{name}_ci")
    value = overall[name]["value"]
    compared = compared or interval is not None
    rates[name] = {"value": value, "reference": choice.get(name),
                   "reference_ci": None if interval is None else list(interval),
                   "side": _side(value, interval)}
  return {"shifted": any(r["side"] for r in rates.values()),
          "compared": compared, "rates": rates}
