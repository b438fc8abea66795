"""--check-numeric: the engine's gradients against central differences.

For every input and every named gate n, perturb n's output value by ±eps, re-run the rest of the
circuit (only the gates downstream of n), and compare (f(v+eps) - f(v-eps)) / 2eps with the
analytic ∂f/∂n, gradcheck-style: |analytic - numeric| <= atol + rtol·|numeric|.

A gate downstream of n that sits at a kink (relu at 0, a max/min tie, abs at 0) makes f not
differentiable there: the check then also shows the one-sided differences, and an analytic value
between them (the engine follows PyTorch's choice there) is reported as explained by the kink,
not as a failure. Nothing here prints: `emit` at the end is the command line's entry point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from circuit_backprop.checks.compare import close, finite_or_none, relative_error
from circuit_backprop.checks.options import NUMERIC_ATOL, NUMERIC_EPS, NUMERIC_RTOL, NumericOptions
from circuit_backprop.core import engine
from circuit_backprop.core.engine import Trace
from circuit_backprop.core.ops import INPUT
from circuit_backprop.errors import EXIT_EVAL, CircuitError
from circuit_backprop.views.report import fmt

_MATH_ERRORS = (ValueError, ZeroDivisionError, OverflowError)

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


def output_with(trace: Trace, node: int, value: float) -> tuple[float | None, list[int]]:
    """f with `node`'s output set to `value`, re-running only the gates downstream of it.

    Returns (f or None where a gate is undefined, the downstream gates that were re-run)."""
    graph = trace.graph
    values = trace.values[:]
    values[node] = value
    changed = bytearray(len(graph))
    changed[node] = 1
    rerun: list[int] = []
    args = graph.args
    for i in range(node + 1, len(graph)):
        node_args = args[i]
        if not node_args or not any(changed[a] for a in node_args):
            continue
        try:
            v = graph.op(i).value(*(values[a] for a in node_args))
        except _MATH_ERRORS:
            return None, rerun
        if not math.isfinite(v):
            return None, rerun
        values[i] = v
        changed[i] = 1
        rerun.append(i)
    return values[graph.output], rerun


def check(trace: Trace, eps: float = NUMERIC_EPS, atol: float = NUMERIC_ATOL,
          rtol: float = NUMERIC_RTOL) -> NumericCheck:
    """Check ∂f/∂node for every input and named gate. `trace` needs its backward pass."""
    from circuit_backprop.views.report import summary_nodes

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


# --- what the user sees ----------------------------------------------------------------------


def verdict(c: NodeCheck, precision: int, rtol: float = NUMERIC_RTOL) -> Text:
    """The check column: ✓, ✗, or why the node was not compared."""
    if c.status == CONSTANT:
        return Text("constant wire: no gradient", style="dim")
    if c.status == UNDEFINED:
        return Text("f undefined at ±eps: not checked", style="yellow")
    text = Text()
    if c.status == OK:
        text.append("✓", style="green")
        if c.rel_error is not None and c.rel_error > rtol:
            # (a large relative error between tiny numbers, near 0: atol is what passes it)
            text.append(f" |difference| {fmt(abs(c.analytic - c.numeric), 3)}: within "
                        "tolerance", style="dim")
    elif c.status == KINK:
        text.append("kink explains it", style="yellow")
    else:
        text.append("✗ disagree", style="bold red")
    if c.one_sided is not None:
        fwd, bwd = c.one_sided
        text.append(f"  {c.kink}; one-sided: right {fmt(fwd, precision)}, "
                    f"left {fmt(bwd, precision)}")
    return text


def table(result: NumericCheck, trace: Trace, precision: int,
          torch_grads: dict[int, Text | str] | None = None) -> Table:
    """One row per input and named gate: analytic, numeric (and torch) side by side."""
    graph = trace.graph
    fname = graph.label(graph.output)
    t = Table(
        title=f"Numeric check: central differences, eps {result.eps:g} "
              f"(atol {result.atol:g}, rtol {result.rtol:g})",
        title_justify="left",
    )
    t.add_column("node")
    t.add_column("kind")
    t.add_column(f"analytic ∂{fname}/∂node", justify="right")
    t.add_column("numeric", justify="right")
    t.add_column("rel. error", justify="right")
    if torch_grads is not None:
        t.add_column("torch", justify="right")
    t.add_column("check")
    for c in result.nodes:
        row: list[Text | str] = [
            graph.label(c.node),
            "input" if graph.ops[c.node] == INPUT else "gate",
            Text(fmt(c.analytic, precision), style="red"),
            fmt(c.numeric, precision),
            fmt(c.rel_error, 2) if c.rel_error is not None else "—",
        ]
        if torch_grads is not None:
            row.append(torch_grads.get(c.node, "—"))
        row.append(verdict(c, precision, result.rtol))
        t.add_row(*row)
    return t


def tolerance_used(result: NumericCheck, c: NodeCheck) -> float:
    """|analytic - numeric| as a fraction of what the pass rule allows, atol + rtol·|numeric|:
    at most 1 passes, above 1 fails (inf where there is no numeric value)."""
    if c.numeric is None or not math.isfinite(c.numeric):
        return math.inf
    return abs(c.analytic - c.numeric) / (result.atol + result.rtol * abs(c.numeric))


def _worst(result: NumericCheck, trace: Trace) -> str:
    """The compared node closest to (or furthest past) its tolerance, in the pass rule's terms:
    its difference d = r × (atol + rtol·|numeric|), r at most 1 for a pass."""
    compared = [c for c in result.nodes if c.status in (OK, MISMATCH) and c.numeric is not None]
    if not compared:
        return ""
    worst = max(compared, key=lambda c: tolerance_used(result, c))
    return (f" (worst: {trace.graph.label(worst.node)}, |analytic - numeric| = "
            f"{fmt(abs(worst.analytic - worst.numeric), 3)} = "
            f"{fmt(tolerance_used(result, worst), 3)} × (atol + rtol·|numeric|))")


def summary(result: NumericCheck, trace: Trace) -> Text:
    """One line: agree or disagree, and the worst node in the terms of the pass rule (a pass is
    never reported with a large relative error, which tiny numbers near 0 can have)."""
    graph = trace.graph
    checked = [c for c in result.nodes if c.status in (OK, KINK, MISMATCH)]
    worst = _worst(result, trace)
    if result.ok:
        kinks = sum(c.status == KINK for c in result.nodes)
        agree = len(checked) - kinks
        text = Text.assemble(("✓ ", "green"), f"numeric gradients agree on {agree} "
                             f"node{'s' if agree != 1 else ''}{worst}")
        if kinks:
            text.append(f"; {kinks} at a kink, where the one-sided differences bracket the "
                        "analytic value")
        return text
    bad = ", ".join(graph.label(c.node) for c in result.failing)
    return Text.assemble(("✗ ", "bold red"), f"numeric gradients disagree on {bad}{worst}")


def to_json(result: NumericCheck) -> dict[str, Any]:
    return {
        "eps": result.eps,
        "atol": result.atol,
        "rtol": result.rtol,
        "ok": result.ok,
        "max_rel_error": finite_or_none(result.max_rel_error),
        "disagree": [c.node for c in result.failing],
        "nodes": [
            {
                "id": c.node,
                "analytic": finite_or_none(c.analytic),
                "numeric": finite_or_none(c.numeric),
                "rel_error": finite_or_none(c.rel_error),
                "status": c.status,
                "kink": c.kink,
                "one_sided": (None if c.one_sided is None
                              else [finite_or_none(x) for x in c.one_sided]),
            }
            for c in result.nodes
        ],
    }


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


def emit(console: Console, trace: Trace, inputs: dict[str, float], options: NumericOptions,
         as_json: bool, precision: int, torch_opts: Any = None) -> None:
    """eval/backward with --check-numeric (and maybe --check-torch): the usual tables, then the
    numeric table with torch's gradients beside it. Raises NumericMismatch (exit 1) after
    printing when the gradients disagree, and torch's own error when torch disagrees."""
    from circuit_backprop.views import report

    checked = trace if trace.grads is not None else engine.backward(
        Trace(trace.graph, trace.values, trace.depends))
    result = check(checked, options.eps, options.atol, options.rtol)
    torch_run = None
    if torch_opts is not None and torch_opts.wanted:
        from circuit_backprop.views import torchreport

        torch_run = torchreport.run(trace, torch_opts)
    if as_json:
        doc = report.to_json(trace, inputs)
        if torch_run is not None:
            doc.update(torchreport.to_json(torch_run))
        doc["numeric"] = to_json(result)
        console.file.write(report.dumps(doc) + "\n")
    else:
        extra = torchreport.extra_columns(torch_run, precision) if torch_run else ()
        if trace.grads is not None:
            report.print_backward(console, trace, precision, extra)
        else:
            report.print_eval(console, trace, precision, extra)
        console.print()
        torch_grads = _torch_grads(torch_run, precision)
        console.print(table(result, checked, precision, torch_grads))
        console.print(summary(result, checked))
        if torch_run is not None:
            torchreport.print_after(console, torch_run, precision)
    err = failure(result, checked)
    if err is not None:
        raise err
    if torch_run is not None:
        torch_err = torchreport.failure(torch_run)
        if torch_err is not None:
            raise torch_err


def _torch_grads(torch_run: Any, precision: int) -> dict[int, Text | str] | None:
    """torch's ∂f/∂node for the numeric table, when --check-torch compared gradients."""
    check_ = getattr(torch_run, "check", None) if torch_run is not None else None
    if check_ is None or not check_.gradients:
        return None
    cells: dict[int, Text | str] = {}
    for g in check_.gates:
        if g.grad is None:
            cells[g.node] = "—"
        else:
            mark = "" if g.grad_ok is not False else " ✗"
            cells[g.node] = Text(fmt(g.grad, precision) + mark,
                                 style="red" if mark else "")
    return cells
