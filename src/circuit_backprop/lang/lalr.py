"""A lean driver for the LALR(1) tables that Lark builds from grammar.lark.

Lark does the hard part: it reads the grammar, works out the LALR(1) parse table, and knows which
tokens each rule keeps. Its own parse loop is general (any lexer, trees, error recovery, callbacks
wrapped in several layers), which costs a few microseconds per token: on a million-gate circuit,
most of the run. This driver runs the same table with:

- one master regular expression built from Lark's own terminal definitions (so the grammar stays
  the single source of the token set), matched with `re.finditer`;
- one plain loop over tokens: shift, or reduce and call the builder's method for the rule;
- callbacks made once per rule, receiving exactly the children Lark's tree builder would keep
  (anonymous tokens such as "+" dropped, `[x]` placeholders filled with None, `_rule` children
  spliced into their parent), so the builder reads like an ordinary Lark inline transformer.

The parser holds no parse's state: each `parse` is handed a builder of its own (the callbacks are
the builder class's functions, called with that builder), so one LeanParser serves every parse.
What it does keep is a cache of recorded lines (see _segment), which depends only on the tables.

tables_from_lark reads Lark's private API (its parse table, rules, terminals). So the Lark
releases pyproject.toml admits are those on which tests/test_lalr_stock.py passes: random
programs and broken ones give the same graphs and the same errors here as through stock Lark.

Nothing here recurses: the parser's stack is a list, so a 100,000-deep expression is fine.
"""

from __future__ import annotations

import marshal
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from operator import attrgetter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # Lark itself is imported only when the tables are (re)built: see parse.py
    from lark import Lark

SHIFT, PASS, REDUCE = 0, 1, 2
IGNORED_AT_END = "IGNORED_AT_END"  # the lexer's name for the end, after any ignored text


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
                  keywords, kept)


def _master_regexp(lark: Lark) -> tuple[str, dict[str, str]]:
    terminals = lark.lexer_conf.terminals
    name_re = next(re.compile(t.pattern.to_regexp()) for t in terminals if t.name == "NAME")
    words, patterns, strings = {}, [], []
    for term in terminals:
        regexp = term.pattern.to_regexp()
        if term.name in lark.lexer_conf.ignore:
            continue  # (matched before each token: see below)
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
    # after it: one match per token instead of two. It is matched possessively (`*+`), as Lark's
    # lexer matches each ignored token whole: were it allowed to give back characters, a comment
    # at the very end (`f = x  # the end`) would end in a NAME (`end`). Ignored text with no
    # token after it matches on its own, as IGNORED_AT_END.
    skip = "|".join(t.pattern.to_regexp() for t in terminals if t.name in lark.lexer_conf.ignore)
    parts.append(rf"(?P<{IGNORED_AT_END}>\Z)")
    return f"(?:{skip})*+(?:" + "|".join(parts) + ")", words


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
    """Lark's tables, ready to drive builders of `builder_type`: its methods are looked up on
    the class once, here, and called with the builder each `parse` is given."""

    def __init__(self, tables: Tables, builder_type: type, segment_end: str = "_NL") -> None:
        self.start_state = tables.start_state
        self.end_state = tables.end_state
        self.lexer = re.compile(tables.lexer, re.DOTALL)
        self.keywords = tables.keywords
        self.kept_terminals = set(tables.kept)
        self.segment_end = segment_end
        self.segments: dict[tuple, _Segment] = {}  # see _segment
        reducers = [(r.size, r.origin, *_reducer(r, builder_type)) for r in tables.rules]

        # The table, each action as (what, arg): SHIFT to state arg; PASS, a `?rule: child`
        # whose child's value passes through (only the state changes); REDUCE by (size, origin,
        # callback, direct), direct being (method, positions of its arguments) for the common
        # callback that merely picks children (see _Recorder). Callbacks and methods take the
        # parse's builder first.
        def action(kind: str, arg: int) -> tuple[int, Any]:
            if kind == "shift":
                return SHIFT, arg
            size, origin, callback, _ = reducers[arg]
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

    # --- the loop -----------------------------------------------------------------------------

    def parse(self, text: str, builder: Any) -> Any:
        """Parse `text`, calling `builder`'s methods as rules are reduced; return the start
        rule's value. A chunk of lines is scanned at a time, then each line (a segment) is run
        with _segment."""
        state_stack = [self.start_actions]
        value_stack: list[Any] = []
        pos, size = 0, len(text)
        while pos < size:
            stop = text.find("\n", pos + CHUNK)  # chunks end with a line: no token is cut
            stop = size if stop == -1 else stop + 1
            self._chunk(text, pos, stop, state_stack, value_stack, builder)
            pos = stop
        return self._finish(text, state_stack, value_stack, builder)

    def _chunk(self, text: str, pos: int, stop: int, state_stack: list, value_stack: list,
               builder: Any) -> None:
        # One regular-expression scan for the whole chunk, the token kinds read in one pass:
        # per-token work in Python is what a million-gate file pays for, so there is little.
        matches = list(self.lexer.finditer(text, pos, stop))
        kinds = list(map(_LASTGROUP, matches))
        chunk = text[pos:stop]
        if any(word in chunk for word in self.keywords):  # (rare: input, output, def)
            for i, kind in enumerate(kinds):
                if kind == "NAME":
                    kinds[i] = self.keywords.get(matches[i].group("NAME"), "NAME")
        while kinds and kinds[-1] == IGNORED_AT_END:  # ignored text at the end, and the end
            kinds.pop()
            matches.pop()
        bad = kinds.index("CHAR") if "CHAR" in kinds else len(kinds)
        end, segment = self.segment_end, self._segment
        start = 0
        while True:
            try:
                line_end = kinds.index(end, start, bad) + 1
            except ValueError:
                break
            segment(state_stack, value_stack, kinds[start:line_end], matches, start, builder)
            start = line_end
        rest = kinds[start:bad]  # the end of the program with no new line, or up to a bad char
        self._feed(state_stack, value_stack, rest, self._tokens(rest, matches, start),
                   matches[start:bad], builder)
        if bad < len(kinds):
            m = matches[bad]
            raise LalrSyntaxError(m.start("CHAR"), m.group("CHAR"), "CHAR",
                                  self._expected(state_stack))

    def _tokens(self, kinds: list[str], matches: list[re.Match], start: int) -> list[Tok | None]:
        """The values a line's tokens put on the stack: a Tok if a rule keeps it, else None."""
        kept = self.kept_terminals
        return [_token(matches[start + i], kind) if kind in kept else None
                for i, kind in enumerate(kinds)]

    def _segment(self, state_stack: list, value_stack: list, kinds: list[str],
                 matches: list[re.Match], start: int, builder: Any) -> None:
        """Run one line's tokens (kinds[i] is matches[start + i]) through the table.

        What the LALR table does depends only on the stack of states and the kinds of the
        tokens (NAME, "+", ...), never on their text. So the first line of each shape (`NAME =
        NAME * NUMBER`, from the same stack of states) runs step by step and is recorded as a
        short program: which callbacks to call, with which tokens and earlier results, and the
        stack it leaves. Every later line of that shape replays the program: the same callbacks
        in the same order with the same children, without the table walk. On a generated
        million-gate circuit, with a handful of shapes, this removes most of the parser's steps.
        """
        key = (*map(id, state_stack), None, *kinds)
        segment = self.segments.get(key)
        if segment is None:
            tokens = self._tokens(kinds, matches, start)
            line = matches[start : start + len(kinds)]
            recorder = None
            if (len(self.segments) < MAX_SEGMENTS and len(state_stack) <= MAX_KEYED_DEPTH
                    and len(kinds) <= MAX_RECORDED_TOKENS):
                recorder = _Recorder(len(value_stack))
            self._feed(state_stack, value_stack, kinds, tokens, line, builder, recorder)
            if recorder is not None:
                self.segments[key] = recorder.segment(state_stack, kinds, self.kept_terminals)
            return
        low = segment.low
        env = value_stack[low:]  # the stack values it reads, the tokens, then its results
        tokens = [None] * len(kinds)
        for i in segment.kept:
            tokens[i] = _token(matches[start + i], kinds[i])
        env += tokens
        push = env.append
        for f, n, a, b, c in segment.program:
            if n == 2:
                push(f(builder, env[a], env[b]))
            elif n == 1:
                push(f(builder, env[a]))
            elif n == 3:
                push(f(builder, env[a], env[b], env[c]))
            elif n == 0:
                push(f(builder))
            else:  # the callback takes the rule's whole list of children
                push(f(builder, [env[i] for i in a]))
        del value_stack[low:]
        value_stack += [env[i] for i in segment.values]
        del state_stack[low + 1 :]
        state_stack += segment.states

    def _feed(self, state_stack: list, value_stack: list, kinds: list[str], tokens: list,
              matches: list, builder: Any, recorder: _Recorder | None = None) -> None:
        """The LALR loop: for each token, reduce while the table says so, then shift it."""
        push_state, push_value = state_stack.append, value_stack.append
        for i, kind in enumerate(kinds):
            while True:
                try:
                    what, arg = state_stack[-1][kind]
                except KeyError:
                    m = matches[i]
                    raise LalrSyntaxError(m.start(m.lastgroup), m.group(m.lastgroup), kind,
                                          self._expected(state_stack)) from None
                if what is SHIFT:
                    push_state(arg)
                    push_value(tokens[i])
                    if recorder is not None:
                        recorder.shift(i)
                    break
                if what is PASS:
                    state_stack[-1] = state_stack[-2][arg][1]
                    if recorder is not None:
                        recorder.pass_through()
                    continue
                _reduce(state_stack, value_stack, arg, builder)
                if recorder is not None:
                    recorder.reduce(*arg)

    def _finish(self, text: str, state_stack: list[Any], value_stack: list[Any],
                builder: Any) -> Any:
        """The end of the program: reduce on $END until the start rule is accepted."""
        while state_stack[-1] is not self.end_actions:
            try:
                what, arg = state_stack[-1]["$END"]
            except KeyError:
                raise LalrSyntaxError(len(text), "", "$END", self._expected(state_stack)) from None
            if what is PASS:
                state_stack[-1] = state_stack[-2][arg][1]
            else:
                _reduce(state_stack, value_stack, arg, builder)
        return value_stack[-1]

    def _expected(self, state_stack: list[Any]) -> set[str]:
        return {s for s in state_stack[-1] if s.isupper() or s == "$END"}


CHUNK = 1 << 16  # characters scanned at a time (then up to the end of that line)
MAX_KEYED_DEPTH = 16  # a line ends with a stack this deep at most, in a valid program
MAX_SEGMENTS = 4096  # shapes of line recorded, at most (a few hundred bytes each)
MAX_RECORDED_TOKENS = 256  # a longer line (a 100,000-deep expression) is not worth recording


@dataclass
class _Segment:
    """A recorded line: see LeanParser._segment. Indices are into the replay's `env` list."""

    low: int  # the value stack's lowest height during the line: what lies below is untouched
    program: tuple[tuple[Any, int, Any, int, int], ...]  # (callback, n, a, b, c): see _segment
    values: tuple[int, ...]  # the value stack above `low` afterwards
    states: list[Any]  # the state stack above `low` afterwards
    kept: tuple[int, ...]  # the line's tokens that are read (the others stay None)


class _Recorder:
    """Follows one run of _feed symbolically: where each value on the stack comes from (a value
    that was on the stack before, a token of the line, or a callback's result)."""

    OLD, TOKEN, RESULT = 0, 1, 2

    def __init__(self, height: int) -> None:
        self.height = height
        self.refs: list[tuple[int, int]] = [(self.OLD, p) for p in range(height)]
        self.low = height
        self.steps: list[tuple[Any, Any, list[tuple[int, int]]]] = []

    def shift(self, i: int) -> None:
        self.refs.append((self.TOKEN, i))

    def pass_through(self) -> None:
        # the top state is replaced: the replay must restore it, so it counts as popped
        self.low = min(self.low, len(self.refs) - 1)

    def reduce(self, size: int, origin: str, callback: Any, direct: Any) -> None:
        refs = self.refs
        cut = len(refs) - size
        children = refs[cut:]
        del refs[cut:]
        self.low = min(self.low, cut)
        if callback is None:
            refs.append(children[0])
            return
        self.steps.append((callback, direct, children))
        refs.append((self.RESULT, len(self.steps) - 1))

    def segment(self, state_stack: list, kinds: list[str], kept_terminals: set[str]) -> _Segment:
        low, height, ntokens = self.low, self.height, len(kinds)
        used: set[int] = set()  # the tokens the replay must make: those something reads

        def index(ref: tuple[int, int]) -> int:
            kind, i = ref
            if kind == self.OLD:
                return i - low
            if kind == self.TOKEN and kinds[i] in kept_terminals:  # (others are None)
                used.add(i)
            return height - low + i + (ntokens if kind == self.RESULT else 0)

        program = []
        for callback, direct, children in self.steps:
            if direct is not None and len(direct[1]) <= 3:
                method, positions = direct
                args = [index(children[p]) for p in positions]
                program.append((method, len(args), *args, *[0] * (3 - len(args))))
            else:
                program.append((callback, -1, tuple(index(c) for c in children), 0, 0))
        values = tuple(index(r) for r in self.refs[low:])
        return _Segment(low, tuple(program), values, state_stack[low + 1 :], tuple(sorted(used)))


_LASTGROUP = attrgetter("lastgroup")


def _reduce(state_stack: list, value_stack: list, arg: tuple, builder: Any) -> None:
    """One reduction: pop the rule's children, push its callback's value and the goto state."""
    size, origin, callback, _ = arg
    if size:
        children = value_stack[-size:]
        del state_stack[-size:]
        del value_stack[-size:]
    else:
        children = []
    state_stack.append(state_stack[-1][origin][1])
    value_stack.append(children[0] if callback is None else callback(builder, children))


def _token(m: re.Match, kind: str) -> Tok:
    group = m.lastgroup  # (a keyword is lexed as a NAME)
    token = Tok(m.group(group))
    token.type = kind
    token.start_pos, token.end_pos = m.span(group)
    return token


def _nothing(builder: Any, children: list) -> None:
    return None


def _reducer(rule: RuleSpec, builder_type: type) -> tuple[Callable[[Any, list], Any] | None, Any]:
    """The rule's callback, callback(builder, children) (None: its one child passes through),
    and (method, positions) when all it does is call method(builder, *children at positions),
    method being the builder class's function for the rule."""
    origin = rule.origin
    name = rule.alias or origin
    if origin == "start" or origin.startswith("__start"):
        # statements act when they are reduced; the program's list of them is not needed
        return (builder_type.start if origin == "start" else _nothing), None
    plan, trailing = rule.plan, rule.trailing
    method = getattr(builder_type, name, None)
    simple = not trailing and all(not expand and not nones for _, expand, nones in plan)
    if method is None and origin.startswith("_"):
        if simple and len(plan) == 1:  # (the usual `_rule`: one child, spliced in)
            (i,) = [i for i, _, _ in plan]
            return (lambda b, s: _Splice((s[i],))), None
        return (lambda b, s: _Splice(_filter(s, plan, trailing))), None
    if method is None:
        if rule.expand1 and len(plan) == 1 and simple:
            return None, None  # `?rule: child`: the child's value passes through
        raise ValueError(f"the builder has no method for grammar rule {name!r}")
    if simple:
        positions = [i for i, _, _ in plan]
        direct = (method, positions)
        if len(positions) == 1:
            (i,) = positions
            return (lambda b, s: method(b, s[i])), direct
        if len(positions) == 2:
            i, j = positions
            return (lambda b, s: method(b, s[i], s[j])), direct
        if len(positions) == 3:
            i, j, k = positions
            return (lambda b, s: method(b, s[i], s[j], s[k])), direct
    return (lambda b, s: method(b, *_filter(s, plan, trailing))), None


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
