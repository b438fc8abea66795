"""The staged walkthrough (`--steps`): the passes one stage at a time, with numbers.

As cs231n's staged code does, the forward pass computes one statement at a time,
`q = x + 2*y = 3 + 2·(-4) = -5`, and the backward pass goes through the gates in reverse order,
each one a chain-rule step: upstream ∂f/∂q = 19; local ∂q/∂x = 1; sends 19 × 1 = 19 to x. Where
a wire forks, the gradients arriving along its out-wires are added: ∂f/∂x += 19.

Only the engine's `Trace` is read. Every loop runs over node ids: nothing recurses, and each
forward stage inlines at most a few unnamed gates, so no line grows with the circuit.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.text import Text

from circuit_backprop.core import notation
from circuit_backprop.core.arrays import show
from circuit_backprop.core.engine import Trace, reaches_output
from circuit_backprop.core.ops import CONST, OPS
from circuit_backprop.views.numberformat import (
    DEFAULT_FORMAT,
    FormatOrPrecision,
    NumberFormat,
    as_number_format,
)
from circuit_backprop.views.report import GRAD_STYLE, VALUE_STYLE, local_formula, symbol, wire_label

INLINE_LIMIT = 8  # at most this many unnamed gates are written inside one forward stage
_ATOM = notation.ATOM
# op -> (precedence (the language's: core/notation.py), how it joins its operands in the names
# line, ... in the numbers line)
_INFIX = {name: (notation.infix_level(OPS[name]), by_name, by_number)
          for name, by_name, by_number in (
    ("add", " + ", " + "), ("sub", " - ", " - "), ("mul", "*", "·"), ("div", "/", " / "),
    ("pow", "^", "^"))}
_PREFIX_PRECEDENCE = notation.UNARY  # unary minus


class _Expressions:
    """Each gate's formula twice, in names and in numbers, with small unnamed gates inlined."""

    def __init__(self, trace: Trace, number_format: NumberFormat) -> None:
        self.trace = trace
        self.number_format = number_format
        graph = trace.graph
        n = len(graph)
        uses = [0] * n
        for args in graph.args:
            for i in args:
                uses[i] += 1
        size = [0] * n
        self.inline = [False] * n
        for node in range(n):
            if not graph.is_gate(node):
                continue
            size[node] = 1 + sum(size[i] for i in graph.args[node] if self.inline[i])
            self.inline[node] = (graph.names[node] is None and node != graph.output
                                 and uses[node] == 1 and size[node] <= INLINE_LIMIT)
        # (names, numbers, precedence) of each inlined gate, filled in id (topological) order
        self.parts: dict[int, tuple[str, str, int]] = {}

    def operand(self, node: int) -> tuple[str, str, int]:
        trace, graph = self.trace, self.trace.graph
        if node in self.parts:
            return self.parts[node]
        value = self.number_format.term(trace.values[node])
        if graph.ops[node] == CONST:
            return value, value, _ATOM
        return graph.label(node), value, _ATOM

    def formula(self, node: int) -> tuple[str, str, int]:
        """The gate's formula over its operands; also remembered if the gate is inlined."""
        graph = self.trace.graph
        kind = graph.ops[node]
        ops = [self.operand(i) for i in graph.args[node]]
        if kind in _INFIX and len(ops) == 2:
            prec, by_name, by_number = _INFIX[kind]
            (ln, lv, lp), (rn, rv, rp) = ops
            left_paren = lp < prec or (kind == "pow" and lp == prec)
            right_paren = rp < prec or (rp == prec and kind in ("sub", "div"))
            ln, lv = (f"({ln})", f"({lv})") if left_paren else (ln, lv)
            rn, rv = (f"({rn})", f"({rv})") if right_paren else (rn, rv)
            result = (ln + by_name + rn, lv + by_number + rv, prec)
        elif kind == "neg" and len(ops) == 1:
            name, value, prec = ops[0]
            if prec < _PREFIX_PRECEDENCE:
                name, value = f"({name})", f"({value})"
            result = ("-" + name, "-" + value, _PREFIX_PRECEDENCE)
        elif kind == "id" and len(ops) == 1:
            result = ops[0]
        else:
            op = graph.op(node)
            call = op.call or op.name
            result = (f"{call}({', '.join(o[0] for o in ops)})",
                      f"{call}({', '.join(o[1] for o in ops)})", _ATOM)
        if self.inline[node]:
            self.parts[node] = result
        return result


class _Pauser:
    """Waits for Enter between stages, only when asked to and standard input is a terminal."""

    def __init__(self, console: Console, enabled: bool,
                 read: Callable[[str], str] | None = None) -> None:
        self.console = console
        self.enabled = enabled and (read is not None or sys.stdin.isatty())
        self.read = read or console.input

    def __call__(self) -> None:
        if not self.enabled:
            return
        try:
            self.read("[dim]  (Enter: next stage)[/]")
        except EOFError:
            self.enabled = False


def forward_steps(trace: Trace, number_format: NumberFormat) -> Iterator[Text]:
    """The forward pass as stages: the inputs, then each statement with numbers (lazily)."""
    graph = trace.graph
    if graph.inputs:
        line = Text("inputs: ")
        for k, (name, node) in enumerate(graph.inputs.items()):
            if k:
                line.append(", ")
            line.append(f"{name} = ")
            line.append(number_format.value(trace.values[node]), style=VALUE_STYLE)
        yield line
    exprs = _Expressions(trace, number_format)
    for node in range(len(graph)):
        if not graph.is_gate(node):
            continue
        names, numbers, _ = exprs.formula(node)
        if exprs.inline[node]:
            continue
        line = Text(f"{graph.label(node)} = {names} = ")
        if numbers != names:
            line.append(numbers)
            line.append(" = ")
        line.append(number_format.value(trace.values[node]), style="bold " + VALUE_STYLE)
        note = trace.kink(node)
        if note:
            line.append(f"   ({note})", style="yellow")
        yield line


def _live(trace: Trace) -> list[bool]:
    """Gates whose gradient the backward pass needs: they depend on an input and reach f."""
    reaches = reaches_output(trace.graph)
    return [bool(r and d) for r, d in zip(reaches, trace.depends, strict=True)]


def _start(out: str) -> Text:
    """The backward pass's first stage: the output's own gradient."""
    start = Text(f"start at the output: ∂{out}/∂{out} = ")
    start.append("1", style=GRAD_STYLE)
    return start


def backward_steps(trace: Trace, number_format: NumberFormat) -> Iterator[Text]:
    """Each gate, in reverse order: upstream × local = what it sends down each input wire."""
    graph = trace.graph
    assert trace.grads is not None
    out = graph.label(graph.output)
    yield _start(out)
    for gate, steps in gradient_flow(trace):
        sent = {step.k: step for step in steps}
        up = trace.grads[gate]
        me = wire_label(trace.graph, gate)
        stage = Text()
        stage.append(f"{graph.label(gate)} = {graph.source(gate)}   ({symbol(graph, gate)} gate)",
                     style="bold")
        stage.append("\n")
        stage.append(f"    upstream ∂{out}/∂{me} = ")
        stage.append(number_format.value(up), style=GRAD_STYLE)
        for k, i in enumerate(graph.args[gate]):
            stage.append("\n    ")
            src = wire_label(trace.graph, i)
            step = sent.get(k)
            if step is None or step.local is None:
                stage.append(f"{src}: a constant wire, no gradient flows into it", style="dim")
                continue
            formula = local_formula(graph, gate, k)
            number = number_format.value(step.local)
            shown = number if formula == number else f"{formula} = {number}"
            stage.append(f"local ∂{me}/∂{src} = {shown}; sends ")
            stage.append(f"{number_format.value(up)} × {number_format.term(step.local)} = ")
            stage.append(number_format.value(step.down), style=GRAD_STYLE)
            stage.append(f" to {src}")
            grad = f"∂{out}/∂{src}"
            if step.wires > 1:
                stage.append(f"   {grad} += {number_format.value(step.down)} → ")
                stage.append(number_format.value(step.total), style=GRAD_STYLE)
                done = "all in" if step.arrival == step.wires else "more to come"
                stage.append(f"  (fork: wire {step.arrival} of {step.wires}, {done})")
            else:
                stage.append(f"   {grad} = ")
                stage.append(number_format.value(step.total), style=GRAD_STYLE)
        yield stage


# --- tensor circuits: shapes first, then the numbers (where they are small) ------------------


def _value(line: Text, text: str, indent: int, style: str) -> None:
    """Append `= value` on a line of its own, `indent` spaces in: an array's rows stay aligned
    under its first."""
    line.append("\n" + " " * indent + "= ")
    line.append(text.replace("\n", "\n" + " " * (indent + 2)), style=style)


def tensor_forward_steps(trace: Trace, number_format: NumberFormat) -> Iterator[Text]:
    """Each gate with its shape rule: h = X @ W1 + b1: (4, 5) + (5,) → (4, 5), then its value."""
    graph = trace.graph
    shapes = trace.shapes  # type: ignore[attr-defined]
    if graph.inputs:
        line = Text("inputs:")
        for name, node in graph.inputs.items():
            line.append(f"\n     {name} {show(shapes[node])}")
            _value(line, number_format.value(trace.values[node]), 7, VALUE_STYLE)
        yield line
    for node in range(len(graph)):
        if not graph.is_gate(node):
            continue
        ins = ", ".join(show(shapes[i]) for i in graph.args[node])
        line = Text()
        line.append(f"{graph.label(node)} = {graph.source(node)}", style="bold")
        line.append(f"   ({symbol(graph, node)} gate: {ins} → {show(shapes[node])})")
        _value(line, number_format.value(trace.values[node]), 7, VALUE_STYLE)
        yield line


def tensor_backward_steps(trace: Trace, number_format: NumberFormat) -> Iterator[Text]:
    """Each gate in reverse order: the upstream gradient (the gate's shape), then for each wire
    the rule (its VJP, in the circuit's names), the gradient it sends (the input's shape), and
    at a fork the running sum."""
    from circuit_backprop.views.tensorreport import gradient_rule

    graph = trace.graph
    shapes = trace.shapes  # type: ignore[attr-defined]
    out = graph.label(graph.output)
    yield _start(out)
    for gate, steps in gradient_flow(trace):
        sent = {step.k: step for step in steps}
        me = graph.label(gate)
        stage = Text()
        stage.append(f"{me} = {graph.source(gate)}   ({symbol(graph, gate)} gate)", style="bold")
        stage.append(f"\n    upstream ∂{out}/∂{me} {show(shapes[gate])}")
        _value(stage, number_format.value(trace.grads[gate]), 6, GRAD_STYLE)
        for k, i in enumerate(graph.args[gate]):
            src = wire_label(graph, i)
            step = sent.get(k)
            if step is None:
                stage.append(f"\n    {src}: no gradient flows into it", style="dim")
                continue
            stage.append(f"\n    ∂{out}/∂{src} = {gradient_rule(trace, gate, k)}"
                         f"   {show(shapes[i])}")
            _value(stage, number_format.value(step.down), 6, GRAD_STYLE)
            if step.wires > 1:
                done = "all in" if step.arrival == step.wires else "more to come"
                stage.append(f"\n    fork: ∂{out}/∂{src} += this (wire {step.arrival} of "
                             f"{step.wires}, {done}), so far")
                _value(stage, number_format.value(step.total), 6, GRAD_STYLE)
        yield stage


def step_lines(trace: Trace, number_format: FormatOrPrecision = DEFAULT_FORMAT) -> list[Text]:
    """Both passes as lines of text (the walkthrough without pauses)."""
    return [line for line, _ in _stages(trace, as_number_format(number_format))]


def print_steps(console: Console, trace: Trace,
                number_format: FormatOrPrecision = DEFAULT_FORMAT, pause: bool = False,
                read: Callable[[str], str] | None = None) -> None:
    """Both passes (forward only after `eval`), one stage at a time, in order; with `pause`,
    waiting for Enter after each stage."""
    wait = _Pauser(console, pause, read)
    for line, is_stage in _stages(trace, as_number_format(number_format)):
        console.print(line, soft_wrap=True)
        if is_stage:
            wait()


def _stages(trace: Trace, number_format: NumberFormat) -> Iterator[tuple[Text, bool]]:
    """Each line of the walkthrough, and whether it ends a stage (where --pause waits)."""
    graph = trace.graph
    out = graph.label(graph.output)
    tensor = hasattr(trace, "shapes")
    forward = tensor_forward_steps if tensor else forward_steps
    yield Text("Forward pass, one stage at a time (left to right)", style="bold underline"), False
    for k, stage in enumerate(forward(trace, number_format), 1):
        yield Text.assemble(f"{k:>3}. ", stage), True
    result = Text.assemble((out, "bold"), " = ",
                           (number_format.value(trace.output_value), "bold " + VALUE_STYLE))
    if trace.grads is None:
        yield result, False
        return
    yield Text(""), False
    yield Text("Backward pass, one gate at a time (right to left): "
               "upstream × local = what the gate sends down each input wire",
               style="bold underline"), False
    backward = tensor_backward_steps if tensor else backward_steps
    for k, stage in enumerate(backward(trace, number_format), 1):
        yield Text.assemble(f"{k:>3}. ", stage), True
    yield result, False
    if graph.inputs and not tensor:
        names = ", ".join(f"∂{out}/∂{n}" for n in graph.inputs)
        grads = ", ".join(number_format.value(trace.grads[i]) for i in graph.inputs.values())
        yield Text.assemble(f"∇{out} = [{names}] = [", (grads, GRAD_STYLE), "]"), False


# --- the same passes as data (the HTML lesson, views/lesson.py, steps through them) -----------


def forward_stage_gates(trace: Trace) -> list[tuple[int, list[int]]]:
    """The gate of each forward stage, in the order forward_steps (or tensor_forward_steps)
    yields them after the inputs line, with the unnamed gates written inside its formula."""
    graph = trace.graph
    inline = ([False] * len(graph) if hasattr(trace, "shapes")
              else _Expressions(trace, DEFAULT_FORMAT).inline)
    stages = []
    for node in range(len(graph)):
        if not graph.is_gate(node) or inline[node]:
            continue
        inside, todo = [], [i for i in graph.args[node] if inline[i]]
        while todo:  # (an inlined gate has one use: each is found once)
            gate = todo.pop()
            inside.append(gate)
            todo.extend(i for i in graph.args[gate] if inline[i])
        stages.append((node, sorted(inside)))
    return stages


@dataclass(frozen=True)
class WireStep:
    """One chain-rule step of the backward pass: gate `gate` sends `down` (its upstream
    gradient times `local`) down its input wire `k`, from node `src`; `total` is ∂f/∂src so
    far, `arrival` which of the `wires` gradient-carrying out-wires of src this is (1-based)."""

    gate: int
    k: int
    src: int
    local: Any
    down: Any
    total: Any
    arrival: int
    wires: int


def gradient_flow(trace: Trace) -> Iterator[tuple[int, list[WireStep]]]:
    """Each gate of the backward pass, in the order backward_steps takes them, with the steps
    down its gradient-carrying wires (a constant wire has none), the running sums at forks."""
    graph = trace.graph
    assert trace.grads is not None
    live = _live(trace)
    wires = [0] * len(graph)
    for gate in range(len(graph)):
        if live[gate] and graph.is_gate(gate):
            for i, d in zip(graph.args[gate], trace.downstream(gate), strict=True):
                if d is not None:
                    wires[i] += 1
    got = [0] * len(graph)
    acc: list[Any] = [None] * len(graph)
    for gate in range(len(graph) - 1, -1, -1):
        if not (live[gate] and graph.is_gate(gate)):
            continue
        local = trace.local[gate] or tuple(None for _ in graph.args[gate])
        steps = []
        for k, (i, d) in enumerate(zip(graph.args[gate], trace.downstream(gate), strict=True)):
            if d is None:
                continue
            got[i] += 1
            acc[i] = d if acc[i] is None else acc[i] + d
            steps.append(WireStep(gate, k, i, local[k], d, acc[i], got[i], wires[i]))
        yield gate, steps
