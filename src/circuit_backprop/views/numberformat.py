"""How the views write numbers: one small object, made once from the user's --precision.

Every table, drawing, walkthrough and plot takes a `NumberFormat` and asks it for the text of a
value (`value`), of a term in a sum (`term`, `sum_of`); none of them formats a number itself.
What a view shows of a value is decided here, in one place: when values become arrays, `value`
is where an array's text (the whole array, or its shape and a few statistics) will be chosen.

The views' entry points (what the API and the CLI call) also take a bare int, the precision, as
they did before this object existed; `as_number_format` turns either into the object.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from circuit_backprop.core.arrays import show

DEFAULT_PRECISION = 6  # significant digits in tables
DRAWING_PRECISION = 4  # significant digits on a drawing's wires, where room is short
MISSING = "—"  # the text of a number that is not there (no gradient on a constant wire)


ARRAY_LIMIT = 12  # arrays with more elements show as their shape and statistics (--full: all)
ARRAY_WIDTH = 40  # ... and so do arrays whose rows would be wider: a table fits 80 columns


@dataclass(frozen=True)
class NumberFormat:
    """How many significant digits a view writes, and how it writes a value with them: a number,
    or an array (in full up to `array_limit` elements and `array_width` characters a row, else
    its shape and min/max/mean/norm)."""

    precision: int = DEFAULT_PRECISION
    array_limit: float = ARRAY_LIMIT
    array_width: float = ARRAY_WIDTH

    def value(self, value: Any) -> str:
        """A value with `precision` significant digits; -0 shows as 0, a missing one as —."""
        if value is None:
            return MISSING
        if getattr(value, "ndim", 0):
            return self.array(value)
        value = float(value)
        if value == 0:
            value = 0.0
        return f"{value:.{self.precision}g}"

    def array(self, array: Any) -> str:
        """An array as NumPy writes it (one row a line), or, above `array_limit` elements, its
        shape and statistics on three lines."""
        import numpy as np

        if array.size <= self.array_limit:
            width = max((len(self.value(x)) for x in array.flat), default=0)
            text = np.array2string(array, separator=", ", threshold=array.size + 1,
                                   max_line_width=10**6,
                                   formatter={"all": lambda x: self.value(x).rjust(width)})
            if max(len(line) for line in text.split("\n")) <= self.array_width:
                return text
        v = self.value
        return (f"shape {show(array.shape)}\nmin {v(array.min())}  max {v(array.max())}\n"
                f"mean {v(array.mean())}\nnorm {v(np.linalg.norm(array))}")

    def term(self, value: float) -> str:
        """A value as a term in a sum: negatives in parentheses, as in 1.5 + (-0.25)."""
        text = self.value(value)
        return f"({text})" if text.startswith("-") else text

    def sum_of(self, values: Iterable[float]) -> str:
        """The values written as a sum: 1.5 + (-0.25) + 2."""
        return " + ".join(self.term(v) for v in values)

    def at_most(self, digits: int) -> NumberFormat:
        """This format with no more than `digits` significant digits (where room is short)."""
        return replace(self, precision=min(self.precision, digits))


DEFAULT_FORMAT = NumberFormat()
ERROR_FORMAT = NumberFormat(precision=3)
"""Differences and errors between two numbers: three digits say how far apart they are,
whatever the precision the numbers themselves are shown with."""

FormatOrPrecision = NumberFormat | int


def as_number_format(number_format: FormatOrPrecision) -> NumberFormat:
    """The format an entry point was given, or one with the precision it was given."""
    if isinstance(number_format, NumberFormat):
        return number_format
    return NumberFormat(precision=number_format)


def fmt(value: float | None, precision: int = DEFAULT_PRECISION) -> str:
    """`NumberFormat(precision).value(value)`, under the name the views used before it."""
    return NumberFormat(precision).value(value)
