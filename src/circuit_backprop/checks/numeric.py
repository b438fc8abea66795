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

from circuit_backprop.checks.compare import close, relative_error
from circuit_backprop.checks.options import NUMERIC_ATOL, NUMERIC_EPS, NUMERIC_RTOL
from circuit_backprop.core.engine import Trace, output_with
from circuit_backprop.core.graph import summary_nodes
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


@dataclass
class NumericCheck:
    eps: float
    atol: float
    rtol: float
    nodes: list[NodeCheck] = field(default_factory=list)

    @property
    def failing(self) -> list[NodeCheck]:
        return [c for c in self.nodes if c.status == MISMATCH]

    @property
    def ok(self) -> bool:
        return not self.failing

    @property
    def max_rel_error(self) -> float:
        errors = [c.rel_error for c in self.nodes
                  if c.rel_error is not None and c.status in (OK, MISMATCH)]
        return max(errors, default=0.0)


def check(trace: Trace, eps: float = NUMERIC_EPS, atol: float = NUMERIC_ATOL,
          rtol: float = NUMERIC_RTOL) -> NumericCheck:
    """Check ∂f/∂node for every input and named gate. `trace` needs its backward pass."""
    assert trace.grads is not None
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


def _between(x: float, bounds: tuple[float, float], atol: float, rtol: float) -> bool:
    lo, hi = min(bounds), max(bounds)
    tol = atol + rtol * max(abs(lo), abs(hi))
    return lo - tol <= x <= hi + tol


def tolerance_used(result: NumericCheck, c: NodeCheck) -> float:
    """|analytic - numeric| as a fraction of what the pass rule allows, atol + rtol·|numeric|:
    at most 1 passes, above 1 fails (inf where there is no numeric value)."""
    if c.numeric is None or not math.isfinite(c.numeric):
        return math.inf
    return abs(c.analytic - c.numeric) / (result.atol + result.rtol * abs(c.numeric))


def failure(result: NumericCheck, trace: Trace) -> NumericMismatch | None:
    if result.ok:
        return None
    graph = trace.graph
    rows = [f"{graph.label(c.node)}: analytic {c.analytic!r}, numeric {c.numeric!r}"
            for c in result.failing]
    return NumericMismatch(
        "the analytic gradient disagrees with central differences on "
        + ", ".join(graph.label(c.node) for c in result.failing),
        rows + ["a local gradient is wrong somewhere downstream of these nodes; if this is "
                "rounding, loosen --numeric-atol/--numeric-rtol or change --eps"],
    )
