"""--check-numeric: the engine's gradients against central differences.

For every input and every named gate n, perturb n's output value by ±eps, re-run the rest of the
circuit (only the gates downstream of n), and compare (f(v+eps) - f(v-eps)) / 2eps with the
analytic ∂f/∂n, gradcheck-style: |analytic - numeric| <= atol + rtol·|numeric|.

A gate downstream of n that sits at a kink (relu at 0, a max/min tie, abs at 0) makes f not
differentiable there: the check then also shows the one-sided differences, and an analytic value
between them (the engine follows PyTorch's choice there) is reported as explained by the kink,
not as a failure. Nothing here prints: views/numericreport.py shows the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from circuit_backprop.checks.compare import close, relative_error
from circuit_backprop.checks.options import NUMERIC_ATOL, NUMERIC_EPS, NUMERIC_RTOL
from circuit_backprop.core.engine import Trace, output_with
from circuit_backprop.core.graph import summary_nodes
from circuit_backprop.core.rules import vjp
from circuit_backprop.errors import EXIT_EVAL, CircuitError

OK, KINK, MISMATCH, UNDEFINED, CONSTANT = "ok", "kink", "mismatch", "undefined", "constant"


class NumericMismatch(CircuitError):
    """The analytic gradient disagrees with the numeric one: exit 1, like a math error."""

    exit_code = EXIT_EVAL


@dataclass
class NodeCheck:
    node: int
    analytic: float
    numeric: float | None = None  # the central difference; None where f is undefined at v±eps
    rel_error: float | None = None
    status: str = OK
    kink: str | None = None  # the note of a gate downstream that sits at a kink
    one_sided: tuple[float, float] | None = None  # (forward, backward) differences at a kink
    index: tuple[int, ...] | None = None  # in a tensor circuit: the element checked


@dataclass
class GateCheck:
    """One gate of a tensor circuit on its own (cs231n's eval_numerical_gradient_array): its VJP
    for a random upstream gradient U against central differences of sum(U ⊙ gate(inputs)),
    element by element, on one input wire. A wrong local rule is pinned to its gate."""

    node: int
    wire: int
    elements: int  # elements compared
    rel_error: float
    ok: bool


@dataclass
class NumericCheck:
    eps: float
    atol: float
    rtol: float
    nodes: list[NodeCheck] = field(default_factory=list)
    # tensor circuits: which elements of each node were checked, (checked, of how many)
    sampled: dict[int, tuple[int, int]] = field(default_factory=dict)
    gates: list[GateCheck] = field(default_factory=list)

    @property
    def failing(self) -> list[NodeCheck]:
        return [c for c in self.nodes if c.status == MISMATCH]

    @property
    def failing_gates(self) -> list[GateCheck]:
        return [g for g in self.gates if not g.ok]

    @property
    def ok(self) -> bool:
        return not self.failing and not self.failing_gates

    @property
    def max_rel_error(self) -> float:
        errors = [c.rel_error for c in self.nodes
                  if c.rel_error is not None and c.status in (OK, MISMATCH)]
        return max(errors, default=0.0)


def check(trace: Trace, eps: float = NUMERIC_EPS, atol: float = NUMERIC_ATOL,
          rtol: float = NUMERIC_RTOL) -> NumericCheck:
    """Check ∂f/∂node for every input and named gate. `trace` needs its backward pass."""
    assert trace.grads is not None
    if getattr(trace, "shapes", None):
        return _check_tensors(trace, eps, atol, rtol)
    graph = trace.graph
    result = NumericCheck(eps, atol, rtol)
    kinks = {i: note for i in range(len(graph)) if (note := trace.kink(i))}
    f0 = trace.output_value
    for node in summary_nodes(graph):
        c = NodeCheck(node, trace.grads[node])
        result.nodes.append(c)
        if not trace.depends[node]:
            c.status = CONSTANT  # a constant wire carries no gradient, by design
            continue
        v = trace.values[node]
        plus, downstream = output_with(trace, node, v + eps)
        minus, _ = output_with(trace, node, v - eps)
        c.kink = next((kinks[i] for i in downstream if i in kinks), None)
        if plus is None or minus is None:
            c.status = UNDEFINED
            continue
        c.numeric = (plus - minus) / (2 * eps)
        c.rel_error = relative_error(c.analytic, c.numeric)
        if c.kink is not None:
            c.one_sided = ((plus - f0) / eps, (f0 - minus) / eps)
        if close(c.analytic, c.numeric, rtol=rtol, atol=atol):
            c.status = OK
        elif c.one_sided is not None and _between(c.analytic, c.one_sided, atol, rtol):
            c.status = KINK
        else:
            c.status = MISMATCH
    return result


SAMPLED_ELEMENTS = 10  # per node of a tensor circuit, above this many (grad_check_sparse)
SEED = 0  # the elements sampled, and the gates' random upstream gradients, are the same each run


def _check_tensors(trace: Any, eps: float, atol: float, rtol: float) -> NumericCheck:
    """Central differences element by element, on every input and named gate (a sample of
    SAMPLED_ELEMENTS elements of a larger one, as cs231n's grad_check_sparse), then each gate on
    its own against a random upstream gradient."""
    import numpy as np

    from circuit_backprop.core.tensor import output_with as tensor_output_with

    graph = trace.graph
    result = NumericCheck(eps, atol, rtol)
    rng = np.random.default_rng(SEED)
    for node in summary_nodes(graph):
        value, grad = trace.values[node], trace.grads[node]
        indices = _sampled_indices(value.shape, rng)
        result.sampled[node] = (len(indices), max(value.size, 1))
        for index in indices:
            c = NodeCheck(node, float(grad[index]), index=index if value.ndim else None)
            result.nodes.append(c)
            if not trace.depends[node]:
                c.status = CONSTANT
                continue
            nudged = value.copy()
            nudged[index] += eps
            plus, _ = tensor_output_with(trace, node, nudged)
            nudged[index] -= 2 * eps
            minus, _ = tensor_output_with(trace, node, nudged)
            if plus is None or minus is None:
                c.status = UNDEFINED
                continue
            c.numeric = float(plus - minus) / (2 * eps)
            c.rel_error = relative_error(c.analytic, c.numeric)
            c.status = OK if close(c.analytic, c.numeric, rtol=rtol, atol=atol) else MISMATCH
    for node in range(len(graph)):
        if graph.is_gate(node) and trace.depends[node]:
            result.gates += _gate_checks(trace, node, eps, atol, rtol, rng)
    return result


def _sampled_indices(shape: tuple[int, ...], rng: Any) -> list[tuple[int, ...]]:
    import numpy as np

    size = int(np.prod(shape))
    flat = range(size) if size <= SAMPLED_ELEMENTS else sorted(
        rng.choice(size, SAMPLED_ELEMENTS, replace=False).tolist())
    return [tuple(int(i) for i in np.unravel_index(k, shape)) for k in flat]


def _gate_checks(trace: Any, node: int, eps: float, atol: float, rtol: float,
                 rng: Any) -> list[GateCheck]:
    import numpy as np

    graph = trace.graph
    op = graph.op(node)
    params = graph.params.get(node, ())
    xs = [trace.values[i] for i in graph.args[node]]
    out = trace.values[node]
    upstream = rng.normal(size=out.shape)
    needs = [bool(trace.depends[i]) and op.grad[k] is not None
             for k, i in enumerate(graph.args[node])]
    try:
        analytic = vjp(op, upstream, xs, out, needs, params)
    except (ValueError, ZeroDivisionError, OverflowError):
        return []
    checks = []
    with np.errstate(all="ignore"):
        for k, x in enumerate(xs):
            if not needs[k] or analytic[k] is None:
                continue
            errors, ok = [], True
            for index in _sampled_indices(x.shape, rng):
                numeric = _nudged(op, xs, params, upstream, k, index, eps)
                if numeric is None:
                    continue  # (a step of eps leaves the op's domain: no difference there)
                mine = float(np.asarray(analytic[k])[index])
                errors.append(relative_error(mine, numeric))
                ok = ok and close(mine, numeric, rtol=rtol, atol=atol)
            if errors:
                checks.append(GateCheck(node, k, len(errors), max(errors), ok))
    return checks


def _nudged(op: Any, xs: list[Any], params: tuple[int, ...], upstream: Any, k: int,
            index: tuple[int, ...], eps: float) -> float | None:
    """The central difference of upstream · op(xs) along element `index` of input k; None
    where a step of eps leaves the op's domain (log of a negative, an overflow)."""
    nudged = [v.copy() for v in xs]
    sides = []
    for step in (eps, -2 * eps):
        nudged[k][index] += step
        try:
            sides.append(float((upstream * op.forward(nudged, params)).sum()))
        except (ValueError, ZeroDivisionError, OverflowError):
            return None
    numeric = (sides[0] - sides[1]) / (2 * eps)
    return numeric if math.isfinite(numeric) else None


def _between(x: float, bounds: tuple[float, float], atol: float, rtol: float) -> bool:
    lo, hi = min(bounds), max(bounds)
    tol = atol + rtol * max(abs(lo), abs(hi))
    return lo - tol <= x <= hi + tol


def tolerance_used(result: NumericCheck, c: NodeCheck) -> float:
    """|analytic - numeric| as a fraction of what the pass rule allows, atol + rtol·|numeric|:
    at most 1 passes, above 1 fails (inf where there is no numeric value)."""
    if c.numeric is None or not math.isfinite(c.numeric):
        return math.inf
    diff = abs(c.analytic - c.numeric)
    allowed = result.atol + result.rtol * abs(c.numeric)
    if allowed == 0:  # (--numeric-atol 0 and a numeric 0, or both tolerances 0)
        return 0.0 if diff == 0 else math.inf
    return diff / allowed


def failure(result: NumericCheck, trace: Trace) -> NumericMismatch | None:
    if result.ok:
        return None
    graph = trace.graph
    rows = [f"{label(graph, c)}: analytic {c.analytic!r}, numeric {c.numeric!r}"
            for c in result.failing]
    rows += [f"gate {graph.label(g.node)} ({graph.source(g.node)}), input {g.wire + 1}: its VJP "
             f"is off by a relative {g.rel_error:.3g}" for g in result.failing_gates]
    names = [label(graph, c) for c in result.failing]
    names += [f"gate {graph.label(g.node)}" for g in result.failing_gates]
    return NumericMismatch(
        "the analytic gradient disagrees with central differences on " + ", ".join(names),
        rows + ["a local gradient is wrong somewhere downstream of these nodes; if this is "
                "rounding, loosen --numeric-atol/--numeric-rtol or change --eps"],
    )


def label(graph: Any, c: NodeCheck) -> str:
    """A checked node's name, with the element's index in a tensor circuit: W[1, 2]."""
    name = graph.label(c.node)
    return name if c.index is None else f"{name}[{', '.join(map(str, c.index))}]"
