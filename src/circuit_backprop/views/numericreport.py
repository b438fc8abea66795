"""What the user sees of `--check-numeric`: the table, the summary line and the JSON object.
The numbers come from checks/numeric.py."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from circuit_backprop.checks.compare import finite_or_none
from circuit_backprop.checks.numeric import (
    CONSTANT,
    KINK,
    MISMATCH,
    OK,
    UNDEFINED,
    NodeCheck,
    NumericCheck,
    label,
    tolerance_used,
)
from circuit_backprop.checks.options import NUMERIC_RTOL
from circuit_backprop.core.ops import INPUT
from circuit_backprop.core.trace import Trace
from circuit_backprop.views.numberformat import (
    DEFAULT_FORMAT,
    ERROR_FORMAT,
    FormatOrPrecision,
    NumberFormat,
    as_number_format,
)
from circuit_backprop.views.report import NUMBER, Column, FittedTable

REL_ERROR_FORMAT = NumberFormat(precision=2)  # the rel. error column: how far, not how exactly


def verdict(c: NodeCheck, number_format: NumberFormat, rtol: float = NUMERIC_RTOL) -> Text:
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
            text.append(f" |difference| {ERROR_FORMAT.value(abs(c.analytic - c.numeric))}: "
                        "within tolerance", style="dim")
    elif c.status == KINK:
        text.append("kink explains it", style="yellow")
    else:
        text.append("✗ disagree", style="bold red")
    if c.one_sided is not None:
        fwd, bwd = c.one_sided
        text.append(f"  {c.kink}; one-sided: right {number_format.value(fwd)}, "
                    f"left {number_format.value(bwd)}")
    return text


def table(result: NumericCheck, trace: Trace, number_format: FormatOrPrecision = DEFAULT_FORMAT,
          torch_grads: dict[int, Text | str] | None = None) -> FittedTable:
    """One row per input and named gate: analytic, numeric (and torch) side by side."""
    number_format = as_number_format(number_format)
    graph = trace.graph
    fname = graph.label(graph.output)
    columns = [Column("node"), Column("kind", drop=2),
               Column(f"analytic ∂{fname}/∂node", "right", NUMBER),
               Column("numeric", "right", NUMBER), Column("rel. error", "right", NUMBER, 1)]
    if torch_grads is not None:
        columns.append(Column("torch", "right", NUMBER, 3))
    columns.append(Column("check"))
    t = FittedTable(f"Numeric check: central differences, eps {result.eps:g} "
                    f"(atol {result.atol:g}, rtol {result.rtol:g})", columns)
    for c in result.nodes:
        row: list[Text | str] = [
            label(graph, c),
            "input" if graph.ops[c.node] == INPUT else "gate",
            Text(number_format.value(c.analytic), style="red"),
            number_format.value(c.numeric),
            REL_ERROR_FORMAT.value(c.rel_error),
        ]
        if torch_grads is not None:
            row.append(torch_grads.get(c.node, "—") if c.index is None else "")
        row.append(verdict(c, number_format, result.rtol))
        t.add_row(*row)
    return t


def _worst(result: NumericCheck, trace: Trace) -> str:
    """The compared node closest to (or furthest past) its tolerance, in the pass rule's terms:
    its difference d = r × (atol + rtol·|numeric|), r at most 1 for a pass."""
    compared = [c for c in result.nodes if c.status in (OK, MISMATCH) and c.numeric is not None]
    if not compared:
        return ""
    worst = max(compared, key=lambda c: tolerance_used(result, c))
    return (f" (worst: {label(trace.graph, worst)}, |analytic - numeric| = "
            f"{ERROR_FORMAT.value(abs(worst.analytic - worst.numeric))} = "
            f"{ERROR_FORMAT.value(tolerance_used(result, worst))} × (atol + rtol·|numeric|))")


def summary(result: NumericCheck, trace: Trace) -> Text:
    """One line: agree or disagree, and the worst node in the terms of the pass rule (a pass is
    never reported with a large relative error, which tiny numbers near 0 can have)."""
    graph = trace.graph
    checked = [c for c in result.nodes if c.status in (OK, KINK, MISMATCH)]
    worst = _worst(result, trace)
    if result.ok:
        kinks = sum(c.status == KINK for c in result.nodes)
        agree = len(checked) - kinks
        what = f"node{'s' if agree != 1 else ''}"
        if result.sampled:
            checked_nodes = {c.node for c in checked}
            sampled = sum(result.sampled[n][0] < result.sampled[n][1] for n in checked_nodes)
            what = (f"elements of {len(checked_nodes)} nodes"
                    + (f" ({sampled} of them sampled)" if sampled else ""))
        text = Text.assemble(("✓ ", "green"), f"numeric gradients agree on {agree} {what}"
                             f"{worst}")
        if result.gates:
            text.append(f"; each gate's VJP on its own agrees on {len(result.gates)} wires "
                        "(a random upstream gradient, central differences)")
        if kinks:
            text.append(f"; {kinks} at a kink, where the one-sided differences bracket the "
                        "analytic value")
        return text
    bad = ", ".join([label(graph, c) for c in result.failing]
                    + [f"gate {graph.label(g.node)}" for g in result.failing_gates])
    return Text.assemble(("✗ ", "bold red"), f"numeric gradients disagree on {bad}{worst}")


def to_json(result: NumericCheck) -> dict[str, Any]:
    return {
        "eps": result.eps,
        "atol": result.atol,
        "rtol": result.rtol,
        "ok": result.ok,
        "max_rel_error": finite_or_none(result.max_rel_error),
        "disagree": sorted({c.node for c in result.failing}),
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
                **({} if c.index is None else {"index": list(c.index)}),
            }
            for c in result.nodes
        ],
        **({} if not result.sampled else {
            "sampled": {str(node): list(counts) for node, counts in result.sampled.items()},
            "gates": [{"id": g.node, "input": g.wire, "elements": g.elements,
                       "rel_error": finite_or_none(g.rel_error), "ok": g.ok}
                      for g in result.gates],
        }),
    }


def torch_grad_cells(
    torch_run: Any, number_format: FormatOrPrecision = DEFAULT_FORMAT,
) -> dict[int, Text | str] | None:
    """torch's ∂f/∂node for the numeric table, when --check-torch compared gradients."""
    number_format = as_number_format(number_format)
    check_ = getattr(torch_run, "check", None) if torch_run is not None else None
    if check_ is None or not check_.gradients:
        return None
    cells: dict[int, Text | str] = {}
    for g in check_.gates:
        if g.grad is None:
            cells[g.node] = "—"
        else:
            mark = "" if g.grad_ok is not False else " ✗"
            cells[g.node] = Text(number_format.value(g.grad) + mark,
                                 style="red" if mark else "")
    return cells
