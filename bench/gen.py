"""Generate large circuits for the benchmarks and the scale tests.

    python bench/gen.py wide 1000000 > big_wide.circ    # a wide random DAG of +, *, tanh with forks
    python bench/gen.py chain 1000000 > big_chain.circ  # a 1M-deep chain
"""

from __future__ import annotations

import random
import sys


def wide(gates: int, seed: int = 0, inputs: int = 100) -> str:
    """Statements `vK = tanh(a * b + c)` (3 gates each) over earlier names: many forks."""
    rng = random.Random(seed)
    lines = [f"input a{i} = {rng.uniform(-1, 1):.6f}" for i in range(inputs)]
    names = [f"a{i}" for i in range(inputs)]
    statements = max(1, gates // 3)
    for k in range(statements):
        # any earlier name, uniformly: a wide DAG (depth grows like log n) where names fork often
        pick = [names[int(rng.random() * len(names))] for _ in range(3)]
        lines.append(f"v{k} = tanh({pick[0]} * {pick[1]} + {pick[2]})")
        names.append(f"v{k}")
    lines.append(f"output v{statements - 1}")
    return "\n".join(lines) + "\n"


def chain(gates: int) -> str:
    """A chain: each statement one gate on the previous one, alternating ops that stay bounded."""
    lines = ["input x = 0.5", "v0 = tanh(x)"]
    for k in range(1, gates):
        prev = f"v{k - 1}"
        expr = (f"tanh({prev})", f"{prev} * 1.5", f"{prev} + x", f"sin({prev})")[k % 4]
        lines.append(f"v{k} = {expr}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("wide", "chain") or not sys.argv[2].isdigit():
        sys.exit("usage: python bench/gen.py wide|chain GATES > FILE.circ")
    kind, n = sys.argv[1], int(sys.argv[2])
    sys.stdout.write(wide(n) if kind == "wide" else chain(n))
