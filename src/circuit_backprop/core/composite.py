"""Composite gates: an op whose value and local gradients come from passes through a body graph,
and inlining such bodies into primitive gates.

cs231n: "Multiple gates can be grouped into a single gate. A single gate can be broken up into
multiple gates." A `def` groups gates: its body is parsed into a small graph of its own (the
parameters are that graph's inputs), and every call is *one* gate whose op is a `CompositeOp`
built from the body. Its value is a forward pass through the body; its local gradient with
respect to parameter k is a backward pass through the body. So the engine needs no special case:
a composite is an op like any other, registered in the program's `graph.custom_ops`.

`inline` breaks gates up again: it copies bodies into the graph as primitive gates (expand.py
decides which: user defs, and built-in composites such as sigmoid). The parser builds the
definitions (defs.py). Nothing here recurses over the program: inlining is one linear pass per
level of nesting (at most MAX_DEPTH).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from circuit_backprop.core import engine
from circuit_backprop.core.graph import SOURCE_LIMIT, Graph
from circuit_backprop.core.ops import CONST, INPUT, Op, input_names
from circuit_backprop.core.trace import depends_on
from circuit_backprop.errors import EvalError

MAX_DEPTH = 32  # defs may call defs this many levels deep (evaluation nests one frame per level)


@dataclass
class Definition:
    """One composite gate: its parameters and its body graph (whose inputs are the parameters)."""

    name: str
    params: tuple[str, ...]
    body: Graph
    text: str  # the body's source text, on one line
    start: int = 0  # offset of the def's name in the program (0 for a built-in)
    builtin: bool = False


@dataclass(frozen=True, eq=False)
class CompositeOp(Op):
    """An op whose value and gradients come from passes through a body graph (its `body`, a
    _Body): on scalars, through the reference engine; on arrays, through the tensor engine. A
    body of elementwise gates is elementwise, and shows a local gradient per element; a body
    with gates that are not (sum, @) makes a gate whose VJP is the body's backward pass, seeded
    with the upstream gradient. Its gradient rules, for `circuit grad`, are the same backward
    pass written out (composite_rule)."""

    definition: Definition | None = None


def _carries_arrays(inputs: Sequence[Any]) -> bool:
    return any(getattr(x, "ndim", 0) for x in inputs)


# --- evaluation through the body ----------------------------------------------------------------


class _Body:
    """Forward and backward passes through one definition's body, remembering the last inputs.

    The engine asks for a gate's value, then for each local gradient with the same inputs: the
    forward pass is done once per set of inputs, and one backward pass per parameter.
    """

    def __init__(self, definition: Definition) -> None:
        self.d = definition
        body = definition.body
        self.param_nodes = [body.inputs[p] for p in definition.params]
        self.key: tuple[str, ...] | None = None
        self.trace: engine.Trace | None = None
        self.error: str | None = None
        self.grads: dict[int, float | str] = {}

    def forward(self, xs: tuple[float, ...]) -> engine.Trace | None:
        key = tuple(float(x).hex() for x in xs)
        if key != self.key:
            self.key, self.trace, self.error, self.grads = key, None, None, {}
            try:
                self.trace = engine.forward(self.d.body, dict(zip(self.d.params, xs, strict=True)))
            except EvalError as err:
                self.error = self.describe(err)
        return self.trace

    def describe(self, err: EvalError) -> str:
        f = err.failure
        return f"in the body of {self.d.name}, {err.message} (at {f.label}: {f.source})"

    def value(self, *xs: float) -> float:
        trace = self.forward(xs)
        if trace is None:
            raise ValueError(self.error)
        return trace.output_value

    def domain(self, *xs: float) -> str | None:
        self.forward(xs)
        return self.error

    def partial(self, k: int, xs: tuple[float, ...]) -> float:
        trace = self.forward(xs)
        if trace is None:
            raise ValueError(self.error)
        if k not in self.grads:
            # Only wires that depend on parameter k carry its gradient, as in the expanded circuit
            # when the other arguments are constant wires.
            body = self.d.body
            masked = engine.Trace(body, trace.values, depends_on(body, [self.param_nodes[k]]))
            try:
                grads = engine.backward(masked).grads
                assert grads is not None
                self.grads[k] = grads[self.param_nodes[k]]
            except EvalError as err:
                self.grads[k] = self.describe(err)
        result = self.grads[k]
        if isinstance(result, str):
            raise ValueError(result)
        return result

    def forward_of(self, op: Op, inputs: Sequence[Any]) -> Any:
        """The gate's value (Op.forward): through the tensor engine on arrays."""
        if _carries_arrays(inputs) or not op.elementwise:
            return self.array_forward(inputs)
        return self.value(*inputs)

    def local(self, k: int, inputs: Sequence[Any], out: Any) -> Any:
        """The local gradient on wire k of an elementwise body (rules.local_gradient)."""
        if _carries_arrays(inputs):
            return self.array_local(k, inputs, out)
        return self.partial(k, tuple(inputs))

    def vjp(self, up: Any, inputs: Sequence[Any], needs: Any) -> tuple[Any, ...]:
        """What the gate sends down each wire (rules.vjp): upstream × local on scalars, the
        body's backward pass seeded with the upstream gradient on arrays."""
        if _carries_arrays(inputs) or self.d.body.has_arrays:
            return self.array_vjp(up, inputs, needs)
        return tuple(None if needs is not None and not needs[k] else up * self.partial(k, inputs)
                     for k in range(len(inputs)))

    def kink(self, *xs: float) -> str | None:
        trace = self.forward(xs)
        if trace is None:
            return None
        for node in range(len(self.d.body)):
            note = trace.kink(node)
            if note:
                return f"inside {self.d.name}: {note}"
        return None

    def torch(self, t: Any, *tensors: Any) -> Any:
        body = self.d.body
        index = {node: k for k, node in enumerate(self.param_nodes)}
        vals: list[Any] = []
        like = tensors[0] if tensors else None
        for node in range(len(body)):
            kind = body.ops[node]
            if kind == INPUT:
                vals.append(tensors[index[node]])
            elif kind == CONST:
                dtype = like.dtype if like is not None else t.float64
                vals.append(t.tensor(body.constant(node), dtype=dtype))
            else:
                vals.append(body.op(node).torch_forward(t, [vals[i] for i in body.args[node]],
                                                        body.params.get(node, ())))
        return vals[body.output]

    # --- on arrays: passes through the body with the tensor engine --------------------------

    def array_forward(self, xs: Sequence[Any]) -> Any:
        from circuit_backprop.core import tensor

        try:
            trace = tensor.forward(self.d.body, dict(zip(self.d.params, xs, strict=True)))
        except EvalError as err:
            raise ValueError(self.describe(err)) from None
        return trace.values[self.d.body.output]

    def array_vjp(self, up: Any, xs: Sequence[Any], needs: Any) -> tuple[Any, ...]:
        """The body's backward pass, seeded with the upstream gradient: one gradient per
        parameter, shaped like it."""
        from circuit_backprop.core import tensor

        try:
            trace = tensor.forward(self.d.body, dict(zip(self.d.params, xs, strict=True)))
            tensor.backward(trace, seed=up)
        except EvalError as err:
            raise ValueError(self.describe(err)) from None
        return tuple(trace.grads[node] if needs is None or needs[k] else None
                     for k, node in enumerate(self.param_nodes))

    def array_local(self, k: int, xs: Sequence[Any], out: Any) -> Any:
        """A body of elementwise gates is elementwise: its local gradient on wire k, element by
        element, is the body's gradient with every input stretched to the output's shape (so
        that nothing is summed) and a seed of ones."""
        import numpy as np

        stretched = [np.broadcast_to(x, out.shape).copy() for x in xs]
        return self.array_vjp(np.ones(out.shape), stretched,
                              [j == k for j in range(len(xs))])[k]

    def shape(self, *shapes_and_params: Any) -> tuple[int, ...]:
        from circuit_backprop.core.shapes import infer

        shapes = shapes_and_params[:-1]
        found = infer(self.d.body, dict(zip(self.d.params, shapes, strict=True)))
        return found[self.d.body.output]  # type: ignore[return-value]


RULE_LIMIT = 20_000  # characters: a def's gradient rule written longer than this is refused


def composite_rule(definition: Definition, k: int, shapes: Sequence[tuple[int, ...]]) -> str:
    """A def's gradient rule for parameter k, derived from its body: the backward pass through
    the body (derive.py, every gate's own rule), its expressions folded into one, over the
    op's input names (a, b, ...), `out` and `dout`. `sig(a) = 1 / (1 + exp(-a))` gives
    `-(dout * (-1 / ((1 + exp(-a)) * (1 + exp(-a)))) * exp(-a))`."""
    from circuit_backprop.core import notation
    from circuit_backprop.core.derive import (
        constant_text,
        gradients_sent,
    )
    from circuit_backprop.core.ops import OPS
    from circuit_backprop.core.shapes import infer

    body = definition.body
    nested = user_composites(body)
    if nested:  # a body that calls defs: their bodies, inlined
        body = inline(body, set(nested), lambda g, kind: g.custom_ops[kind].definition)
    names = input_names(len(definition.params))
    param_of = {body.inputs[p]: names[j] for j, p in enumerate(definition.params)
                if p in body.inputs}
    text: list[notation.Written] = []
    for node, kind in enumerate(body.ops):
        if node == body.output:
            text.append(("out", notation.ATOM))
        elif kind == INPUT:
            text.append((param_of[node], notation.ATOM))
        elif kind == CONST:
            text.append(constant_text(body.constant(node)))
        else:
            text.append(notation.write(body.op(node), [text[i] for i in body.args[node]],
                                       body.params.get(node, ())))
        if len(text[-1][0]) > RULE_LIMIT:
            raise _too_long(definition)
    if body.ops[body.output] == INPUT:  # def f(a) = a
        text[body.output] = (param_of[body.output], notation.ATOM)
    shapes_in = dict(zip(definition.params, shapes, strict=True))
    body_shapes = infer(body, {p: shapes_in[p] for p in body.inputs})
    sums: dict[int, notation.Written] = {body.output: ("dout", notation.ATOM)}
    for _, i, sent in gradients_sent(body, body_shapes, depends_on(body),
                                     text.__getitem__, sums.__getitem__):
        sums[i] = sent if i not in sums else notation.write(OPS["add"], [sums[i], sent])
        if len(sums[i][0]) > RULE_LIMIT:
            raise _too_long(definition)
    node = body.inputs.get(definition.params[k])
    if node is None or node not in sums:  # a parameter the output does not depend on
        return "0 * dout"
    return sums[node][0]


def _too_long(definition: Definition) -> Exception:
    from circuit_backprop.errors import UsageError

    return UsageError(f"the gradient of {definition.name} written out is longer than "
                      f"{RULE_LIMIT:,} characters: write it with --expand")


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def make_op(definition: Definition) -> CompositeOp:
    """The registry entry for a def: one gate, evaluated by passes through its body."""
    body = _Body(definition)
    params = definition.params
    name = definition.name
    signature = f"{name}({', '.join(params)})"

    def rule(k: int) -> Callable[[Sequence[tuple[int, ...]], tuple[int, ...]], str]:
        return lambda shapes, p: composite_rule(definition, k, shapes)

    elementwise = not definition.body.has_arrays
    return CompositeOp(
        name=name, symbol=name, arity=len(params), text=signature, call=name,
        value=body.value if elementwise else lambda *xs_p: body.array_forward(xs_p[:-1]),
        grad=tuple(rule(k) for k in range(len(params))),
        torch=body.torch if elementwise else lambda t, *tensors: body.torch(t, *tensors[:-1]),
        torch_text=f"{signature} = {definition.text}",
        domain=body.domain if elementwise else None, kink=body.kink if elementwise else None,
        elementwise=elementwise, shape=body.shape, definition=definition, body=body,
    )


# --- expansion ----------------------------------------------------------------------------------


@dataclass
class ExpandedGraph(Graph):
    """A graph after `expand`: gates from a built-in's body have no text of their own in the
    program, so they show their body's text written with the call's own wires (`exp(-dot)`),
    and point at the call for line and column."""

    display: dict[int, str] = field(default_factory=dict)

    def source(self, node: int, limit: int = SOURCE_LIMIT) -> str:
        text = self.display.get(node)
        if text is None:
            return super().source(node, limit)
        return text if len(text) <= limit else text[: limit - 1] + "…"

    def sources(self, lo: int, hi: int, limit: int = SOURCE_LIMIT) -> list[str]:
        texts = super().sources(lo, hi, limit)
        display = self.display
        for node in range(lo, hi) if len(display) > hi - lo else display:
            if lo <= node < hi and node in display:
                texts[node - lo] = self.source(node, limit)
        return texts


def user_composites(graph: Graph) -> list[str]:
    """The program's own defs."""
    return [name for name, op in graph.custom_ops.items() if isinstance(op, CompositeOp)]


def inline(graph: Graph, want: set[str], definition: Callable[[Graph, str], Definition],
           ) -> Graph:
    """The graph with every gate whose op is in `want` replaced by its body, nested composites
    too (one pass per level of nesting); `definition(graph, op)` gives an op's body."""
    for _ in range(MAX_DEPTH + 2):
        if not want.intersection(graph.ops):
            break
        graph = _inline_once(graph, want, definition)
    return graph


def _inline_once(graph: Graph, want: set[str],
                 definition: Callable[[Graph, str], Definition]) -> ExpandedGraph:
    new = ExpandedGraph(graph.text)
    new.custom_ops = graph.custom_ops
    old_display: dict[int, str] = getattr(graph, "display", {})
    remap: list[int] = []
    for node in range(len(graph)):
        kind = graph.ops[node]
        args = tuple(remap[i] for i in graph.args[node])
        if kind in want:
            remap.append(_inline(new, graph, node, definition(graph, kind), args))
            continue
        m = new.add_node(kind, args, graph.starts[node], graph.ends[node])
        new.names[m] = graph.names[node]
        _copy_extras(graph, node, new, m)
        if node in old_display:
            new.display[m] = old_display[node]
        remap.append(m)
    new.inputs = {name: remap[n] for name, n in graph.inputs.items()}
    new.defaults = dict(graph.defaults)
    new.declared_shapes = dict(graph.declared_shapes)
    new.output = remap[graph.output]
    return new


def _inline(new: ExpandedGraph, graph: Graph, node: int, d: Definition,
            args: tuple[int, ...]) -> int:
    """Copy d's body into `new`, wired to `args`; return the node that carries its output."""
    body = d.body
    first = len(new)
    start, end = graph.starts[node], graph.ends[node]
    param_arg = {body.inputs[p]: a for p, a in zip(d.params, args, strict=True)}
    labels = {p: _label(new, a) for p, a in zip(d.params, args, strict=True)}
    bmap = [0] * len(body)
    for b in range(len(body)):
        kind = body.ops[b]
        if kind == INPUT:
            bmap[b] = param_arg[b]
            continue
        bargs = tuple(bmap[i] for i in body.args[b])
        if d.builtin:
            m = new.add_node(kind, bargs, start, end)
            new.display[m] = _substitute(body.text[body.starts[b] : body.ends[b]], labels)
        else:
            m = new.add_node(kind, bargs, body.starts[b], body.ends[b])
        _copy_extras(body, b, new, m)
        bmap[b] = m
    out = bmap[body.output]
    name = graph.names[node]
    if name is not None or node == graph.output:
        if out < first or new.names[out] is not None:
            out = new.add_node("id", (out,), start, end)
        new.names[out] = name
    return out


def _copy_extras(graph: Graph, node: int, new: Graph, m: int) -> None:
    """What a node carries besides its op and wires: a constant's number or array, a gate's
    integer arguments."""
    if graph.ops[node] == CONST:
        new.consts[m] = graph.consts[node]
        if node in graph.arrays:
            new.arrays[m] = graph.arrays[node]
    if node in graph.params:
        new.params[m] = graph.params[node]


def _label(graph: Graph, node: int) -> str:
    name = graph.names[node]
    if name is not None:
        return name
    text = graph.source(node, 30)
    if text.endswith("…"):
        return f"#{node}"
    simple = re.fullmatch(r"[\w.]+|\(.*\)", text) is not None
    return text if simple else f"({text})"


def _substitute(text: str, labels: dict[str, str]) -> str:
    text = " ".join(text.split())
    return re.sub(r"\b[A-Za-z_]\w*", lambda m: labels.get(m.group(0), m.group(0)), text)
