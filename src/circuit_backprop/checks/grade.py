"""Grading a learner's backward pass: each answered gradient against the engine's, and for a
wrong one, *which step* went wrong and *why*.

The first wrong step: every statement of the answer is evaluated twice, once with the learner's
own gradients (what they wrote), once with the right value in place of every other gradient it
reads. A gradient that is wrong, but right given its inputs, only follows from an earlier
mistake ("follows from your dq, which is wrong"): the first mistake alone is blamed.

A gradient wrong given right inputs is its own mistake, and is explained when a common one fits
the number (cs231n's and makemore's usual suspects), tried in this order:

- transpose: an array with the transposed shape, or the transposed values;
- broadcast: the shape the input was broadcast to, not summed back to the input's;
- axis: the upstream gradient summed over the wrong axis;
- sign: the value with the opposite sign;
- fork: at a fork, `=` where `+=` was needed (one branch's contribution, or some of them);
- upstream: the local gradient alone, the upstream gradient left out of the chain rule;
- factor: a constant factor off (the ratio is reported);
- other: none of these.

Values are compared as the other checks compare (checks/compare.py, the numeric check's
tolerances), element by element for arrays; the reported error is cs231n's rel_error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from circuit_backprop.checks.compare import close
from circuit_backprop.checks.options import NUMERIC_ATOL, NUMERIC_RTOL
from circuit_backprop.core.arrays import ShapeError
from circuit_backprop.core.graph import Graph, answer_names
from circuit_backprop.core.ops import CONST, INPUT
from circuit_backprop.core.rules import apply
from circuit_backprop.core.trace import Trace

DIAGNOSES = ("follows", "fork", "upstream", "sign", "factor", "transpose", "broadcast", "axis",
             "other")
MAX_FORK_SUBSETS = 6  # contributions at a fork tried in every proper subset up to this many


@dataclass
class GradeRow:
    """One answered gradient."""

    gradient: str  # "dx"
    of: str  # "x"
    given: Any  # the learner's value (a float or an array; None where it could not be computed)
    expected: Any
    ok: bool
    rel_error: float  # cs231n's rel_error, the largest over the elements
    line: int  # of the statement that last set it
    column: int
    diagnosis: str | None = None  # one of DIAGNOSES for a wrong gradient, else None
    detail: str = ""  # the diagnosis in words
    culprits: list[str] = field(default_factory=list)  # for "follows": the wrong ones it read
    error: str | None = None  # a math error in the learner's expression


@dataclass
class Grade:
    rows: list[GradeRow]
    points: float = 1.0  # per gradient

    @property
    def first_wrong(self) -> str | None:
        """The first gradient, in the learner's order, that is wrong on its own."""
        return next((r.gradient for r in self.rows if not r.ok and r.diagnosis != "follows"),
                    None)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    @property
    def score(self) -> float:
        return self.points * sum(r.ok for r in self.rows)

    @property
    def max_score(self) -> float:
        return self.points * len(self.rows)


def rel_error(x: Any, y: Any) -> float:
    """cs231n's: max |x - y| / max(1e-8, |x| + |y|), over the elements."""
    import numpy as np

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape:
        return math.inf
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return math.inf
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y)), initial=0.0))


def agrees(x: Any, y: Any) -> bool:
    import numpy as np

    if x is None or np.shape(x) != np.shape(y):
        return False
    return close(x, y, rtol=NUMERIC_RTOL, atol=NUMERIC_ATOL)


def evaluate(graph: Graph, values: dict[str, Any], overrides: dict[int, Any]) -> list[Any]:
    """Every node of the answer's graph, its inputs the forward pass's values; a node in
    `overrides` takes that value instead (the right gradient, for the step analysis). A math
    error that raises (a shape that does not fit) makes the node, and what reads it, None; a
    value that is not finite is kept (finite_or_none judges the gradients)."""
    import numpy as np

    out: list[Any] = []
    input_of = {node: name for name, node in graph.inputs.items()}
    with np.errstate(all="ignore"):
        for node, (kind, args) in enumerate(zip(graph.ops, graph.args, strict=True)):
            if node in overrides:
                out.append(overrides[node])
            elif kind == INPUT:
                out.append(values[input_of[node]])
            elif kind == CONST:
                out.append(graph.constant(node))
            else:
                xs = [out[i] for i in args]
                if any(x is None for x in xs):
                    out.append(None)
                    continue
                op = graph.op(node)
                if not op.elementwise:  # (sum, @, reshape and the rest take arrays)
                    xs = [np.asarray(x, dtype=np.float64) for x in xs]
                try:
                    value = _forward(op, xs, graph.params.get(node, ()))
                except (ValueError, ZeroDivisionError, OverflowError, ShapeError, TypeError,
                        IndexError):  # (a right gradient in place of a wrong one may not fit)
                    out.append(None)
                    continue
                out.append(value)
    return out


def _forward(op: Any, xs: list[Any], params: tuple[int, ...]) -> Any:
    """The op's value; where math refuses on numbers (log(0)), NumPy's inf or NaN, as the
    engines' rules give it (a branch of where that is not taken drops it)."""
    try:
        return op.forward(xs, params)
    except (ValueError, ZeroDivisionError, OverflowError):
        if not op.elementwise or any(getattr(x, "ndim", 0) for x in xs):
            raise
        return apply(op, xs)


def finite_or_none(value: Any) -> Any:
    """A node's value where every element is a finite number, else None (a math error). Only
    the gradients are judged: a NaN inside an expression may be dropped by it, as a branch of
    where that is not taken (pow's rule at a zero base)."""
    import numpy as np

    return value if value is not None and np.isfinite(value).all() else None


def check_shapes(graph: Graph, values: dict[str, Any]) -> None:
    """The answer's own shapes, from the forward values it reads: an expression whose shapes
    do not fit (q[1, 2] of a number, a @ of vectors that differ) is a shape error at its
    line:column, as in a circuit (it was a TypeError or an IndexError from numpy)."""
    import numpy as np

    from circuit_backprop.core.shapes import infer
    from circuit_backprop.core.tensor import shape_error

    try:
        infer(graph, {name: tuple(np.shape(values[name])) for name in graph.inputs})
    except ShapeError as err:
        raise shape_error(graph, err.node, str(err)) from None  # type: ignore[attr-defined]


def grade(answers: Any, trace: Trace, points: float = 1.0) -> Grade:
    """Grade an answer (lang/answers.py) against a run's gradients (a backward pass)."""
    graph = trace.graph
    named = answer_names(graph)
    values = {name: trace.values[n] for name, n in named.items()}
    right = {f"d{name}": trace.grads[n] for name, n in named.items()}
    agraph = answers.graph
    check_shapes(agraph, values)
    mine = evaluate(agraph, values, {})
    wrong: set[str] = set()
    rows = []
    for gradient in answers.gradients:
        node = answers.final_node(gradient)
        steps = [s for s in answers.steps if s.gradient == gradient]
        given, expected = finite_or_none(mine[node]), right[gradient]
        row = GradeRow(gradient, gradient[1:], given, expected, agrees(given, expected),
                       rel_error(given, expected) if given is not None else math.inf,
                       steps[-1].line, steps[-1].column)
        rows.append(row)
        if row.ok:
            continue
        wrong.add(gradient)
        if given is None:
            row.error = "a math error in this expression (not a finite number)"
        others = {s.node: right[s.gradient] for s in answers.steps if s.gradient != gradient}
        alone = finite_or_none(evaluate(agraph, values, others)[node])  # with right inputs
        read = [g for s in steps for g in s.reads if g != gradient]
        if alone is not None and agrees(alone, expected):
            row.diagnosis = "follows"
            row.culprits = [g for g in dict.fromkeys(read) if g in wrong]
            many = len(row.culprits) > 1
            row.detail = (f"from your {', '.join(row.culprits) or 'earlier gradients'}, which "
                          f"{'are' if many else 'is'} wrong (this step is right given "
                          f"{'them' if many else 'it'})")
            continue
        row.diagnosis, row.detail = diagnose(trace, named[row.of], alone, expected)
    return Grade(rows, points)


def _named(graph: Graph) -> list[int]:
    from circuit_backprop.core.graph import summary_nodes

    return summary_nodes(graph)


def diagnose(trace: Trace, node: int, value: Any, expected: Any) -> tuple[str, str]:
    """Which common mistake explains `value` (the learner's, given right inputs)."""
    import numpy as np

    if value is None:
        return "other", "not a finite number"
    value, expected = np.asarray(value, dtype=float), np.asarray(expected, dtype=float)
    graph = trace.graph
    parts = trace.contributions({node})[node]  # (consumer gate, gradient it sent back)
    if value.shape != expected.shape:
        if value.shape == expected.T.shape and agrees(value.T, expected):
            return "transpose", (f"the transpose: shape {value.shape}, the input's is "
                                 f"{expected.shape}")
        if expected.ndim and _summed_back(value, expected.shape, expected):
            return "broadcast", (f"shape {value.shape}, the broadcast one: sum it back to the "
                                 f"input's shape {expected.shape}")
        for gate, _ in parts:
            upstream = np.asarray(trace.grads[gate])
            for axis in range(upstream.ndim):
                if upstream.sum(axis=axis).shape == value.shape and agrees(
                        upstream.sum(axis=axis), value):
                    return "axis", f"summed over axis {axis}: the broadcast axes are others"
        return "other", f"shape {value.shape}, the input's is {expected.shape}"
    if value.ndim == 2 and value.shape[0] == value.shape[1] and not agrees(value, expected) and (
            agrees(value.T, expected)):
        return "transpose", "the transposed values"
    if agrees(value, -expected) and np.any(expected != 0):
        return "sign", "the sign is flipped"
    sent = [np.asarray(d, dtype=float) for _, d in parts]
    if len(sent) >= 2:
        for size in range(1, min(len(sent), MAX_FORK_SUBSETS)):
            for subset in combinations(range(len(sent)), size):
                if agrees(value, sum(sent[i] for i in subset)):
                    names = ", ".join(graph.label(parts[i][0]) for i in subset)
                    return "fork", (f"only the gradient from {names}, of {len(sent)} at this "
                                    "fork: use += to add the others")
    locals_ = _locals(trace, node, parts)
    if locals_ is not None and agrees(value, locals_):
        return "upstream", "the local gradient alone: multiply by the upstream gradient"
    ratio = _constant_ratio(value, expected)
    if ratio is not None:
        return "factor", f"off by a factor of {ratio:.6g}"
    return "other", ""


def _summed_back(value: Any, shape: tuple[int, ...], expected: Any) -> bool:
    import numpy as np

    from circuit_backprop.core.arrays import sum_to_shape

    try:
        if np.broadcast_shapes(value.shape, shape) != value.shape:
            return False
    except ValueError:
        return False
    return agrees(sum_to_shape(value, shape), expected)


def _locals(trace: Trace, node: int, parts: list[tuple[int, Any]]) -> Any:
    """The local gradients of the gates the node feeds, with respect to it, added up (summed
    back to its shape): what the chain rule gives without the upstream gradients."""
    import numpy as np

    from circuit_backprop.core.arrays import sum_to_shape

    graph = trace.graph
    total = 0.0
    for gate, _ in {gate: None for gate, _ in parts}.items():
        local = trace.local[gate]
        if local is None:
            return None
        for k, i in enumerate(graph.args[gate]):
            if i != node:
                continue
            if local[k] is None:
                return None
            d = np.asarray(local[k], dtype=float)
            total = total + sum_to_shape(np.broadcast_to(d, np.shape(trace.values[gate])),
                                         np.shape(trace.values[node]))
    return total


def _constant_ratio(value: Any, expected: Any) -> float | None:
    """value / expected where it is one number other than 1 on every element (a scalar's must
    be a simple one: an integer or its inverse, up to 10, or their negatives)."""
    import numpy as np

    mask = expected != 0
    if not mask.any() or not np.all(value[~mask] == 0):
        return None
    ratios = value[mask] / expected[mask]
    r = float(ratios.flat[0])
    if not math.isfinite(r) or r == 0 or abs(r - 1) < 1e-6 or not np.allclose(ratios, r):
        return None
    if expected.size > 1:
        return r
    simple = [k for n in range(2, 11) for k in (n, 1 / n, -n, -1 / n)]
    return r if any(abs(r - k) <= 1e-6 * abs(k) for k in simple) else None
