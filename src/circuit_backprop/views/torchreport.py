"""What the user sees of the PyTorch experiments: table columns, tables, summary lines, JSON.

The numbers come from torchcheck.py; this module only shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.table import Table
from rich.text import Text

from circuit_backprop.checks import torchcheck
from circuit_backprop.checks.compare import finite_or_none
from circuit_backprop.checks.options import TorchOptions
from circuit_backprop.checks.torchcheck import Behaviour, TorchCheck, TorchDisagrees
from circuit_backprop.core.engine import Trace
from circuit_backprop.core.graph import summary_nodes
from circuit_backprop.views.numberformat import (
    DEFAULT_FORMAT,
    ERROR_FORMAT,
    FormatOrPrecision,
    NumberFormat,
    as_number_format,
)
from circuit_backprop.views.report import GRAD_STYLE, Extra

OK_STYLE = "green"
BAD_STYLE = "bold red"


@dataclass
class TorchRun:
    trace: Trace
    check: TorchCheck | None = None
    behaviour: Behaviour | None = None

    @property
    def ok(self) -> bool:
        return (self.check is None or self.check.ok) and (
            self.behaviour is None or self.behaviour.ok
        )


def run(trace: Trace, options: TorchOptions) -> TorchRun:
    """Run what was asked for. Raises TorchMissing (exit 2) without torch."""
    result = TorchRun(trace)
    if options.behaviour:
        graph = trace.graph
        chosen = torchcheck.chosen_nodes(graph, options.requires_grad)
        result.behaviour = torchcheck.behave(
            trace, chosen, summary_nodes(graph), options.passes, options.zero_grad,
            options.retain_graph, options.rtol, options.atol,
        )
    if options.check:
        result.check = torchcheck.check(trace, options.rtol, options.atol)
    return result


# --- --check-torch ---------------------------------------------------------------------------


def _mark(ok: bool, theirs: float | None, number_format: NumberFormat) -> Text:
    if ok:
        return Text("✓", style=OK_STYLE)
    shown = number_format.value(theirs) if theirs is not None else "None"
    return Text(f"✗ {shown}", style=BAD_STYLE)


def columns(check: TorchCheck, number_format: NumberFormat) -> tuple[Extra, ...]:
    """The torch column of the forward, backward and gradient tables."""
    values = {g.node: _mark(g.value_ok, g.value, number_format) for g in check.gates}
    if not check.gradients:
        return ({"torch": values},)
    grads: dict[int, Text | str] = {}
    for g in check.gates:
        if g.grad_ok is None:
            grads[g.node] = "—"
        else:
            grads[g.node] = _mark(g.grad_ok, 0.0 if g.grad is None else g.grad, number_format)
    return ({"torch": values}, {"torch": grads}, {"torch": grads})


def summary(check: TorchCheck, trace: Trace) -> Text:
    graph = trace.graph
    what = "value and gradient" if check.gradients and check.note is None else "value"
    worst = ERROR_FORMAT.value(check.max_rel_error)
    tol = f"rtol {check.rtol:g}, atol {check.atol:g}"
    if check.ok:
        text = Text.assemble(
            ("torch ", ""), (check.version, "bold"),
            f" agrees on every gate's {what} ({_nodes(len(check.gates))}; "
            f"largest relative error {worst}; {tol})",
        )
        text.stylize(OK_STYLE, 0, 1)
    else:
        bad = ", ".join(_which(check, g.node, graph.label(g.node)) for g in check.disagreeing)
        text = Text.assemble(
            "torch ", (check.version, "bold"), (" disagrees", BAD_STYLE),
            f" on {len(check.disagreeing)} of {_nodes(len(check.gates))}: {bad} "
            f"(largest relative error {worst}; {tol})",
        )
    if check.note:
        text.append(f"\n{check.note}")
    return text


def _nodes(n: int) -> str:
    return "1 node" if n == 1 else f"{n} nodes"


def _which(check: TorchCheck, node: int, label: str) -> str:
    gate = next(g for g in check.gates if g.node == node)
    parts = [p for p, ok in (("value", gate.value_ok), ("gradient", gate.grad_ok is not False))
             if not ok]
    return f"{label} ({' and '.join(parts)})"


def disagreement_error(check: TorchCheck, trace: Trace) -> TorchDisagrees:
    graph = trace.graph
    labels = ", ".join(_which(check, g.node, graph.label(g.node)) for g in check.disagreeing)
    return TorchDisagrees(f"torch disagrees with the engine on: {labels}",
                          ["loosen the comparison with --rtol/--atol if this is rounding"])


def check_json(check: TorchCheck) -> dict[str, Any]:
    gates = []
    for g in check.gates:
        gate: dict[str, Any] = {"id": g.node, "value": finite_or_none(g.value),
                                "value_ok": g.value_ok}
        if check.gradients:
            gate["grad"] = finite_or_none(g.grad)
            gate["grad_ok"] = g.grad_ok
        gates.append(gate)
    return {
        "version": check.version,
        "rtol": check.rtol,
        "atol": check.atol,
        "compared": "values and gradients" if check.gradients and check.note is None
        else "values",
        "ok": check.ok,
        "max_rel_error": finite_or_none(check.max_rel_error),
        "disagree": [g.node for g in check.disagreeing],
        "note": check.note,
        "gates": gates,
    }


# --- autograd's behaviour ----------------------------------------------------------------------


def behaviour_table(b: Behaviour, trace: Trace, number_format: NumberFormat) -> Table:
    graph = trace.graph
    fname = graph.label(graph.output)
    chosen = ", ".join(graph.label(i) for i in b.chosen) or "nothing"
    table = Table(
        title=f"Autograd in PyTorch: requires_grad on {chosen}; "
              f"{_passes(b.passes)} of {fname}.backward("
              f"{'retain_graph=True' if b.retain_graph and b.passes > 1 else ''})"
              f"{', .grad = None between passes' if b.zero_grad and b.passes > 1 else ''}",
        title_justify="left",
    )
    for header, justify in (("node", "left"), ("requires_grad", "center"),
                            ("is_leaf", "center"), (f"∂{fname}/∂node (1 pass)", "right"),
                            ("predicted .grad", "right"), ("torch .grad", "right"),
                            ("", "center"), ("why", "left")):
        table.add_column(header, justify=justify)
    for n in b.nodes:
        node = n.node
        one = b.prediction.one_pass[node] if b.prediction.reaches[node] else None
        table.add_row(
            graph.label(node),
            str(n.requires_grad),
            str(n.is_leaf),
            Text(number_format.value(one), style=GRAD_STYLE),
            _grad_text(n.predicted, number_format),
            _grad_text(n.grad, number_format),
            Text("✓", style=OK_STYLE) if n.agrees else Text("✗", style=BAD_STYLE),
            n.why,
        )
    return table


def _grad_text(x: float | None, number_format: NumberFormat) -> Text:
    if x is None:
        return Text("None", style="dim")
    return Text(number_format.value(x), style=GRAD_STYLE)


def _passes(n: int) -> str:
    return "1 pass" if n == 1 else f"{n} passes"


def behaviour_lines(b: Behaviour, trace: Trace, number_format: NumberFormat) -> list[Text]:
    """The story under the table: errors torch raised and why, accumulated gradients, verdict."""
    graph = trace.graph
    fname = graph.label(graph.output)
    lines: list[Text] = []
    if b.error is not None:
        p, message = b.error
        lines.append(Text.assemble(
            (f"torch raised on pass {p}: ", "bold"),
            (f"RuntimeError: {torchcheck.first_sentence(message)}", BAD_STYLE),
        ))
        if torchcheck.NO_GRAD_FN in message:
            lines.append(Text(
                f"  Why: nothing that {fname} depends on requires grad, so {fname} has no "
                f"grad_fn and there is nothing to backpropagate. Set requires_grad on an input "
                f"or a named gate (--requires-grad NAME); .grad stays None everywhere."
            ))
        elif torchcheck.SECOND_TIME in message:
            savers = [graph.label(i) for i in range(len(graph))
                      if graph.is_gate(i) and b.prediction.requires_grad[i]
                      and not b.prediction.is_leaf[i] and b.prediction.reaches[i]
                      and torchcheck.saves_values(graph, i)]
            lines.append(Text(
                f"  Why: pass 1 ran backward() without retain_graph=True, so torch freed the "
                f"values its gates saved for the backward pass ({', '.join(savers)} need their "
                f"inputs' values for their local gradients). Drop --no-retain-graph to run "
                f"backward(retain_graph=True). "
                + (f".grad was reset to None before pass {p}, so it holds nothing."
                   if b.zero_grad else
                   f".grad still holds what {_passes(b.completed)} put there.")
            ))
    elif b.prediction.error is not None:
        lines.append(Text(f"the engine predicted an error on pass {b.prediction.error[0]}; "
                          "torch raised none", style=BAD_STYLE))
    if b.accumulated:
        example = next((n for n in b.nodes if n.grad is not None), None)
        k = b.completed
        text = Text.assemble(
            ("These gradients are WRONG: ", BAD_STYLE),
            f"{k} backward passes without resetting .grad add up, because torch adds each "
            f"new gradient into .grad. Every .grad is now {k} × the true gradient",
        )
        if example is not None:
            one = b.prediction.one_pass[example.node]
            text.append(f" ({graph.label(example.node)}.grad = {number_format.value(example.grad)} "
                        f"= {k} × {number_format.value(one)})")
        text.append(". Reset between passes (x.grad = None, or optimizer.zero_grad()): "
                    "--zero-grad.")
        lines.append(text)
    elif b.zero_grad and b.completed > 1:
        lines.append(Text(f".grad was reset to None between the {b.completed} passes, so each "
                          f".grad is the true gradient of one pass."))
    if b.ok:
        lines.append(Text.assemble(("✓ ", OK_STYLE), "torch ", (b.version, "bold"),
                                   " did exactly what the engine predicted."))
    else:
        lines.append(Text.assemble(("✗ ", BAD_STYLE), "torch ", (b.version, "bold"),
                                   " did not do what the engine predicted (rows marked ✗)."))
    return lines


def behaviour_json(b: Behaviour, trace: Trace) -> dict[str, Any]:
    graph = trace.graph
    pred = b.prediction
    return {
        "version": b.version,
        "requires_grad": [graph.label(i) for i in b.chosen],
        "passes": b.passes,
        "zero_grad": b.zero_grad,
        "retain_graph": b.retain_graph,
        "completed_passes": b.completed,
        "error": None if b.error is None else {"pass": b.error[0], "message": b.error[1]},
        "predicted_error": None if pred.error is None
        else {"pass": pred.error[0], "message": pred.error[1]},
        "gradients_wrong": b.accumulated,
        "ok": b.ok,
        "nodes": [
            {
                "id": n.node,
                "name": graph.names[n.node],
                "requires_grad": n.requires_grad,
                "is_leaf": n.is_leaf,
                "grad": finite_or_none(n.grad),
                "predicted": finite_or_none(n.predicted),
                "one_pass": finite_or_none(pred.one_pass[n.node]) if pred.reaches[n.node] else None,
                "why": n.why,
                "agrees": n.agrees,
            }
            for n in b.nodes
        ],
    }


# --- the command line's entry points ---------------------------------------------------------


def to_json(result: TorchRun) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if result.check is not None:
        doc["torch"] = check_json(result.check)
    if result.behaviour is not None:
        doc["autograd"] = behaviour_json(result.behaviour, result.trace)
    return doc


def extra_columns(result: TorchRun,
                  number_format: FormatOrPrecision = DEFAULT_FORMAT) -> tuple[Extra, ...]:
    if result.check is None:
        return ()
    return columns(result.check, as_number_format(number_format))


def after_view(result: TorchRun,
               number_format: FormatOrPrecision = DEFAULT_FORMAT) -> list[Any]:
    """What follows the engine's tables: the check's summary line, the autograd table."""
    number_format = as_number_format(number_format)
    shown: list[Any] = []
    if result.check is not None:
        shown.append(summary(result.check, result.trace))
    if result.behaviour is not None:
        if result.check is not None:
            shown.append(Text(""))
        shown.append(behaviour_table(result.behaviour, result.trace, number_format))
        shown += behaviour_lines(result.behaviour, result.trace, number_format)
    return shown


def failure(result: TorchRun) -> TorchDisagrees | None:
    """The error (exit 1) when torch disagrees with the engine, or None."""
    if result.check is not None and not result.check.ok:
        return disagreement_error(result.check, result.trace)
    b = result.behaviour
    if b is not None and not b.ok:
        graph = result.trace.graph
        bad = [n.node for n in b.nodes if not n.agrees]
        labels = ", ".join(graph.label(i) for i in bad) or "the error it raised"
        return TorchDisagrees(f"torch's autograd did not do what the engine predicted: {labels}")
    return None
