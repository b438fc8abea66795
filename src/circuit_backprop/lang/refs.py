"""What every grammar rule hands the next: a node and the span of source text it came from."""

from __future__ import annotations

from typing import Any, NamedTuple


class Ref(NamedTuple):
    node: int
    start: int
    end: int


def make_ref(node: int, start: int, end: int, _new: Any = tuple.__new__) -> Ref:
    """Ref(node, start, end), made without NamedTuple's Python-level __new__ (a hot path)."""
    return _new(Ref, (node, start, end))
