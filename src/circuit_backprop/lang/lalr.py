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

Nothing here recurses: the parser's stack is a list, so a 100,000-deep expression is fine. A
line too long to lex whole (a 50 MB sum, a million-deep nesting) is lexed and run in pieces, its
waiting tokens kept as offsets: memory a token stays a few dozen bytes (see _long_line).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, partial
from itertools import islice
from operator import attrgetter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # Lark itself is imported only when the tables are made: see tables.py
    from lark import Lark

SHIFT, PASS, REDUCE = 0, 1, 2
IGNORED_AT_END = "IGNORED_AT_END"  # the lexer's name for the end, after any ignored text


class Tok(str):
    """A token: its text, its terminal name (`type`), and its [start, end) offsets in the source.

    Each terminal has its own subclass of Tok (token_class), which holds `type`: a token sets
    only its offsets, two attributes instead of three (a million-gate circuit makes millions).
    They are slots, not a dictionary: about 120 bytes a token (its offsets aside) instead of
    460, and made faster.
    """

    __slots__ = ("start_pos", "end_pos")
    type: str  # (the class's: see token_class)
    start_pos: int
    end_pos: int


@cache
def token_class(kind: str) -> type[Tok]:
    """The subclass of Tok for the tokens of one terminal: its `type` is `kind`."""
    return type(f"Tok_{kind}", (Tok,), {"type": kind, "__slots__": ()})


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
    expansion: list[str]  # the names of its symbols, terminals and rules, as in the grammar


@dataclass
class Tables:
    """Lark's analysis of grammar.lark, as plain data (shipped as grammar_tables.py: see
    tables.py)."""

    states: dict[int, dict[str, tuple[str, int]]]  # state -> symbol -> ("shift", state) or
    #                                                 ("reduce", rule)
    rules: list[RuleSpec]
    start_state: int
    end_state: int
    lexer: str  # the master regular expression, one named group per terminal
    keywords: dict[str, str]  # "input" -> "INPUT": words that NAME would match
    kept: list[str]  # terminals that some rule keeps as a child


def tables_from_lark(lark: Lark) -> Tables:
    """The tables of Lark's LALR(1) analysis, the same on every run (see _numbered)."""
    table = lark.parser.parser._parse_table  # the LALR(1) table computed by Lark
    index = {rule: i for i, rule in enumerate(lark.rules)}
    rules = []
    for rule in lark.rules:
        plan, trailing = _child_plan(rule)
        alias = str(rule.alias) if rule.alias else None  # (plain str: Lark's are Tokens)
        rules.append(RuleSpec(len(rule.expansion), str(rule.origin.name), alias, plan, trailing,
                              bool(rule.options.expand1), [str(s.name) for s in rule.expansion]))
    states = {
        state: {
            str(symbol): ("shift", arg) if action.name == "Shift" else ("reduce", index[arg])
            for symbol, (action, arg) in actions.items()
        }
        for state, actions in table.states.items()
    }
    start, end = table.start_states["start"], table.end_states["start"]
    states, number = _numbered(states, start)
    kept = sorted({sym.name for rule in lark.rules for sym in rule.expansion
                   if sym.is_term and not sym.filter_out})
    lexer, keywords = _master_regexp(lark)
    return Tables(states, rules, number[start], number[end], lexer, keywords, kept)


def _numbered(states: dict[int, dict[str, tuple[str, int]]],
              start: int) -> tuple[dict[int, dict[str, tuple[str, int]]], dict[int, int]]:
    """The states numbered anew, breadth first from the start state, each one's symbols in
    sorted order, and the new number of each old one.

    Lark numbers its states in the order it meets them in sets, which changes with Python's
    hash seed from one run to the next: the same table came out with 33, 0 or 95 as its start
    state. Numbered this way, the same grammar gives the same tables, written the same (see
    tables.py)."""
    number = {start: 0}
    queue = [start]
    for state in queue:  # (the queue grows as it is walked)
        for symbol in sorted(states[state]):
            what, arg = states[state][symbol]
            if what == "shift" and arg not in number:
                number[arg] = len(number)
                queue.append(arg)
    if len(number) != len(states):
        raise ValueError(f"{len(states) - len(number)} LALR states are not reachable from the "
                         "start state")
    renumbered = {
        number[state]: {
            symbol: (what, number[arg] if what == "shift" else arg)
            for symbol, (what, arg) in sorted(states[state].items())
        }
        for state in queue
    }
    return renumbered, number


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


class LeanParser:
    """Lark's tables, ready to drive builders of `builder_type`: its methods are looked up on
    the class once, here, and called with the builder each `parse` is given."""

    def __init__(self, tables: Tables, builder_type: type, segment_end: str = "_NL") -> None:
        self.start_state = tables.start_state
        self.end_state = tables.end_state
        self.lexer = re.compile(tables.lexer, re.DOTALL)
        self.keywords = tables.keywords
        self.kept_terminals = set(tables.kept)
        # the lexer's group that matches each kind of token: its own, but NAME for a keyword
        self.groups = {kind: "NAME" if kind in self.keywords.values() else kind
                       for kind in tables.kept}
        self.segment_end = segment_end
        self.segments: dict[tuple, Callable] = {}  # line replays: see _segment
        unread = _unread_rules(tables.rules, builder_type)
        reducers = [(r.size, r.origin, *_reducer(r, builder_type, unread)) for r in tables.rules]

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
            if stop - pos > LONG_LINE:  # the chunk would end in a long line
                line_start = text.rfind("\n", pos, pos + CHUNK) + 1
                if line_start <= pos:  # it is the long line: run it in pieces
                    self._long_line(text, pos, stop, state_stack, value_stack, builder)
                    pos = stop
                    continue
                stop = line_start  # the lines before it, as a chunk of their own
            self._chunk(text, pos, stop, state_stack, value_stack, builder)
            pos = stop
        return self._finish(text, state_stack, value_stack, builder)

    def _chunk(self, text: str, pos: int, stop: int, state_stack: list, value_stack: list,
               builder: Any) -> None:
        # One regular-expression scan for the whole chunk, the token kinds read in one pass:
        # per-token work in Python is what a million-gate file pays for, so there is little.
        # A chunk is small (CHUNK): its match objects, about 400 bytes each (a token every
        # four characters or so), are still in the processor's cache when its lines are run.
        # With 64 KB chunks (7 MB of match objects each), the 1M-gate circuits parsed 15-20%
        # slower.
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
        # (An unexpected character is a token of kind CHAR, which no state of the table
        # accepts: the walk of its line raises the syntax error, as for any unexpected token.)
        end, segments = self.segment_end, self.segments
        start = 0
        while True:
            try:
                line_end = kinds.index(end, start) + 1
            except ValueError:
                break
            line = kinds[start:line_end]
            key = (*map(id, state_stack), None, *line)  # see _segment
            replay = segments.get(key)
            if replay is None:
                self._segment(key, state_stack, value_stack, line, matches, start, builder)
            else:
                replay(builder, value_stack, state_stack, matches, start)
            start = line_end
        rest = kinds[start:]  # the end of the program, with no new line
        self._feed(state_stack, value_stack, rest, self._tokens(rest, matches, start),
                   matches[start:], builder)

    def _long_line(self, text: str, pos: int, stop: int, state_stack: list, value_stack: list,
                   builder: Any) -> None:
        """Run one line too long to hold whole (a 50 MB `f = x+x+...`, a million-deep nesting).

        A chunk holds every match object of its lines at once, about 480 bytes each, and a
        token for each kept one, about 520: a thousand bytes a token, gigabytes on such a line.
        Here the scan is taken PIECE matches at a time, each piece run through the table (a
        line this long is never recorded: see _segment) and dropped. The tokens that wait on
        the stack, as those of a deep nesting do (each `(` of `((((x))))` until its `)`), wait
        as _Pending offsets, 32 bytes, made into tokens when their rule is reduced
        (_reduce_pending): a thousand bytes a token become fifty.
        """
        scan = self.lexer.finditer(text, pos, stop)
        kept, keywords = self.kept_terminals, self.keywords
        reduce = partial(self._reduce_pending, text)
        while piece := list(islice(scan, PIECE)):
            kinds = list(map(_LASTGROUP, piece))
            if any(word in text[piece[0].start() : piece[-1].end()] for word in keywords):
                for i, kind in enumerate(kinds):
                    if kind == "NAME":
                        kinds[i] = keywords.get(piece[i].group("NAME"), "NAME")
            while kinds and kinds[-1] == IGNORED_AT_END:
                kinds.pop()
                piece.pop()
            tokens = [_Pending(m.start(m.lastgroup)) if kind in kept else None
                      for m, kind in zip(piece, kinds, strict=True)]
            self._feed(state_stack, value_stack, kinds, tokens, piece, builder, reduce=reduce)
        # (no token of a valid line waits past its end; if one did, a replay must not see it)
        for i, value in enumerate(value_stack):
            if type(value) is _Pending:
                value_stack[i] = self._token_at(text, value)

    def _token_at(self, text: str, offset: int) -> Tok:
        """The token that starts at `offset` (a _Pending one), lexed again: as it was, since a
        token starts with no ignored text before it and ends before its line does."""
        m = self.lexer.match(text, offset)
        kind = group = m.lastgroup
        if kind == "NAME":
            kind = self.keywords.get(m.group("NAME"), "NAME")
        token = token_class(kind)(m.group(group))
        token.start_pos, token.end_pos = m.span(group)
        return token

    def _reduce_pending(self, text: str, state_stack: list, value_stack: list, arg: tuple,
                        builder: Any) -> None:
        """_reduce, the rule's _Pending children made into tokens first (only those its
        callback reads, when that is known: the "+" of `a + b` is dropped unmade)."""
        size, origin, callback, direct = arg
        if size:
            children = value_stack[-size:]
            del state_stack[-size:]
            del value_stack[-size:]
            for i in direct[1] if direct is not None else range(size):
                if type(children[i]) is _Pending:
                    children[i] = self._token_at(text, children[i])
        else:
            children = []
        state_stack.append(state_stack[-1][origin][1])
        value_stack.append(children[0] if callback is None else callback(builder, children))

    def _tokens(self, kinds: list[str], matches: list[re.Match], start: int) -> list[Tok | None]:
        """The values a line's tokens put on the stack: a Tok if a rule keeps it, else None."""
        kept = self.kept_terminals
        return [_token(matches[start + i], kind) if kind in kept else None
                for i, kind in enumerate(kinds)]

    def _segment(self, key: tuple, state_stack: list, value_stack: list, kinds: list[str],
                 matches: list[re.Match], start: int, builder: Any) -> None:
        """Run one line's tokens (kinds[i] is matches[start + i]) through the table, the first
        time a line of its shape comes.

        What the LALR table does depends only on the stack of states and the kinds of the
        tokens (NAME, "+", ...), never on their text. So the first line of each shape (`NAME =
        NAME * NUMBER`, from the same stack of states: `key`) runs step by step and is recorded
        as a replay: a function that calls the same callbacks in the same order with the same
        children, and leaves the stacks as the table walk did (see _Recorder.replay). Every
        later line of that shape is run by its replay (see _chunk), without the table walk. On a
        generated million-gate circuit, with a handful of shapes, that is nearly every line.
        """
        tokens = self._tokens(kinds, matches, start)
        line = matches[start : start + len(kinds)]
        recorder = None
        if (len(self.segments) < MAX_SEGMENTS and len(state_stack) <= MAX_KEYED_DEPTH
                and len(kinds) <= MAX_RECORDED_TOKENS):
            recorder = _Recorder(len(value_stack))
        self._feed(state_stack, value_stack, kinds, tokens, line, builder, recorder)
        if recorder is not None:
            self.segments[key] = recorder.replay(state_stack, kinds, self.kept_terminals,
                                                 self.groups)

    def _feed(self, state_stack: list, value_stack: list, kinds: list[str], tokens: list,
              matches: list, builder: Any, recorder: _Recorder | None = None,
              reduce: Callable[[list, list, tuple, Any], None] | None = None) -> None:
        """The LALR loop: for each token, reduce while the table says so, then shift it."""
        reduce = reduce or _reduce
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
                reduce(state_stack, value_stack, arg, builder)
                if recorder is not None:
                    recorder.reduce(*arg)

    def _finish(self, text: str, state_stack: list[Any], value_stack: list[Any],
                builder: Any) -> Any:
        """The end of the program: reduce on $END until the start rule is accepted."""
        reduce = partial(self._reduce_pending, text)  # (the last line may have been long)
        while state_stack[-1] is not self.end_actions:
            try:
                what, arg = state_stack[-1]["$END"]
            except KeyError:
                raise LalrSyntaxError(len(text), "", "$END", self._expected(state_stack)) from None
            if what is PASS:
                state_stack[-1] = state_stack[-2][arg][1]
            else:
                reduce(state_stack, value_stack, arg, builder)
        return value_stack[-1]

    def _expected(self, state_stack: list[Any]) -> set[str]:
        return {s for s in state_stack[-1] if s.isupper() or s == "$END"}


CHUNK = 1 << 12  # characters scanned at a time (then up to the end of that line): see _chunk
MAX_KEYED_DEPTH = 16  # a line ends with a stack this deep at most, in a valid program
MAX_SEGMENTS = 4096  # shapes of line recorded, at most (a few hundred bytes each)
MAX_RECORDED_TOKENS = 256  # a longer line (a 100,000-deep expression) is not worth recording
LONG_LINE = 1 << 14  # a chunk that would be longer (a line this long) is run in pieces
PIECE = 1 << 10  # matches of a long line run at a time: see _long_line


class _Pending(int):
    """A token of a long line waiting on the stack: its offset in the text (see _long_line)."""

    __slots__ = ()


class _Recorder:
    """Follows one run of _feed symbolically: where each value on the stack comes from (a value
    that was on the stack before, a token of the line, or a callback's result)."""

    OLD, TOKEN, RESULT, NONE = 0, 1, 2, 3  # NONE: the value of a rule no one reads

    def __init__(self, height: int) -> None:
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
        if callback is _nothing:  # (no call to replay: its value is None)
            refs.append((self.NONE, 0))
            return
        self.steps.append((callback, direct, children))
        refs.append((self.RESULT, len(self.steps) - 1))

    def replay(self, state_stack: list, kinds: list[str], kept_terminals: set[str],
               groups: dict[str, str]) -> Callable[[Any, list, list, list, int], None]:
        """The recorded line as a function, replay(builder, value_stack, state_stack, matches,
        start), that does what the table walk did on it. For `v1 = v0 * 1.5` after the first
        line (the line's tokens are matches[start], matches[start + 1], ...):

            def replay(builder, value_stack, state_stack, matches, start):
                # NAME EQUAL NAME STAR NUMBER _NL
                m = matches[start + 0]
                t0 = Tok_NAME(m.group('NAME'))
                t0.start_pos, t0.end_pos = m.span('NAME')
                ... (t2 and t4 alike)
                r0 = f0(builder, t2)  # name
                r1 = f1(builder, t4)  # number
                r2 = f2(builder, r0, r1)  # mul
                r3 = f3(builder, t0, r2)  # assign
                value_stack[0:] = [None, None]
                state_stack[1:] = states

        f0, f1, ... are the callbacks (here the builder class's methods name, number, ...),
        Tok_NAME is token_class("NAME"), and `states` the states the walk left. The function is
        written as source text and compiled once, as the standard library's namedtuple and
        dataclasses make their methods: a replay is then one call, its values in local
        variables, rather than a loop interpreting a list of steps (most of the parser's own
        time, on a generated million-gate circuit). Its text is kept as its `source` attribute,
        to read.
        """
        low = self.low
        namespace: dict[str, Any] = {"states": state_stack[low + 1 :]}
        used: set[int] = set()  # the tokens it must make: those something reads

        def value(ref: tuple[int, int]) -> str:
            kind, i = ref
            if kind == self.OLD:
                return f"value_stack[{i}]"  # (the key fixes the stack's height: so is this)
            if kind == self.RESULT:
                return f"r{i}"
            if kind == self.TOKEN and kinds[i] in kept_terminals:
                used.add(i)
                return f"t{i}"
            return "None"  # a token no rule keeps, or the value of a rule no one reads

        calls = []
        for j, (callback, direct, children) in enumerate(self.steps):
            if direct is not None:  # method(builder, *children at positions)
                f, args = direct[0], [value(children[p]) for p in direct[1]]
            else:  # callback(builder, children)
                f, args = callback, ["[" + ", ".join(map(value, children)) + "]"]
            namespace[f"f{j}"] = f
            calls.append(f"r{j} = f{j}({', '.join(['builder', *args])})  # {f.__name__}")
        values = ", ".join(value(ref) for ref in self.refs[low:])
        lines = ["def replay(builder, value_stack, state_stack, matches, start):",
                 f"# {' '.join(kinds)}"]
        for i in sorted(used):
            kind, group = kinds[i], repr(groups[kinds[i]])
            namespace[f"Tok_{kind}"] = token_class(kind)
            lines += [f"m = matches[start + {i}]",  # (what _token does, written out)
                      f"t{i} = Tok_{kind}(m.group({group}))",
                      f"t{i}.start_pos, t{i}.end_pos = m.span({group})"]
        lines += calls
        lines += [f"value_stack[{low}:] = [{values}]", f"state_stack[{low + 1}:] = states"]
        source = "\n    ".join(lines) + "\n"
        exec(source, namespace)  # (the text is made here, from the recording: no one's input)
        replay = namespace["replay"]
        replay.source = source
        return replay


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
    token = token_class(kind)(m.group(group))
    token.start_pos, token.end_pos = m.span(group)
    return token


def _nothing(builder: Any, children: list) -> None:
    """The callback of a rule whose value no one reads: a replay skips it (see _Recorder)."""
    return None


def _unread_rules(rules: list[RuleSpec], builder_type: type) -> set[str]:
    """The rules whose values no callback ever reads.

    The start rule's children are the program's statements, and nobody needs that list: each
    statement acts on the builder when it is reduced, and the start rule's callback only
    finishes the graph. Any other rule's value is read if a rule that contains it reads its
    children: one with a builder method, or one without (a `_rule`, spliced into its parent; a
    `?rule`, whose child passes up; Lark's helper for a repetition, such as __start_star_0)
    whose own value is read. What is left unread here: `_stmt`, `_sep` and the helper that
    repeats them. The parser makes no value for those (see _reducer), which on a generated
    million-line circuit is three calls a line fewer.
    """
    def reads_children(rule: RuleSpec) -> bool:
        if rule.origin == "start":
            return False
        return (rule.origin in read
                or getattr(builder_type, rule.alias or rule.origin, None) is not None)

    read: set[str] = set()
    grew = True
    while grew:  # (until nothing changes: a helper may contain itself)
        before = len(read)
        read.update(name for rule in rules if reads_children(rule) for name in rule.expansion)
        grew = len(read) > before
    return {rule.origin for rule in rules} - read


def _reducer(rule: RuleSpec, builder_type: type,
             unread: set[str]) -> tuple[Callable[[Any, list], Any] | None, Any]:
    """The rule's callback, callback(builder, children) (None: its one child passes through),
    and (method, positions) when all it does is call method(builder, *children at positions),
    method being the builder class's function for the rule. A rule that no builder method is
    for and whose value no one reads (see _unread_rules) gets _nothing."""
    origin = rule.origin
    name = rule.alias or origin
    if origin == "start":
        return builder_type.start, None  # (called with its children, which it ignores)
    plan, trailing = rule.plan, rule.trailing
    method = getattr(builder_type, name, None)
    if method is None and origin in unread:
        return _nothing, None
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
