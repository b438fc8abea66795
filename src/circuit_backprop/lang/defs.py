"""Defs while a program is parsed: `def NAME(a, b) = EXPR` becomes a composite op.

The parser (parse.py) calls in here at four points: `def_head` (open a body graph, before the
body is reduced), `name` inside a body, `call` of a name that is not a built-in function (recorded
and checked at the end, so a def may call one defined later), `def_stmt` (close the body) and
`finish` (check calls: arity, recursion, depth). `builder` is the parser's `_Builder`. Nothing
here recurses over the program: the checks are loops.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from circuit_backprop.core.composite import MAX_DEPTH, Definition, make_op
from circuit_backprop.core.graph import Graph
from circuit_backprop.core.ops import CONST, CONSTANTS, FUNCTIONS, INPUT, OPS
from circuit_backprop.lang.refs import Ref

if TYPE_CHECKING:
    from lark import Token


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

    def name_ref(self, builder: Any, tok: Token) -> Ref:
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

    def open_def(self, builder: Any, name_tok: Token, params: list[Token]) -> None:
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

    def close_def(self, builder: Any, ref: Ref) -> None:
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

    def call(self, builder: Any, fname: Token, args: list[Ref], rpar: Token) -> Ref:
        """A call of a name that is not a built-in function: a def, checked in `resolve`."""
        builder.check_not_reserved(fname)
        caller = self.open.name if self.open is not None else None
        self.calls.append(_Call(str(fname), len(args), fname.start_pos, caller))
        return builder._gate(str(fname), tuple(args), fname.start_pos, rpar.end_pos)

    def resolve(self, builder: Any) -> None:
        """At the end of the program: every call has its def's arity; no recursion. (The builder
        has checked that every call names a def.)"""
        defs = self.defs
        callees: dict[str, list[_Call]] = {name: [] for name in defs}
        for c in self.calls:
            d = defs[c.name]
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

    def _check_cycles(self, builder: Any, callees: dict[str, list[_Call]]) -> None:
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
