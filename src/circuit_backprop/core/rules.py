"""Gradient rules: each op's derivative, written once in the circuit language (ops.py's `grad`),
compiled to a small graph and run.

A rule is an expression over the op's inputs (a, b, ... as its entry names them), its output
`out` and the upstream gradient `dout`: mul's are `dout * b` and `dout * a`, tanh's is
`dout * (1 - out * out)`, matmul's `dout @ transpose(b)`. A rule that depends on the gate's
shapes or integer arguments (a sum along axis 1) is a function that writes that expression.

Rules are parsed by the language's own parser, like any program. The parser lives in lang/,
which imports core/, so core cannot import it: lang/parse.py hands its `parse` function to
`use_parser` when it is imported. Every graph a user has comes from it (Circuit, the command
line), so it has run by the time a rule is needed; code that builds a graph by hand imports
circuit_backprop.lang.parse first (tests/conftest.py does), or gets an error that says so.
Rules are compiled on first use, once per distinct text.

`evaluate` runs a compiled rule with NumPy semantics: every value is a float64 array, and a
value that is not finite (a branch of `where` not taken, such as 0^-1 in pow's rule) is no error
here; the engine checks the gradient that comes out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from circuit_backprop.core.arrays import Shape
from circuit_backprop.core.ops import CONST, INPUT, Op, Params, sum_to_input

if TYPE_CHECKING:
    from circuit_backprop.core.graph import Graph

_parse: Callable[[str], Graph] | None = None
_compiled: dict[str, Graph] = {}
COMPILED_LIMIT = 4096  # rule texts kept compiled; past that the cache starts again


def use_parser(parse: Callable[[str], Graph]) -> None:
    """The language's parser, which compiles rules (called by lang/parse.py)."""
    global _parse
    _parse = parse


def rule_text(op: Op, k: int, shapes: Sequence[Shape] = (), params: Params = ()) -> str | None:
    """The gradient rule for the op's input k as text, for a gate of these input shapes and
    integer arguments; None where that input takes no gradient."""
    rule = op.grad[k]
    if rule is None or isinstance(rule, str):
        return rule
    return rule(tuple(shapes), tuple(params))


def compiled(text: str) -> Graph:
    """The rule's graph: its inputs are the names it reads (a, b, out, dout, ...)."""
    graph = _compiled.get(text)
    if graph is None:
        if len(_compiled) >= COMPILED_LIMIT:  # (a long session's many defs and shapes)
            _compiled.clear()
        if _parse is None:
            raise RuntimeError("no parser for gradient rules: import "
                               "circuit_backprop.lang.parse first")
        graph = _compiled[text] = _parse(text)
    return graph


def names(op: Op) -> tuple[str, ...]:
    """The names a rule of this op may read, in the order `bind` takes their values."""
    return (*op.inputs, "out", "dout")


def bind(op: Op, inputs: Sequence[Any], out: Any, dout: Any) -> dict[str, Any]:
    return dict(zip(names(op), (*inputs, out, dout), strict=True))


def evaluate(text: str, env: Mapping[str, Any]) -> Any:
    """The rule's value for these values of the names it reads (NumPy semantics: no error for a
    value that is not finite, the caller checks the result)."""
    import numpy as np

    graph = compiled(text)
    values: list[Any] = []
    input_of = {node: name for name, node in graph.inputs.items()}
    with np.errstate(all="ignore"):
        for node, (kind, args) in enumerate(zip(graph.ops, graph.args, strict=True)):
            if kind == INPUT:
                values.append(np.asarray(env[input_of[node]], dtype=np.float64))
            elif kind == CONST:
                values.append(np.asarray(graph.constant(node), dtype=np.float64))
            else:
                values.append(apply(graph.op(node), [values[i] for i in args],
                                    graph.params.get(node, ())))
    return values[graph.output]


def apply(op: Op, xs: Sequence[Any], params: Params = ()) -> Any:
    """One op on float64 arrays, NumPy's way (an elementwise op's `numpy`)."""
    import numpy as np

    if op.elementwise:
        return np.asarray(op.numpy(np, *xs), dtype=np.float64)
    return np.asarray(op.value(*xs, params), dtype=np.float64)


FloatRule = Callable[..., float]  # local(*inputs, out) -> the local gradient, on floats
_float_locals: dict[tuple[int, int], tuple[Op, FloatRule | None]] = {}


def float_local(op: Op, k: int) -> FloatRule | None:
    """An elementwise op's local gradient on wire k as a function of floats, made once from its
    rule (`dout * LOCAL`: LOCAL, each gate by its op's `value`, math): the reference engine's
    fast path on scalar wires. It raises where math does (0^-1 in a branch of `where` not
    taken): `local_gradient` then runs the rule with NumPy, which gives the same number or
    the NaN/inf. None where the input takes no gradient."""
    key = (id(op), k)
    found = _float_locals.get(key)
    if found is None or found[0] is not op:
        text = rule_text(op, k)
        found = _float_locals[key] = (op, None if text is None else _float_function(op, text))
    return found[1]


def _float_function(op: Op, text: str) -> FloatRule:
    graph = compiled(text)
    position = {name: j for j, name in enumerate((*op.inputs, "out"))}
    output = graph.output
    # the local gradient is the rule with dout = 1: `dout * X` is X, `dout` 1, `-dout` -1
    if graph.ops[output] == "mul" and graph.names[graph.args[output][0]] == "dout":
        output = graph.args[output][1]
    elif graph.names[output] == "dout":
        return lambda *xs: 1.0
    elif graph.ops[output] == "neg" and graph.names[graph.args[output][0]] == "dout":
        return lambda *xs: -1.0
    if graph.ops[output] == INPUT:  # mul's b: the input itself
        j = position[graph.names[output]]
        return lambda *xs: xs[j]
    steps: list[tuple[int, Any, tuple[int, ...]]] = []  # (kind, payload, args) per node
    for node, (kind, args) in enumerate(zip(graph.ops, graph.args, strict=True)):
        if kind == INPUT:
            name = graph.names[node]
            steps.append((0, 1.0, ()) if name == "dout" else (1, position[name], ()))
        elif kind == CONST:
            steps.append((0, graph.consts[node], ()))
        else:
            steps.append((2, graph.op(node).value, args))
    steps = steps[: output + 1]

    def local(*xs: float) -> float:
        values: list[Any] = []
        for kind, payload, args in steps:
            if kind == 0:
                values.append(payload)
            elif kind == 1:
                values.append(xs[payload])
            else:
                values.append(payload(*[values[i] for i in args]))
        return values[-1]

    return local


def local_gradient(op: Op, k: int, inputs: Sequence[Any], out: Any) -> Any:
    """An elementwise op's local gradient on wire k: its rule with dout = 1 (the rule is
    `dout * LOCAL`, so this is LOCAL exactly, and upstream × it is the rule at that upstream).
    Floats give a float (math first, NumPy where math refuses); arrays an array. None where the
    input takes no gradient."""
    if op.body is not None:
        return op.body.local(k, inputs, out)
    if not any(getattr(x, "ndim", 0) for x in inputs):
        return scalar_local_gradient(op, k, inputs, out)
    text = rule_text(op, k)
    return None if text is None else evaluate(text, bind(op, inputs, out, 1.0))


def scalar_local_gradient(op: Op, k: int, inputs: Sequence[float], out: float) -> float | None:
    """local_gradient on floats (the reference engine calls it per wire): the rule made into a
    function of floats (math), and NumPy's number, NaN or inf where math refuses."""
    local = float_local(op, k)
    if local is None:
        return None
    try:
        return float(local(*inputs, out))
    except (ValueError, ZeroDivisionError, OverflowError, TypeError):
        return float(evaluate(rule_text(op, k), bind(op, inputs, out, 1.0)))


def vjp(op: Op, upstream: Any, inputs: Sequence[Any], out: Any,
        needs: Sequence[bool] | None = None, params: Params = ()) -> tuple[Any | None, ...]:
    """∂f/∂input for each input, given upstream = ∂f/∂out: each input's rule at these values;
    an elementwise op's summed back over the axes that input was broadcast along. None for an
    input whose `needs` is False (a constant wire) or that takes no gradient."""
    if op.body is not None:
        return op.body.vjp(upstream, inputs, needs)
    shapes = [tuple(getattr(x, "shape", ())) for x in inputs]
    env = bind(op, inputs, out, upstream)
    sent: list[Any | None] = []
    for k, x in enumerate(inputs):
        text = rule_text(op, k, shapes, params) if needs is None or needs[k] else None
        if text is None:
            sent.append(None)
            continue
        gradient = evaluate(text, env)
        sent.append(sum_to_input(gradient, x) if op.elementwise else gradient)
    return tuple(sent)


def reads_values(op: Op) -> bool:
    """Does any of the op's rules read a value (an input or the output), not only dout? The
    gates whose rules do not (+, −, negation, identity) keep nothing for the backward pass."""
    if op.body is not None:
        return True
    for rule in op.grad:
        if rule is None:
            continue  # (no gradient: nothing kept for it)
        if not isinstance(rule, str) or set(compiled(rule).inputs) - {"dout"}:
            return True  # (a rule written per shape: taken to read values)
    return False
