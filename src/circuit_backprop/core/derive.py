"""The backward pass as expressions in the circuit language.

Every gradient a gate sends down a wire is its op's rule (ops.py's `grad`), with the gate's own
wires written in for the rule's names: the gate `f = q * z` sends `df * z` to q. `circuit grad`
prints these one line each (views/gradprogram.py); a def's rule is the same pass through its
body, folded into one expression per parameter (composite.py).

Where the gate's constants make part of a rule constant it is worked out, if that is no longer
to write (x^2's rule `2 * x ^ (2 - 1)` is written `2 * x`; `1 / 3` stays); each such step is
exact, so the text computes the numbers the rule does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from circuit_backprop.core import notation, rules
from circuit_backprop.core.arrays import Shape, broadcast_axes
from circuit_backprop.core.graph import Graph
from circuit_backprop.core.ops import CONST, INPUT, Op

Written = notation.Written


def gradients_sent(graph: Graph, shapes: Sequence[Shape], depends: Sequence[int],
                   value: Callable[[int], Written], grad: Callable[[int], Written],
                   ) -> Iterator[tuple[int, int, Written]]:
    """(gate, input node, the gradient it sends there) for every wire that carries one, gates in
    backward order (reverse ids: every gradient a node receives comes before its own gate).
    `value(node)` writes a node's value, `grad(node)` its gradient (asked once all is in)."""
    receives = bytearray(len(graph))  # a gradient has been sent to it (the output: 1)
    receives[graph.output] = 1
    for node in range(len(graph) - 1, -1, -1):
        if not (graph.is_gate(node) and depends[node] and receives[node]):
            continue  # (a gate read only by where's condition, or off the output's paths)
        op = graph.op(node)
        args = graph.args[node]
        params = graph.params.get(node, ())
        arg_shapes = [shapes[i] for i in args]
        env = {name: value(i) for name, i in zip(op.inputs, args, strict=True)}
        env["out"] = value(node)
        env["dout"] = grad(node)
        constants = {name: graph.constant(i) for name, i in zip(op.inputs, args, strict=True)
                     if graph.ops[i] == CONST}
        for k, i in enumerate(args):
            text = rules.rule_text(op, k, arg_shapes, params)
            if text is None or not depends[i]:
                continue  # an input that takes no gradient, or a constant wire
            expression = written(rules.compiled(text), env, constants)
            if op.elementwise and op.body is None and shapes[i] != shapes[node]:
                # (a def's rule comes from its body's backward pass: summed back already)
                expression = summed_back(expression, shapes[i], shapes[node], env[op.inputs[k]])
            receives[i] = 1
            yield node, i, expression


def constant_text(value: Any) -> Written:
    return notation.array(value) if getattr(value, "ndim", 0) else notation.number(value)


def summed_back(expression: Written, shape: Shape, gate_shape: Shape,
                operand: Written) -> Written:
    """An elementwise gate's gradient for an input it broadcast, summed back to its shape:
    `sum(g, 0)` over a leading axis (cs231n's db), `sum(g)` for a number, else sum_as."""
    axes = broadcast_axes(shape, gate_shape)
    if not shape:
        return f"sum({expression[0]})", notation.ATOM
    if len(shape) + len(axes) == len(gate_shape):  # leading axes only: cs231n's sum(g, 0)
        text = expression[0]
        for _ in axes:
            text = f"sum({text}, 0)"
        return text, notation.ATOM
    return f"sum_as({expression[0]}, {operand[0]})", notation.ATOM


def written(rule: Graph, env: dict[str, Written], constants: dict[str, Any] | None = None,
            ) -> Written:
    """A compiled rule as text, with `env`'s text in place of the names it reads; the names in
    `constants` have known values, and what they make constant is worked out (see above)."""
    constants = constants or {}
    text: list[Written] = []
    known: dict[int, Any] = {}  # node -> its value, where it is a constant
    input_of = {node: name for name, node in rule.inputs.items()}
    for node, kind in enumerate(rule.ops):
        if kind == INPUT:
            name = input_of[node]
            text.append(env[name])
            if name in constants:
                known[node] = constants[name]
            continue
        if kind == CONST:
            known[node] = rule.constant(node)
            text.append(constant_text(known[node]))
            continue
        op, args, params = rule.op(node), rule.args[node], rule.params.get(node, ())
        shown = (_simplified(op, args, known, text)
                 or notation.write(op, [text[i] for i in args], params))
        if all(i in known for i in args):
            value = _folded(op, [known[i] for i in args], params)
            if value is not None:
                known[node] = value
                folded = constant_text(value)
                if len(folded[0]) <= len(shown[0]):  # 2 - 1 is 1; 1 / 3 stays 1 / 3
                    shown = folded
        text.append(shown)
    return text[rule.output]


def _folded(op: Op, values: list[Any], params: tuple[int, ...]) -> Any:
    """The op on constant values, or None where it is not a finite number: on numbers with
    math (a scalar circuit never loads NumPy for this), on arrays with NumPy."""
    if op.elementwise and not any(getattr(v, "ndim", 0) for v in values):
        try:
            value = float(op.value(*values))
        except (ValueError, ZeroDivisionError, OverflowError, TypeError):
            return None
        return value if math.isfinite(value) else None
    import numpy as np

    with np.errstate(all="ignore"):
        value = rules.apply(op, values, params)
    if not np.all(np.isfinite(value)):
        return None
    return value if value.ndim else float(value)


def _simplified(op: Op, args: tuple[int, ...], known: dict[int, Any],
                text: list[Written]) -> Written | None:
    """The exact simplifications: where(constant, a, b), x ^ 1, x * 1 and 1 * x."""
    def is_one(i: int) -> bool:
        return i in known and not getattr(known[i], "ndim", 0) and known[i] == 1

    name = op.name
    if name == "where" and args[0] in known and not getattr(known[args[0]], "ndim", 0):
        return text[args[1] if known[args[0]] != 0 else args[2]]
    if name in ("pow", "mul") and is_one(args[1]):
        return text[args[0]]
    if name == "mul" and is_one(args[0]):
        return text[args[1]]
    return None


def gate_constants(graph: Graph, node: int) -> dict[str, Any]:
    """The values of a gate's constant inputs, by the names its op's rules give them."""
    op = graph.op(node)
    return {name: graph.constant(i) for name, i in zip(op.inputs, graph.args[node], strict=True)
            if graph.ops[i] == CONST}


def local_formula(op: Op, k: int, labels: Sequence[str], out: str,
                  constants: dict[str, Any] | None = None) -> str:
    """An elementwise op's local gradient on wire k, as a formula in the gate's own labels: its
    rule with dout = 1 (`dout * b` is `z` for f = q * z; sigmoid's `f * (1 - f)`). A def shows
    where its gradient comes from (its rule written out can be long)."""
    if op.body is not None:
        return f"∂/∂{op.body.d.params[k]} of {_def_text(op)}"
    return _formula(op, k, labels, out, "1", (), (), {**(constants or {}), "dout": 1.0})


def vjp_formula(op: Op, k: int, labels: Sequence[str], out: str, upstream: str,
                shapes: Sequence[Shape], params: Sequence[int],
                constants: dict[str, Any] | None = None) -> str:
    """Any op's gradient on wire k as a formula: its rule with the gate's labels and `upstream`
    (∂f/∂gate) in place of dout: matmul's `∂f/∂D @ transpose(X)`. A def says where its
    gradient comes from (its rule written out can be long, or too long to write)."""
    if op.body is not None:
        return f"{upstream} back through {_def_text(op)}, to {op.body.d.params[k]}"
    return _formula(op, k, labels, out, upstream, shapes, params, constants)


def _formula(op: Op, k: int, labels: Sequence[str], out: str, dout: str,
             shapes: Sequence[Shape], params: Sequence[int],
             constants: dict[str, Any] | None) -> str:
    """The rule for wire k written with these labels for the op's names."""
    text = rules.rule_text(op, k, shapes, tuple(params))
    if text is None:
        return "none: this input takes no gradient"
    env = {name: (label, notation.ATOM) for name, label in zip(op.inputs, labels, strict=True)}
    env["out"] = (out, notation.ATOM)
    env["dout"] = (dout, notation.ATOM)
    return written(rules.compiled(text), env, constants)[0]


def _def_text(op: Op, limit: int = 40) -> str:
    text = op.body.d.text
    return text if len(text) <= limit else text[: limit - 1] + "…"
