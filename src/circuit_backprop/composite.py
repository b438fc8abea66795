"""Composite gates: `def NAME(a, b) = EXPR`, and `--expand`.

cs231n: "Multiple gates can be grouped into a single gate. A single gate can be broken up into
multiple gates." A `def` groups gates: its body is parsed into a small graph of its own (the
parameters are that graph's inputs), and every call is *one* gate whose op is a `CompositeOp`
built from the body. Its value is a forward pass through the body; its local gradient with
respect to parameter k is a backward pass through the body. So the engine needs no special case:
a composite is an op like any other, registered in the program's `graph.custom_ops`.

`expand` breaks gates up again: it inlines bodies into primitive gates, for user defs and for the
built-in ops that are composites (those with `Op.expands_to` in the registry: `sigmoid`, whose
body is `1 / (1 + exp(-a))`, as in cs231n's 2-D neuron diagram).

The parser (parse.py) calls in here at four points: `def_head` (open a body graph, before the
body is reduced), `name` inside a body, `call` of a name that is not a built-in function (recorded
and checked at the end, so a def may call one defined later), `def_stmt` (close the body) and
`finish` (check calls: unknown names, arity, recursion). Nothing here recurses over the program:
checks are loops, and inlining is one linear pass per level of nesting (at most MAX_DEPTH).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from circuit_backprop import engine
from circuit_backprop.errors import EvalError, UsageError
from circuit_backprop.graph import SOURCE_LIMIT, Graph
from circuit_backprop.ops import CONST, CONSTANTS, FUNCTIONS, INPUT, OPS, Op

if TYPE_CHECKING:
    from lark import Token

    from circuit_backprop.parse import Ref, _Builder

MAX_DEPTH = 32  # defs may call defs this many levels deep (evaluation nests one frame per level)
PARAM_NAMES = ("a", "b")  # parameters of built-in composites' bodies (Op.expands_to)


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
    """An op whose value and local gradients come from passes through a body graph."""

    definition: Definition | None = None


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
            depends = [False] * len(body)
            depends[self.param_nodes[k]] = True
            for node, args in enumerate(body.args):
                if args and any(depends[i] for i in args):
                    depends[node] = True
            masked = engine.Trace(body, trace.values, depends)
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
                vals.append(t.tensor(body.consts[node], dtype=dtype))
            else:
                vals.append(body.op(node).torch(t, *(vals[i] for i in body.args[node])))
        return vals[body.output]


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def make_op(definition: Definition) -> CompositeOp:
    """The registry entry for a def: one gate, evaluated by passes through its body."""
    body = _Body(definition)
    params = definition.params
    name = definition.name
    signature = f"{name}({', '.join(params)})"

    def local(k: int) -> Any:
        return lambda *xs_out: body.partial(k, xs_out[:-1])

    return CompositeOp(
        name=name,
        symbol=name,
        arity=len(params),
        value=body.value,
        local=tuple(local(k) for k in range(len(params))),
        formulas=tuple(f"∂/∂{p} of {_shorten(definition.text)}" for p in params),
        text=signature,
        torch=body.torch,
        torch_text=f"{signature} = {definition.text}",
        domain=body.domain,
        kink=body.kink,
        call=name,
        definition=definition,
    )


# --- parsing: called by parse._Builder ------------------------------------------------------------


@dataclass
class _Call:
    name: str
    nargs: int
    offset: int
    caller: str | None  # the def whose body makes the call, or None in the program itself


@dataclass
class _Open:
    """A def whose body is being parsed: the builder's graph is swapped for `body` meanwhile."""

    name: str
    start: int
    params: tuple[str, ...]
    main: Graph
    body: Graph
    consts: dict[str, int] = field(default_factory=dict)

    def name_ref(self, builder: _Builder, tok: Token) -> Ref:
        from circuit_backprop.parse import Ref

        builder.check_not_reserved(tok)
        name = str(tok)
        body = self.body
        node = body.inputs.get(name)
        if node is None:
            node = self.consts.get(name)
        if node is None:
            if name not in CONSTANTS:
                raise builder.error(
                    f"'{name}' is not a parameter of {self.name}: a def's body can only use its "
                    "parameters (gates are local)",
                    tok.start_pos,
                    [f"make it a parameter: def {self.name}({', '.join(self.params + (name,))})"
                     " = ..."],
                )
            node = body.add_node(CONST, (), tok.start_pos, tok.end_pos)
            body.consts[node] = CONSTANTS[name]
            body.names[node] = name
            self.consts[name] = node
        return Ref(node, tok.start_pos, tok.end_pos)


class DefState:
    """The defs of one program being parsed, and the calls still to check."""

    def __init__(self) -> None:
        self.defs: dict[str, Definition] = {}
        self.calls: list[_Call] = []
        self.open: _Open | None = None

    def open_def(self, builder: _Builder, name_tok: Token, params: list[Token]) -> None:
        builder.check_not_reserved(name_tok)
        name = str(name_tok)
        line = builder.line_of(name_tok.start_pos)
        if name in FUNCTIONS or name in OPS or name in (INPUT, CONST):
            what = f"function {name}()" if name in FUNCTIONS else f"gate '{name}'"
            raise builder.error(
                f"def '{name}' would shadow the built-in {what}",
                name_tok.start_pos,
                ["built-ins cannot be redefined: give the def another name"],
            )
        if name in self.defs:
            first = builder.line_of(self.defs[name].start)
            raise builder.error(
                f"def '{name}' is defined twice: on line {first} and on line {line}",
                name_tok.start_pos,
            )
        main = builder.graph
        body = Graph(main.text)
        body.custom_ops = main.custom_ops  # shared: a body may call another def
        for tok in params:
            p = str(tok)
            if p in body.inputs:
                raise builder.error(
                    f"parameter '{p}' is used twice in def {name}",
                    tok.start_pos,
                    ["each parameter needs its own name"],
                )
            node = body.add_node(INPUT, (), tok.start_pos, tok.end_pos)
            body.names[node] = p
            body.inputs[p] = node
        self.open = _Open(name, name_tok.start_pos, tuple(str(p) for p in params), main, body)
        builder.graph = body

    def close_def(self, builder: _Builder, ref: Ref) -> None:
        opened = self.open
        assert opened is not None
        body = opened.body
        body.output = ref.node
        text = " ".join(body.text[ref.start : ref.end].split())
        definition = Definition(opened.name, opened.params, body, text, opened.start)
        self.defs[opened.name] = definition
        opened.main.custom_ops[opened.name] = make_op(definition)
        builder.graph = opened.main
        self.open = None

    def call(self, builder: _Builder, fname: Token, args: list[Ref], rpar: Token) -> Ref:
        """A call of a name that is not a built-in function: a def, checked in `resolve`."""
        builder.check_not_reserved(fname)
        caller = self.open.name if self.open is not None else None
        self.calls.append(_Call(str(fname), len(args), fname.start_pos, caller))
        return builder._gate(str(fname), tuple(args), fname.start_pos, rpar.end_pos)

    def resolve(self, builder: _Builder) -> None:
        """At the end of the program: every call names a def, with its arity; no recursion."""
        from circuit_backprop.parse import _suggest

        defs = self.defs
        callees: dict[str, list[_Call]] = {name: [] for name in defs}
        for c in self.calls:
            d = defs.get(c.name)
            if d is None:
                raise builder.error(
                    f"unknown function '{c.name}'",
                    c.offset,
                    _suggest(c.name, list(FUNCTIONS) + list(defs)),
                )
            if c.nargs != len(d.params):
                n = len(d.params)
                raise builder.error(
                    f"{c.name}() takes {n} argument{'s' if n != 1 else ''}, got {c.nargs}",
                    c.offset,
                    [f"usage: {c.name}({', '.join(d.params)}), defined on line "
                     f"{builder.line_of(d.start)}"],
                )
            if c.caller == c.name:
                raise builder.error(
                    f"def '{c.name}' calls itself: a gate cannot contain itself (no recursion)",
                    c.offset,
                )
            if c.caller is not None:
                callees[c.caller].append(c)
        self._check_cycles(builder, callees)

    def _check_cycles(self, builder: _Builder, callees: dict[str, list[_Call]]) -> None:
        """Kahn's algorithm over def → called def; what is left over lies on a cycle."""
        waiting = {name: len({c.name for c in calls}) for name, calls in callees.items()}
        callers: dict[str, set[str]] = {name: set() for name in callees}
        for name, calls in callees.items():
            for c in calls:
                callers[c.name].add(name)
        ready = [name for name, n in waiting.items() if n == 0]
        depth = dict.fromkeys(callees, 1)
        done = 0
        while ready:
            name = ready.pop()
            done += 1
            for caller in callers[name]:
                depth[caller] = max(depth[caller], depth[name] + 1)
                waiting[caller] -= 1
                if waiting[caller] == 0:
                    ready.append(caller)
        if done < len(callees):
            start = next(name for name in self.defs if waiting[name] > 0)
            path, seen = [start], {start}
            while True:
                step = next(c for c in callees[path[-1]] if waiting[c.name] > 0)
                if step.name in seen:
                    cycle = path[path.index(step.name) :] + [step.name]
                    first = next(c for c in callees[cycle[0]] if c.name == cycle[1])
                    raise builder.error(
                        "defs call each other in a cycle: " + " → ".join(cycle),
                        first.offset,
                        ["a gate cannot contain itself, directly or through another def"],
                    )
                path.append(step.name)
                seen.add(step.name)
        deep = [name for name in self.defs if depth[name] > MAX_DEPTH]
        if deep:
            raise builder.error(
                f"def '{deep[0]}' nests defs {depth[deep[0]]} levels deep; at most {MAX_DEPTH}",
                self.defs[deep[0]].start,
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


@cache
def builtin_definition(op_name: str) -> Definition:
    """The body of a built-in composite (`Op.expands_to`), parsed once."""
    from circuit_backprop.parse import parse

    op = OPS[op_name]
    assert op.expands_to is not None
    body = parse(op.expands_to)
    return Definition(op.call or op.name, PARAM_NAMES[: op.arity], body, op.expands_to,
                      builtin=True)


def builtin_composites() -> list[str]:
    """Built-in ops that `--expand` breaks into primitives."""
    return [name for name, op in OPS.items() if op.expands_to]


def user_composites(graph: Graph) -> list[str]:
    return [name for name, op in graph.custom_ops.items() if isinstance(op, CompositeOp)]


def expand(graph: Graph, names: list[str] | None = None) -> Graph:
    """Inline the bodies of the named composites (all of them when `names` is None)."""
    available = user_composites(graph) + builtin_composites()
    if names is None:
        want = set(available)
    else:
        unknown = [n for n in names if n not in available]
        if unknown:
            raise UsageError(
                "--expand: no composite gate named " + ", ".join(f"'{n}'" for n in unknown),
                [f"composite gates here: {', '.join(available)} "
                 f"(built-in: {', '.join(builtin_composites())})"],
            )
        want = set(names)
    for _ in range(MAX_DEPTH + 2):  # one pass per level of nesting
        if not want.intersection(graph.ops):
            break
        graph = _inline_once(graph, want)
    return graph


def _definition(graph: Graph, kind: str) -> Definition:
    op = graph.custom_ops.get(kind)
    if isinstance(op, CompositeOp) and op.definition is not None:
        return op.definition
    return builtin_definition(kind)


def _inline_once(graph: Graph, want: set[str]) -> ExpandedGraph:
    new = ExpandedGraph(graph.text)
    new.custom_ops = graph.custom_ops
    old_display: dict[int, str] = getattr(graph, "display", {})
    remap: list[int] = []
    for node in range(len(graph)):
        kind = graph.ops[node]
        args = tuple(remap[i] for i in graph.args[node])
        if kind in want:
            remap.append(_inline(new, graph, node, _definition(graph, kind), args))
            continue
        m = new.add_node(kind, args, graph.starts[node], graph.ends[node])
        new.names[m] = graph.names[node]
        if kind == CONST:
            new.consts[m] = graph.consts[node]
        if node in old_display:
            new.display[m] = old_display[node]
        remap.append(m)
    new.inputs = {name: remap[n] for name, n in graph.inputs.items()}
    new.defaults = dict(graph.defaults)
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
        if kind == CONST:
            new.consts[m] = body.consts[b]
        bmap[b] = m
    out = bmap[body.output]
    name = graph.names[node]
    if name is not None or node == graph.output:
        if out < first or new.names[out] is not None:
            out = new.add_node("id", (out,), start, end)
        new.names[out] = name
    return out


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
