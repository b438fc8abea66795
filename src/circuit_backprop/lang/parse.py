"""Source text -> gate graph.

The grammar lives in grammar.lark. Lark's LALR parser calls the `_Builder` methods below as it
reduces each rule (an "inline transformer", as in Lark's examples/calc.py), and the builder adds
nodes to the graph directly: no parse tree is built and nothing here recurses, so a 100,000-deep
expression parses like a flat one.

Every expression callback returns a `Ref`: the node id and the span of text *at this use* (a
named gate used in a later statement keeps its own span; the use has another).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any, NamedTuple

from circuit_backprop.core import rules
from circuit_backprop.core.arrays import ShapeError, show
from circuit_backprop.core.graph import Graph
from circuit_backprop.core.ops import CONST, CONSTANTS, FUNCTIONS, INPUT
from circuit_backprop.errors import SourceError, SourcePosition, close_matches, may_be_close
from circuit_backprop.lang.lalr import LalrSyntaxError, LeanParser, Tables
from circuit_backprop.lang.lalr import Tok as Token
from circuit_backprop.lang.refs import Ref, make_ref
from circuit_backprop.lang.tables import shipped_tables

RESERVED = ("input", "output", "def")
OUTPUT_NAMES = ("f", "out", "output_")  # names tried, in order, for a bare output expression


MAX_DIMENSIONS = 32  # NumPy's own limit is 64


class _Literal(NamedTuple):
    """An array literal while it is parsed: its numbers in row-major order, and its shape."""

    flat: list[float]
    shape: tuple[int, ...]
    start: int
    end: int

    def array(self) -> Any:
        import numpy as np

        return np.array(self.flat, dtype=np.float64).reshape(self.shape)


class _Statement(NamedTuple):
    kind: str  # "assign", "input", "output", "bare", "def"
    start: int
    ref: Ref | None = None
    name: str | None = None


class _NoDefs:
    """Stands in for defs.DefState while a program has no def (most programs)."""

    open = None

    def resolve(self, builder: _Builder) -> None:
        pass


class _Builder:
    """Parser callbacks, one per grammar rule (or alias), called with the rule's kept children
    as a Lark inline transformer would be. One builder makes the graph of one program."""

    def __init__(self, text: str) -> None:
        self.graph = Graph(text)
        self.named: dict[str, int] = {}  # name -> the gate a statement assigns it to
        self.refs: dict[str, int] = {}  # names resolved to inputs or constants -> node
        self.first_use: dict[str, int] = {}  # offset where an input/constant name is first used
        self.declared: dict[str, int] = {}  # input name -> offset of its `input` statement
        # statements, for the checks at the end: how many, the last one, and the rare kinds
        self.statement_count = 0
        self.last_assign: tuple[int, int, int, str] | None = None  # node, start, end, name
        self.last: _Statement | None = None  # the last statement, unless it is an assignment
        self.outputs: list[_Statement] = []
        self.bares: list[_Statement] = []
        self.defs: Any = _NoDefs()  # defs.DefState once the program uses a def
        self.in_def = False

    # --- errors -------------------------------------------------------------------------------

    def error(self, message: str, offset: int, details: list[str] | None = None) -> SourceError:
        return SourceError(message, position_at(self.graph.text, offset), details)

    def line_of(self, offset: int) -> int:
        return self.graph.line_column(offset)[0]

    # --- expressions --------------------------------------------------------------------------

    def number(self, tok: Token) -> Ref:
        g = self.graph
        start, end = tok.start_pos, tok.end_pos
        node = g.add_node(CONST, (), start, end)
        g.consts[node] = self.finite(tok)
        return make_ref(node, start, end)

    def check_not_reserved(self, tok: Token) -> None:
        if tok in RESERVED:
            message = f"'{tok}' is a reserved word and cannot be used as a name"
            raise self.error(message, tok.start_pos)

    def name(self, tok: Token) -> Ref:
        if self.defs.open is not None:  # inside a def's body: only its parameters
            return self.defs.open.name_ref(self, tok)
        # (the lexer never gives a reserved word as a NAME: no check needed here)
        node = self.named.get(tok)
        if node is None:
            node = self.refs.get(tok)
        start, end = tok.start_pos, tok.end_pos
        if node is not None:
            return make_ref(node, start, end)
        name = str(tok)
        g = self.graph
        # the first use of a name that no earlier statement assigns: an input (or pi, e)
        if name in CONSTANTS and name not in self.declared:
            node = g.add_node(CONST, (), start, end)
            g.consts[node] = CONSTANTS[name]
        else:
            node = g.add_node(INPUT, (), start, end)
            g.inputs[name] = node
        g.names[node] = name
        self.refs[name] = node
        self.first_use[name] = start
        return make_ref(node, start, end)

    def _gate(self, op: str, refs: tuple[Ref, ...], start: int, end: int) -> Ref:
        node = self.graph.add_node(op, tuple(r.node for r in refs), start, end)
        return make_ref(node, start, end)

    def _binary(self, op: str, a: Ref, b: Ref) -> Ref:
        start, end = a[1], b[2]
        return make_ref(self.graph.add_node(op, (a[0], b[0]), start, end), start, end)

    def add(self, a: Ref, b: Ref) -> Ref:
        return self._binary("add", a, b)

    def sub(self, a: Ref, b: Ref) -> Ref:
        return self._binary("sub", a, b)

    def mul(self, a: Ref, b: Ref) -> Ref:
        return self._binary("mul", a, b)

    def div(self, a: Ref, b: Ref) -> Ref:
        return self._binary("div", a, b)

    def matmul(self, a: Ref, b: Ref) -> Ref:
        return self._binary("matmul", a, b)

    def pow(self, a: Ref, _op: Token, b: Ref) -> Ref:
        return self._binary("pow", a, b)

    def _comparison(op: str) -> Callable[..., Ref]:  # type: ignore[misc]
        """The callback of a comparison (`a > b`: gt), a gate of that op."""
        def callback(self: _Builder, a: Ref, _op: Token, b: Ref) -> Ref:
            return self._binary(op, a, b)
        return callback

    gt, lt, ge, le, eq, ne = map(_comparison, ("gt", "lt", "ge", "le", "eq", "ne"))
    del _comparison

    def neg(self, sign: Token, a: Ref) -> Ref:
        return self._gate("neg", (a,), sign.start_pos, a.end)

    def pos(self, sign: Token, a: Ref) -> Ref:
        return Ref(a.node, sign.start_pos, a.end)  # unary plus is no gate

    def paren(self, lpar: Token, a: Ref, rpar: Token) -> Ref:
        g = self.graph
        if g.names[a.node] is None and g.ops[a.node] != INPUT:
            # the parenthesised text belongs to the gate it encloses: "(x + y)"
            g.starts[a.node], g.ends[a.node] = lpar.start_pos, rpar.end_pos
        return Ref(a.node, lpar.start_pos, rpar.end_pos)

    def args(self, *refs: Ref) -> list[Ref]:
        return list(refs)

    # --- arrays -------------------------------------------------------------------------------

    def literal(self, lsqb: Token, items: list[float | _Literal] | None, rsqb: Token) -> _Literal:
        """[1, 2] or [[1, 2], [3, 4]]: numbers, or literals all of one shape (rectangular)."""
        items = items or []
        if all(isinstance(item, float) for item in items):
            return _Literal(items, (len(items),), lsqb.start_pos, rsqb.end_pos)
        first = next((item for item in items if isinstance(item, _Literal)), None)
        flat: list[float] = []
        for item in items:
            if not isinstance(item, _Literal):
                raise self.error("ragged array literal: a number stands beside a list",
                                 lsqb.start_pos, ["every row of an array has the same shape"])
            if item.shape != first.shape:
                raise self.error(
                    f"ragged array literal: this row has shape {show(item.shape)}, the first "
                    f"has {show(first.shape)}", item.start,
                    ["every row of an array has the same shape"])
            flat += item.flat
        if len(first.shape) >= MAX_DIMENSIONS:
            raise self.error(f"an array literal has at most {MAX_DIMENSIONS} dimensions",
                             lsqb.start_pos)
        return _Literal(flat, (len(items), *first.shape), lsqb.start_pos, rsqb.end_pos)

    def items(self, *items: float | _Literal) -> list[float | _Literal]:
        return list(items)

    def array(self, literal: _Literal) -> Ref:
        g = self.graph
        node = g.add_node(CONST, (), literal.start, literal.end)
        g.consts[node] = 0.0  # (a constant node has a number: an array's is its `arrays` entry)
        g.arrays[node] = literal.array()
        return make_ref(node, literal.start, literal.end)

    def subscript(self, *numbers: float) -> list[float]:
        return list(numbers)

    def index(self, a: Ref, lsqb: Token, numbers: list[float], rsqb: Token) -> Ref:
        """x[0], X[1, 2]: integer indices (negative count from the end), one per leading axis."""
        indices = []
        for number in numbers:
            if number != int(number):
                raise self.error(f"an index is an integer, got {number:g}", lsqb.start_pos)
            indices.append(int(number))
        g = self.graph
        node = g.add_node("index", (a.node,), a.start, rsqb.end_pos)
        g.params[node] = tuple(indices)
        return make_ref(node, a.start, rsqb.end_pos)

    def dims(self, lsqb: Token, *numbers: Token) -> tuple[int, ...]:
        """input W[2, 3]: the declared shape."""
        shape = []
        for tok in numbers[:-1]:  # (the last is the closing bracket)
            if not tok.isdigit() or int(tok) == 0:
                raise self.error(f"a dimension is a positive integer, got {tok}", tok.start_pos)
            shape.append(int(tok))
        return tuple(shape)

    def integer_params(self, op_name: str, refs: list[Ref], usage: str) -> tuple[int, ...]:
        """The integer arguments after a call's wires (the 0 of sum(x, 0)): each was parsed as an
        expression, a constant node (or a negated one) just added to the graph: those nodes are
        removed again, and the numbers become part of the gate."""
        g = self.graph
        found: list[int] = []
        for ref in reversed(refs):
            last = len(g) - 1
            negated = g.ops[ref.node] == "neg" and ref.node == last
            number_node = g.args[ref.node][0] if negated else ref.node
            if not (number_node == last - negated and g.ops[number_node] == CONST
                    and g.names[number_node] is None and number_node not in g.arrays
                    and g.consts[number_node] == int(g.consts[number_node])):
                raise self.error(f"{op_name}() takes integer numbers after its input, as in "
                                 f"{usage}", ref.start)
            value = int(g.consts[number_node])
            found.append(-value if negated else value)
            for _ in range(1 + negated):
                g.pop_node()
        return tuple(reversed(found))

    def call(self, fname: Token, args: list[Ref] | None, rpar: Token) -> Ref:
        self.check_not_reserved(fname)
        name = str(fname)
        args = args or []
        op = FUNCTIONS.get(name)
        if op is None:  # a def (maybe defined later): checked when the program ends
            return self.def_state().call(self, fname, args, rpar)
        least, most = op.params
        if not op.arity + least <= len(args) <= op.arity + most:  # (before the common case)
            raise self.error(
                f"{name}() takes {_count_of_arguments(op.arity, least, most)}, got {len(args)}",
                fname.start_pos,
                [f"usage: {usage_of(op)}"],
            )
        start, end = fname.start_pos, rpar.end_pos
        params = (self.integer_params(name, args[op.arity :], usage_of(op))
                  if len(args) > op.arity else ())
        node = self.graph.add_node(op.name, tuple([r[0] for r in args[: op.arity]]), start, end)
        if params:
            self.graph.params[node] = params
        return make_ref(node, start, end)

    # --- statements ---------------------------------------------------------------------------

    def assign(self, name_tok: Token, ref: Ref) -> None:
        name, start = str(name_tok), name_tok.start_pos
        if name in self.named or name in self.declared or name in self.first_use:
            self.check_assignable(name, start)
        g = self.graph
        node = ref[0]
        if g.names[node] is not None or g.ops[node] == INPUT:
            # `q = x`: a second name for an existing wire is an identity gate
            node = g.add_node("id", (node,), ref[1], ref[2])
        g.names.set_span(node, start, name_tok.end_pos)  # (the name is that text: no copy kept)
        self.named[name] = node
        self.statement_count += 1
        self.last_assign, self.last = (node, ref[1], ref[2], name), None

    def accumulate(self, name_tok: Token, op: Token, ref: Ref) -> None:
        raise self.error(
            f"'{name_tok} +=' adds to a gradient in an answer file (circuit grade); a circuit "
            "assigns each name once", op.start_pos,
            ["a circuit is wires, not variables: write NAME = EXPR"])

    def check_assignable(self, name: str, start: int) -> None:
        """Raise the error for assigning `name`, which is taken (assigned, declared, used)."""
        line = self.line_of(start)
        if name in self.named:
            first = self.line_of(self.graph.starts[self.named[name]])
            raise self.error(
                f"'{name}' is assigned twice: on line {first} and on line {line}",
                start,
                ["a circuit is wires, not variables: give the second gate another name"],
            )
        if name in self.declared:
            first = self.line_of(self.declared[name])
            raise self.error(
                f"'{name}' is declared as an input on line {first} and assigned on line {line}",
                start,
            )
        if name in self.first_use:
            first = self.line_of(self.first_use[name])
            raise self.error(
                f"'{name}' is used on line {first} before it is assigned on line {line}",
                self.first_use[name],
                ["move the statement that assigns it before its first use"],
            )

    def input_decl(self, kw: Token, name_tok: Token, shape: tuple[int, ...] | None = None,
                   default: float | _Literal | None = None) -> None:
        self.check_not_reserved(name_tok)
        name, start = str(name_tok), name_tok.start_pos
        g = self.graph
        if name in self.declared:
            first = self.line_of(self.declared[name])
            raise self.error(
                f"input '{name}' is declared twice: on line {first} and on line "
                f"{self.line_of(start)}",
                start,
            )
        if name in self.named:
            raise self.error(
                f"'{name}' is assigned on line {self.line_of(self.graph.starts[self.named[name]])}"
                f" and cannot "
                f"also be an input",
                start,
            )
        node = self.refs.get(name)
        if node is None:
            node = g.add_node(INPUT, (), start, name_tok.end_pos)
            g.names[node] = name
            self.refs[name] = node
        elif g.ops[node] == CONST:  # `input e` shadows the constant e, even after its use
            g.ops[node] = INPUT
            del g.consts[node]
        g.inputs[name] = node
        if isinstance(default, _Literal):
            if shape is not None and default.shape != shape:
                raise self.error(f"input '{name}' is declared with shape {show(shape)}, but its "
                                 f"default has shape {show(default.shape)}", default.start)
            g.defaults[name] = default.array()
        elif default is not None:
            if shape:
                raise self.error(f"input '{name}' is declared with shape {show(shape)}, but its "
                                 "default is a number", start)
            g.defaults[name] = default
        if shape is not None:
            g.declared_shapes[name] = shape
        self.declared[name] = start
        self.add_statement(_Statement("input", start, Ref(node, start, start), name))

    def add_statement(self, statement: _Statement) -> None:
        self.statement_count += 1
        self.last = statement
        if statement.kind == "output":
            self.outputs.append(statement)
        elif statement.kind == "bare":
            self.bares.append(statement)

    def finite(self, tok: Token) -> float:
        value = float(tok)
        if value == float("inf"):
            raise self.error(f"the number {tok} is too large for float64", tok.start_pos)
        return value

    def signed_number(self, *toks: Token) -> float:
        value = self.finite(toks[-1])
        return -value if len(toks) == 2 and toks[0] == "-" else value

    def output_decl(self, kw: Token, name_tok: Token) -> None:
        self.check_not_reserved(name_tok)
        self.add_statement(_Statement("output", name_tok.start_pos, None, str(name_tok)))

    def bare(self, ref: Ref) -> None:
        self.add_statement(_Statement("bare", ref.start, ref))

    def def_head(self, kw: Token, name_tok: Token, params: list[Token] | None) -> None:
        # the body's nodes go to a graph of its own
        self.def_state().open_def(self, name_tok, params or [])

    def def_state(self) -> Any:
        """The program's defs and calls to them (defs.py), made when first needed."""
        if isinstance(self.defs, _NoDefs):
            from circuit_backprop.lang.defs import DefState

            self.defs = DefState()
        return self.defs

    def def_stmt(self, head: None, ref: Ref) -> None:
        self.defs.close_def(self, ref)

    def params(self, *names: Token) -> list[Token]:
        return list(names)

    def start(self, *children: object) -> Graph:
        return self.finish()

    # --- the end of the program -----------------------------------------------------------------

    def finish(self) -> Graph:
        self.check_called_functions_exist()
        self.defs.resolve(self)
        g = self.graph
        if g.has_arrays:
            self.check_shapes()
        if not self.statement_count:
            raise SourceError("the program is empty: write at least one statement, e.g. f = x * y")
        outputs = self.outputs
        if self.last is None:  # the last statement was an assignment
            node, start, end, name = self.last_assign
            self.last = _Statement("assign", start, Ref(node, start, end), name)
        last = self.last
        if len(outputs) > 1:
            raise self.error(
                f"more than one output statement (lines {self.line_of(outputs[0].start)} and "
                f"{self.line_of(outputs[1].start)})",
                outputs[1].start,
            )
        for s in self.bares:
            if s is not last:
                raise self.error(
                    "an unnamed expression can only be the last statement",
                    s.start,
                    ["name it (NAME = ...) or move it to the end"],
                )
        if outputs:
            g.output = self.resolve_output(outputs[0])
            bares = self.bares
            if bares:
                raise self.error(
                    "an unnamed expression cannot stand beside an output statement",
                    bares[0].start,
                    ["name it (NAME = ...)"],
                )
        else:
            g.output = self.name_bare_output(last) if last.kind == "bare" else last.ref.node
        return g

    def check_shapes(self) -> None:
        """Shapes are checked before anything runs: from literals, declared shapes and defaults
        (an input of unknown shape leaves the gates after it to be checked when it has a value)."""
        from circuit_backprop.core.shapes import infer

        g = self.graph
        known = {name: tuple(getattr(g.defaults.get(name), "shape", ()))
                 for name in g.inputs if name in g.defaults}
        known.update(g.declared_shapes)
        try:
            infer(g, known)
        except ShapeError as err:
            raise self.error(f"shape error: {err}", g.starts[err.node]) from None

    def check_called_functions_exist(self) -> None:
        """Every call names a built-in function or a def. Checked when the program ends, as a def
        may come after its first call, and before the defs' other checks (arity, cycles)."""
        if isinstance(self.defs, _NoDefs):
            return  # (a call of anything but a built-in function makes a DefState)
        defined = self.defs.defs
        for call in self.defs.calls:
            if call.name not in defined:
                raise self.unknown_function(call.name, call.offset)

    def unknown_function(self, name: str, offset: int) -> SourceError:
        """`ln(x)`: say so, suggest the closest function, and list those there are."""
        defined = self.defs.defs
        details = _suggest_function(name, [*FUNCTIONS, *defined])
        details.append("functions: " + ", ".join(
            _signature(call, [*op.inputs, *_param_names(op)])
            for call, op in sorted(FUNCTIONS.items())))
        if defined:
            details.append("defs in this program: " + ", ".join(
                _signature(d, definition.params) for d, definition in defined.items()))
        return self.error(
            f"unknown function '{name}': '{name}' is not a built-in function or a def", offset,
            details)

    def resolve_output(self, stmt: _Statement) -> int:
        name = stmt.name
        node = self.named.get(name, self.refs.get(name))
        if node is None:
            known = sorted(set(self.named) | set(self.graph.inputs))
            raise self.error(
                f"output '{name}' is not a name in this circuit",
                stmt.start,
                _suggest(name, known) or [f"names: {', '.join(known)}"],
            )
        return node

    def name_bare_output(self, stmt: _Statement) -> int:
        """Name the final bare expression: `f`, or the first of OUTPUT_NAMES not taken."""
        g = self.graph
        taken = set(self.named) | set(self.refs)
        name = next((n for n in OUTPUT_NAMES if n not in taken), None)
        k = 1
        while name is None:
            name = f"f{k}" if f"f{k}" not in taken else None
            k += 1
        node = stmt.ref.node
        if g.names[node] is not None or g.ops[node] == INPUT:
            node = g.add_node("id", (node,), stmt.ref.start, stmt.ref.end)
        g.names[node] = name
        return node


def _suggest(word: str, choices: list[str] | None = None) -> list[str]:
    choices = list(FUNCTIONS) if choices is None else choices
    close = close_matches(word, choices, n=3)
    return [f"did you mean: {', '.join(close)}?"] if close else []


FIRST_LETTER_CUTOFF = 0.4  # how close a function of the same first letter must be to be offered


def _suggest_function(word: str, names: list[str]) -> list[str]:
    """The functions closest to a misspelt one. difflib's close matches miss a short name that
    shares little but its first letter with one of a few letters (`ln` for `log`): failing
    those, the names with the same first letter that are at least that close are offered."""
    close = close_matches(word, names, n=3)
    if not close:
        import difflib

        ratio = {n: difflib.SequenceMatcher(None, word, n).ratio() for n in names
                 if n[:1] == word[:1] and may_be_close(word, n, FIRST_LETTER_CUTOFF)}
        close = sorted((n for n in ratio if ratio[n] >= FIRST_LETTER_CUTOFF), key=ratio.get,
                       reverse=True)[:3]
    return [f"did you mean {_join_or(close)}?"] if close else []


def usage_of(op: Any) -> str:
    """How a function is called: sum(a), sum(a, axis); reshape(a, d1, ...); one_hot(a, classes)."""
    least, most = op.params
    extra = "".join(f", {name}" for name in op.param_names)
    text = op.fill(op.text, op.inputs, extra if least else "", "i")
    if least < most <= 1:
        text += f" or {op.fill(op.text, op.inputs, extra, 'i')}"
    return text


def _param_names(op: Any) -> list[str]:
    """An op's integer arguments, as the list of functions shows them: [axis], d1, ..."""
    least, most = op.params
    if most == 1 and not least:
        return [f"[{name}]" for name in op.param_names]  # optional
    return list(op.param_names)


def _count_of_arguments(arity: int, least: int, most: int) -> str:
    if least == most:
        n = arity + least
        return f"{n} argument{'s' if n != 1 else ''}"
    if most > 1:
        return f"at least {arity + least} arguments"
    return f"{arity + least} or {arity + most} arguments"


def _signature(name: str, params: Sequence[str]) -> str:
    return f"{name}({', '.join(params)})"


def position_at(text: str, offset: int) -> SourcePosition:
    line = text.count("\n", 0, offset) + 1
    line_start = text.rfind("\n", 0, offset) + 1
    line_end = text.find("\n", offset)
    line_text = text[line_start : line_end if line_end != -1 else len(text)].rstrip("\r")
    return SourcePosition(line, offset - line_start + 1, line_text)


# --- the parser ---------------------------------------------------------------------------------

TOKEN_NAMES = {
    "NAME": "a name",
    "NUMBER": "a number",
    "PLUS": "'+'",
    "PLUS_EQUAL": "'+='",
    "MINUS": "'-'",
    "STAR": "'*'",
    "SLASH": "'/'",
    "POW": "'^'",
    "GT": "'>'",
    "LT": "'<'",
    "GE": "'>='",
    "LE": "'<='",
    "EQEQ": "'=='",
    "NE": "'!='",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "AT": "'@'",
    "EQUAL": "'='",
    "COMMA": "','",
    "SEMICOLON": "';'",
    "_NL": "a new line",
    "$END": "the end of the program",
    "INPUT": "'input'",
    "OUTPUT": "'output'",
    "DEF": "'def'",
}


@cache
def _parser() -> LeanParser:
    """The LALR tables Lark made of grammar.lark, driven by lalr.py with a _Builder's callbacks
    (each parse its own builder)."""
    return LeanParser(_tables(), _Builder)


def _tables() -> Tables:
    """The LALR tables of grammar.lark, as shipped in the package: grammar_tables.py, which
    Lark made when the grammar last changed (see tables.py). A run never imports Lark."""
    return shipped_tables()


def parse(text: str) -> Graph:
    """Parse program text into a gate graph; raise SourceError with line:column on bad input."""
    parser = _parser()
    with _collector_paused():
        try:
            return parser.parse(text, _Builder(text))
        except LalrSyntaxError as e:
            raise _syntax_error(text, e) from None


rules.use_parser(parse)  # gradient rules are written in the language (core/rules.py)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a parse runs; restore it after, error or not.

    Why: a parse allocates millions of small tracked objects (tokens, Refs, argument lists),
    which set off thousands of collections, and the full ones walk the builder's dicts and the
    graph as they grow, to find nothing: what a parse drops, reference counting frees. On
    `bench/gen.py wide 1000000` that was 5,100 collections, 39 of them full, 1.2 s of the parse.
    The collector is process-wide, so this is the one piece of global state a parse touches:
    only a collector this parse turned off is turned back on, so a caller who had it off keeps
    it off and a parse nested in another leaves it to the outer one. (Of two parses in two
    threads, the first to start turns it back on as it ends: the other ends with it on, slower.)
    """
    import gc

    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _syntax_error(text: str, e: LalrSyntaxError) -> SourceError:
    offset = e.offset
    if e.kind == "$END":
        offset = len(text.rstrip())
    expected = sorted({TOKEN_NAMES.get(t, t) for t in e.expected})
    keyword = _keyword_before(text, offset)
    if e.kind in ("INPUT", "OUTPUT", "DEF"):
        message = f"'{e.found}' is a reserved word and cannot be used as a name"
        expected = []
    elif keyword and e.kind not in ("NAME", "CHAR"):
        offset = text.rfind(keyword, 0, offset)
        message = f"'{keyword}' is a reserved word and cannot be used as a name"
        expected = []
    elif e.kind == "CHAR":
        message = f"unexpected character {e.found!r}"
    elif e.kind != "$END":
        message = f"unexpected {_describe(e.kind, e.found)}"
    else:
        message = "unexpected end of the program"
    details = [f"expected {_join_or(expected)}"] if expected else []
    return SourceError(f"syntax error: {message}", position_at(text, offset), details)


def _keyword_before(text: str, offset: int) -> str | None:
    """The reserved word just before `offset`, if any: `input = 3` fails at '=', not 'input'."""
    words = text[max(0, offset - 20) : offset].split()
    return words[-1] if words and words[-1] in RESERVED else None


def _describe(kind: str, text: str) -> str:
    if kind == "_NL":
        return "end of line"
    if kind in ("NAME", "NUMBER"):
        return f"{kind.lower()} '{text}'"
    return repr(text)


def _join_or(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]
