"""Comparing the engine's numbers with a reference (PyTorch's, or central differences).

One rule for both checks, torch.isclose's: |value - reference| <= atol + rtol * |reference|.
Arrays are compared element by element: close when every element is (and the shapes agree),
their relative error the largest of their elements'.
"""

from __future__ import annotations

import math
from typing import Any


def _is_array(x: Any) -> bool:
    return getattr(x, "ndim", 0) > 0


def close(value: Any, reference: Any, *, rtol: float, atol: float) -> bool:
    """torch.isclose's rule, the reference's magnitude setting the relative tolerance."""
    if reference is None:
        return False
    if _is_array(value) or _is_array(reference):
        import numpy as np

        v, r = np.asarray(value, dtype=float), np.asarray(reference, dtype=float)
        return v.shape == r.shape and bool(np.isfinite(r).all()) and bool(
            (np.abs(v - r) <= atol + rtol * np.abs(r)).all())
    if not math.isfinite(reference):
        return False
    # (bool: a 0-d array's comparison is numpy's bool, which JSON cannot write)
    return bool(abs(value - reference) <= atol + rtol * abs(reference))


def relative_error(value: Any, reference: Any) -> float:
    """|value - reference| / max(|value|, |reference|): 0 when equal, at most 2, inf without a
    finite reference (for arrays, the largest over the elements)."""
    if reference is None:
        return math.inf
    if _is_array(value) or _is_array(reference):
        import numpy as np

        v, r = np.asarray(value, dtype=float), np.asarray(reference, dtype=float)
        if v.shape != r.shape or not np.isfinite(r).all():
            return math.inf
        diff = np.abs(v - r)
        scale = np.maximum(np.abs(v), np.abs(r))
        errors = np.divide(diff, scale, out=np.zeros_like(diff), where=diff != 0)
        return float(errors.max(initial=0.0))
    if not math.isfinite(reference):
        return math.inf
    diff = abs(value - reference)
    return 0.0 if diff == 0 else float(diff / max(abs(value), abs(reference)))


def finite_or_none(x: Any) -> Any:
    """A number for JSON, which has no NaN or Infinity: None where it is not finite; an array
    as nested lists, each element so."""
    if _is_array(x):
        return _finite_items(x.tolist())
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _finite_items(items: Any) -> Any:
    if isinstance(items, list):
        return [_finite_items(item) for item in items]
    return items if math.isfinite(items) else None
