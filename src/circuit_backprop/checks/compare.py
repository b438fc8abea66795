"""Comparing the engine's numbers with a reference (PyTorch's, or central differences).

One rule for both checks, torch.isclose's: |value - reference| <= atol + rtol * |reference|.
"""

from __future__ import annotations

import math


def close(value: float, reference: float | None, *, rtol: float, atol: float) -> bool:
    """torch.isclose's rule, the reference's magnitude setting the relative tolerance."""
    if reference is None or not math.isfinite(reference):
        return False
    return abs(value - reference) <= atol + rtol * abs(reference)


def relative_error(value: float, reference: float | None) -> float:
    """|value - reference| / max(|value|, |reference|): 0 when equal, at most 2, inf without a
    finite reference."""
    if reference is None or not math.isfinite(reference):
        return math.inf
    diff = abs(value - reference)
    return 0.0 if diff == 0 else diff / max(abs(value), abs(reference))


def finite_or_none(x: float | None) -> float | None:
    """A number for JSON, which has no NaN or Infinity: None where it is not finite."""
    return x if x is not None and math.isfinite(x) else None
