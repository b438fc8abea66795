"""A lean driver for the LALR(1) tables that Lark builds from grammar.lark.

Lark does the hard part: it reads the grammar, works out the LALR(1) parse table, and knows which
tokens each rule keeps. Its own parse loop is general (any lexer, trees, error recovery, callbacks
wrapped in several layers), which costs a few microseconds per token: on a million-gate circuit,
most of the run. This driver runs the same table with:

- one master regular expression built from Lark's own terminal definitions (so the grammar stays
  the single source of the token set), matched with `re.finditer`;
- one plain loop over tokens: shift, or reduce and call the builder's method for the rule;
- callbacks bound once per rule, receiving exactly the children Lark's tree builder would keep
  (anonymous tokens such as "+" dropped, `[x]` placeholders filled with None, `_rule` children
  spliced into their parent), so the builder reads like an ordinary Lark inline transformer.

Nothing here recurses: the parser's stack is a list, so a 100,000-deep expression is fine.
"""

from __future__ import annotations

import marshal
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # Lark itself is imported only when the tables are (re)built: see parse.py
    from lark import Lark

SHIFT, PASS, REDUCE = 0, 1, 2


class Tok(str):
    """A token: its text, its terminal name, and its [start, end) offsets in the source."""

    type: str
    start_pos: int
    end_pos: int


class _Splice(list):
    """Children of a `_rule`, to be spliced into the parent rule's children (as Lark does)."""


class LalrSyntaxError(Exception):
    """Raised with the offending token (or character) and the terminals that were expected."""

    def __init__(self, offset: int, found: str, kind: str, expected: set[str]) -> None:
        super().__init__(f"unexpected {kind} {found!r} at offset {offset}")
        self.offset = offset
        self.found = found  # the token's text ("" at the end)
        self.kind = kind  # its terminal name, "$END", or "CHAR" for an unknown character
        self.expected = expected


@dataclass
class RuleSpec:
    """What the driver needs to know of one grammar rule."""

    size: int  # how many symbols it reduces
    origin: str  # the rule's name (its left-hand side)
    alias: str | None  # the `-> alias`, if any
    plan: list[tuple[int, bool, int]]  # the children Lark's tree builder keeps: see _child_plan
    trailing: int  # Nones to append (`[x]` placeholders at the end)
    expand1: bool  # a `?rule`: a single child passes through


@dataclass
class Tables:
    """Lark's analysis of grammar.lark, as plain data (so that it can be cached on disk)."""

    states: dict[int, dict[str, list]]  # state -> symbol -> ["shift", state] or ["reduce", rule]
    rules: list[RuleSpec]
    start_state: int
    end_state: int
    lexer: str  # the master regular expression, one named group per terminal
    ignore: list[str]
    keywords: dict[str, str]  # "input" -> "INPUT": words that NAME would match
    kept: list[str]  # terminals that some rule keeps as a child


def tables_from_lark(lark: Lark) -> Tables:
    table = lark.parser.parser._parse_table  # the LALR(1) table computed by Lark
    index = {rule: i for i, rule in enumerate(lark.rules)}
    rules = []
    for rule in lark.rules:
        plan, trailing = _child_plan(rule)
        alias = str(rule.alias) if rule.alias else None  # (plain str: Lark's are Tokens)
        rules.append(RuleSpec(len(rule.expansion), str(rule.origin.name), alias, plan, trailing,
                              bool(rule.options.expand1)))
    states = {
        state: {
            symbol: ["shift", arg] if action.name == "Shift" else ["reduce", index[arg]]
            for symbol, (action, arg) in actions.items()
        }
        for state, actions in table.states.items()
    }
    kept = sorted({sym.name for rule in lark.rules for sym in rule.expansion
                   if sym.is_term and not sym.filter_out})
    lexer, keywords = _master_regexp(lark)
    return Tables(states, rules, table.start_states["start"], table.end_states["start"], lexer,
                  list(lark.lexer_conf.ignore), keywords, kept)


def _master_regexp(lark: Lark) -> tuple[str, dict[str, str]]:
    terminals = lark.lexer_conf.terminals
    name_re = next(re.compile(t.pattern.to_regexp()) for t in terminals if t.name == "NAME")
    words, patterns, strings = {}, [], []
    for term in terminals:
        regexp = term.pattern.to_regexp()
        if term.pattern.type == "str" and name_re.fullmatch(term.pattern.value):
            words[term.pattern.value] = term.name  # a keyword: lexed as NAME, then renamed
        elif term.pattern.type == "str":
            strings.append((len(term.pattern.value), term.name, regexp))
        else:
            patterns.append((term.name, regexp))
    strings.sort(reverse=True)  # longest first: "**" before "*"
    parts = [f"(?P<{name}>{regexp})" for name, regexp in patterns]
    parts += [f"(?P<{name}>{regexp})" for _, name, regexp in strings]
    parts.append(r"(?P<CHAR>.)")  # anything else: an unexpected character
    # What the grammar ignores (spaces, comments) may come first, in the same match as the token
    # after it: one match per token instead of two. Ignored text at the very end of a program
    # still matches on its own, as its own group.
    skip = "|".join(t.pattern.to_regexp() for t in terminals if t.name in lark.lexer_conf.ignore)
    return f"(?:{skip})*(?:" + "|".join(parts) + ")", words


def save_tables(tables: Tables, path: str) -> None:
    """Write the tables with marshal: plain data, read back faster than JSON, and no import."""
    data = marshal.dumps(asdict(tables))
    partial = f"{path}.{os.getpid()}"
    with open(partial, "wb") as f:
        f.write(data)
    os.replace(partial, path)  # readers see the whole file or none of it


def load_tables(path: str) -> Tables:
    with open(path, "rb") as f:
        doc = marshal.load(f)
    doc["rules"] = [RuleSpec(**{**r, "plan": [tuple(p) for p in r["plan"]]}) for r in doc["rules"]]
    return Tables(**doc)


class LeanParser:
    def __init__(self, tables: Tables, builder: Any) -> None:
        self.start_state = tables.start_state
        self.end_state = tables.end_state
        self.builder = builder
        self.lexer = re.compile(tables.lexer, re.DOTALL)
        self.ignore = set(tables.ignore)
        self.keywords = tables.keywords
        self.kept_terminals = set(tables.kept)
        reducers = [(r.size, r.origin, self._reducer(r)) for r in tables.rules]

        # The table, each action as (what, arg): SHIFT to state arg; PASS, a `?rule: child`
        # whose child's value passes through (only the state changes); REDUCE by (size, origin,
        # callback).
        def action(kind: str, arg: int) -> tuple[int, Any]:
            if kind == "shift":
                return SHIFT, arg
            size, origin, callback = reducers[arg]
            return (PASS, origin) if size == 1 and callback is None else (REDUCE, reducers[arg])

        self.states: dict[int, dict[str, tuple[int, Any]]] = {
            state: {symbol: action(kind, arg) for symbol, (kind, arg) in actions.items()}
            for state, actions in tables.states.items()
        }
        # The stack holds each state's table of actions, and a shift or a goto names the next
        # state by its table: one dictionary lookup per step instead of two.
        for actions in self.states.values():
            for symbol, (what, arg) in actions.items():
                if what is SHIFT:
                    actions[symbol] = (SHIFT, self.states[arg])
        self.start_actions = self.states[self.start_state]
        self.end_actions = self.states[self.end_state]

    # --- callbacks ----------------------------------------------------------------------------

    def _reducer(self, rule: RuleSpec) -> Callable[[list], Any] | None:
        origin = rule.origin
        name = rule.alias or origin
        if origin == "start" or origin.startswith("__start"):
            # statements act when they are reduced; the program's list of them is not needed
            return self.builder.start if origin == "start" else _nothing
        plan, trailing = rule.plan, rule.trailing
        method = getattr(self.builder, name, None)
        simple = not trailing and all(not expand and not nones for _, expand, nones in plan)
        if method is None and origin.startswith("_"):
            return lambda s: _Splice(_filter(s, plan, trailing))
        if method is None:
            if rule.expand1 and len(plan) == 1 and simple:
                return None  # `?rule: child`: the child's value passes through
            raise ValueError(f"the builder has no method for grammar rule {name!r}")
        if simple:
            positions = [i for i, _, _ in plan]
            if len(positions) == 1:
                (i,) = positions
                return lambda s: method(s[i])
            if len(positions) == 2:
                i, j = positions
                return lambda s: method(s[i], s[j])
            if len(positions) == 3:
                i, j, k = positions
                return lambda s: method(s[i], s[j], s[k])
        return lambda s: method(*_filter(s, plan, trailing))

    # --- the loop -----------------------------------------------------------------------------

    def parse(self, text: str) -> Any:
        ignore, keywords = self.ignore, self.keywords
        kept = self.kept_terminals
        state_stack = [self.start_actions]
        value_stack: list[Any] = []
        push_state, push_value = state_stack.append, value_stack.append
        for m in self.lexer.finditer(text):
            group = kind = m.lastgroup  # (whitespace before a token is part of its match)
            if kind in ignore:
                continue
            if kind == "NAME":
                kind = keywords.get(m.group(group), "NAME")
            elif kind == "CHAR":
                raise LalrSyntaxError(m.start(group), m.group(group), "CHAR",
                                      self._expected(state_stack))
            if kind in kept:
                token = Tok(m.group(group))
                token.type = kind
                token.start_pos, token.end_pos = m.span(group)
            else:
                token = None
            while True:
                try:
                    what, arg = state_stack[-1][kind]
                except KeyError:
                    raise LalrSyntaxError(
                        m.start(group), m.group(group), kind, self._expected(state_stack)
                    ) from None
                if what is SHIFT:
                    push_state(arg)
                    push_value(token)
                    break
                if what is PASS:
                    state_stack[-1] = state_stack[-2][arg][1]
                    continue
                # a reduction (the same step as in _finish, written out here: a function call
                # per reduction would cost a third of a second on a million gates)
                size, origin, callback = arg
                if size:
                    children = value_stack[-size:]
                    del state_stack[-size:]
                    del value_stack[-size:]
                else:
                    children = []
                value = children[0] if callback is None else callback(children)
                push_state(state_stack[-1][origin][1])
                push_value(value)
        return self._finish(text, state_stack, value_stack)

    def _finish(self, text: str, state_stack: list[Any], value_stack: list[Any]) -> Any:
        while True:
            try:
                what, arg = state_stack[-1]["$END"]
            except KeyError:
                raise LalrSyntaxError(len(text), "", "$END", self._expected(state_stack)) from None
            if what is PASS:
                state_stack[-1] = state_stack[-2][arg][1]
                if state_stack[-1] is self.end_actions:
                    return value_stack[-1]
                continue
            size, origin, callback = arg
            if size:
                children = value_stack[-size:]
                del state_stack[-size:]
                del value_stack[-size:]
            else:
                children = []
            value = children[0] if callback is None else callback(children)
            state_stack.append(state_stack[-1][origin][1])
            value_stack.append(value)
            if state_stack[-1] is self.end_actions:
                return value_stack[-1]

    def _expected(self, state_stack: list[Any]) -> set[str]:
        return {s for s in state_stack[-1] if s.isupper() or s == "$END"}


def _nothing(children: list) -> None:
    return None


def _child_plan(rule: Any) -> tuple[list[tuple[int, bool, int]], int]:
    """Which children Lark's tree builder keeps: (index, splice it?, Nones to insert before)."""
    expansion = rule.expansion
    empty = rule.options.empty_indices
    if empty:
        bits = "".join(str(int(b)) for b in empty)
        nones = [len(ones) for ones in bits.split("0")]
    else:
        nones = [0] * (len(expansion) + 1)
    plan = []
    pending = 0
    for i, sym in enumerate(expansion):
        pending += nones[i]
        if not (sym.is_term and sym.filter_out):
            plan.append((i, (not sym.is_term) and sym.name.startswith("_"), pending))
            pending = 0
    return plan, pending + nones[len(expansion)]


def _filter(children: list, plan: list[tuple[int, bool, int]], trailing: int) -> list:
    kept: list = []
    for i, expand, nones in plan:
        if nones:
            kept.extend([None] * nones)
        child = children[i]
        if expand and isinstance(child, _Splice):
            kept.extend(child)
        else:
            kept.append(child)
    if trailing:
        kept.extend([None] * trailing)
    return kept
