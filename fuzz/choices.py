"""Where a generator's decisions come from: hypothesis (CI: shrinking, a reproducible search)
or a seeded `random.Random` (the long run: a hundred times cheaper per decision).

Every generator takes a `Chooser` and nothing else random, so the same code serves both; the
simplest choice comes first in every list (hypothesis shrinks towards it).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Chooser(Protocol):
    """The decisions a generator may make."""

    def integer(self, lo: int, hi: int) -> int:
        """An integer in [lo, hi]."""

    def pick(self, items: Sequence[T]) -> T:
        """One of the items (the first is the simplest)."""

    def coin(self, p: float = 0.5) -> bool:
        """True with probability about p."""

    def real(self, lo: float, hi: float) -> float:
        """A float in [lo, hi]."""


class RandomChooser:
    """Decisions from a seeded `random.Random`."""

    def __init__(self, seed: int | str) -> None:
        self.rng = random.Random(seed)

    def integer(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def pick(self, items: Sequence[T]) -> T:
        return items[self.rng.randrange(len(items))]

    def coin(self, p: float = 0.5) -> bool:
        return self.rng.random() < p

    def real(self, lo: float, hi: float) -> float:
        return self.rng.uniform(lo, hi)


class DrawChooser:
    """Decisions drawn from hypothesis (`draw` of a @composite strategy or `data.draw`)."""

    def __init__(self, draw: Callable[[Any], Any]) -> None:
        from hypothesis import strategies as st

        self.draw = draw
        self.st = st

    def integer(self, lo: int, hi: int) -> int:
        return self.draw(self.st.integers(lo, hi))

    def pick(self, items: Sequence[T]) -> T:
        return items[self.draw(self.st.integers(0, len(items) - 1))]

    def coin(self, p: float = 0.5) -> bool:
        # 0 (False) is the simplest: it shrinks towards leaving a feature out
        return self.draw(self.st.integers(0, 999)) >= round(1000 * (1 - p))

    def real(self, lo: float, hi: float) -> float:
        return self.draw(self.st.floats(lo, hi, allow_nan=False, allow_infinity=False))


def weighted(ch: Chooser, table: Sequence[tuple[int, T]]) -> T:
    """One item of (weight, item) pairs, by weight (the first shrinks best)."""
    total = sum(w for w, _ in table)
    k = ch.integer(0, total - 1)
    for w, item in table:
        if k < w:
            return item
        k -= w
    return table[-1][1]
