"""The lean LALR driver (lalr.py, behind parse.parse) against stock Lark.

lalr.py reads Lark's private analysis of grammar.lark (its parse table, rules and terminals) and
runs it with a loop of its own. That is only safe while it gives what Lark itself gives, so this
file parses random programs, valid and broken, twice: with lang.parse.parse, and with
stock `Lark(grammar, parser="lalr", transformer=...)` (public API only) whose callbacks are the
same _Builder's methods, called with the children Lark keeps. Both must make the same graph
(ops, args, names, consts, spans, inputs, defaults, output, defs' bodies) or the same error (the
same line, column, message and details; for a syntax error, the same kind of token, offset, text
and expected set).

The programs: VALID_PROGRAMS written from the grammar's productions by a seeded generator
(inputs with and without defaults, `;` and new lines, comments, every operator and precedence
level, every function of ops.FUNCTIONS, defs and their calls, output statements, bare final
expressions, lines of one shape that the lean parser replays), and as many broken copies
(cut short, a stray token put in, a few characters taken out): 3,000 in all.

The reference uses Lark's basic lexer, which, like the language, reserves `input`, `output` and
`def` everywhere. Lark's default contextual lexer lets such a word be a NAME wherever no keyword
fits; it is compared too, on every program in which that cannot happen.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from lark import Lark
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from circuit_backprop.core.graph import Graph
from circuit_backprop.core.ops import FUNCTIONS
from circuit_backprop.errors import SourceError
from circuit_backprop.lang import parse as parse_module
from circuit_backprop.lang.lalr import LalrSyntaxError

GRAMMAR = Path(parse_module.__file__).with_name("grammar.lark").read_text("utf-8")
VALID_PROGRAMS = 1500  # each also broken once: 3,000 programs, each parsed by both sides
SEED = 20261201


# --- stock Lark, driving the same builder -------------------------------------------------------


class _Forward:
    """Stock Lark's callbacks: for each grammar rule (or alias) that _Builder has a method for,
    call that method of the current builder with the rule's kept children. Lark looks callbacks
    up once, when it is made; the builder is swapped in for each parse (a _Builder makes one
    graph)."""

    builder: parse_module._Builder

    def __getattr__(self, name: str) -> Callable[[list], Any]:
        if name.startswith("__") or not callable(getattr(parse_module._Builder, name, None)):
            raise AttributeError(name)  # Lark then builds a tree node, as for `_stmt`
        return lambda children: getattr(self.builder, name)(*children)


@cache
def stock(lexer: str) -> tuple[Lark, _Forward]:
    forward = _Forward()
    lark = Lark(GRAMMAR, parser="lalr", lexer=lexer, maybe_placeholders=True,
                transformer=forward)
    return lark, forward


# --- what a parse gives, as plain data ------------------------------------------------------------


def graph_data(g: Graph) -> tuple:
    return (g.ops, list(g.args), list(g.args.level), list(g.names), list(g.consts.items()),
            list(g.starts), list(g.ends), list(g.inputs.items()),
            [(k, getattr(v, "tolist", lambda v=v: v)()) for k, v in g.defaults.items()],
            g.output, [(k, v.tolist()) for k, v in g.arrays.items()], sorted(g.params.items()),
            sorted(g.declared_shapes.items()))


def defs_data(g: Graph) -> list[tuple]:
    """Each def's op and body (bodies share the program's custom_ops: not followed again)."""
    out = []
    for name, op in g.custom_ops.items():
        d = op.definition
        out.append((name, op.arity, op.text, op.torch_text, d.params, d.text, d.start,
                    graph_data(d.body)))
    return out


@dataclass(frozen=True)
class Outcome:
    kind: str  # "graph", "syntax" (the parser's error) or "source" (the builder's error)
    public: tuple  # the graph, or the SourceError as the user sees it
    syntax: tuple | None = None  # for a syntax error: (token kind, offset, text, expected)


def source_error_data(e: SourceError) -> tuple:
    return (e.message, e.position, tuple(e.details))


def graph_outcome(g: Graph) -> Outcome:
    return Outcome("graph", (graph_data(g), defs_data(g)))


@cache
def fast_outcome(text: str) -> Outcome:
    """parse.parse (the public function), and the lean parser's own LalrSyntaxError."""
    try:
        g = parse_module.parse(text)
    except SourceError as e:
        public = source_error_data(e)
    else:
        return graph_outcome(g)
    try:
        parse_module._parser().parse(text, parse_module._Builder(text))
    except LalrSyntaxError as e:
        return Outcome("syntax", public, (e.kind, e.offset, e.found, sorted(e.expected)))
    except SourceError:
        return Outcome("source", public)
    raise AssertionError(f"parse.parse failed on {text!r}, the lean parser did not")


def stock_syntax_error(text: str, e: UnexpectedInput) -> LalrSyntaxError:
    """Lark's error as the lean parser reports it. The expected terminals are those of the state
    the parser stopped in (InteractiveParser.choices), as lalr.py reports them. At the end, Lark
    borrows the last token's position; lalr.py gives the end of the text (and parse.py reports
    either at the end of the last line)."""
    expected = {s for s in e.interactive_parser.choices() if s.isupper()}
    if isinstance(e, UnexpectedCharacters):
        return LalrSyntaxError(e.pos_in_stream, text[e.pos_in_stream], "CHAR", expected)
    assert isinstance(e, UnexpectedToken), type(e)
    token = e.token
    offset = len(text) if token.type == "$END" else token.start_pos
    return LalrSyntaxError(offset, str(token), token.type, expected)


@cache
def stock_outcome(text: str, lexer: str = "basic") -> Outcome:
    lark, forward = stock(lexer)
    forward.builder = parse_module._Builder(text)
    try:
        g = lark.parse(text)
    except SourceError as e:
        return Outcome("source", source_error_data(e))
    except UnexpectedInput as e:
        err = stock_syntax_error(text, e)
        public = source_error_data(parse_module._syntax_error(text, err))
        return Outcome("syntax", public, (err.kind, err.offset, err.found, sorted(err.expected)))
    return graph_outcome(g)


# --- random programs ------------------------------------------------------------------------------

FREE_NAMES = ["x", "y", "z", "w1", "_t", "rate", "pi", "e", "exp", "Max"]
INPUT_NAMES = ["x", "y", "a0", "b_1", "k", "e", "pi"]
PARAM_NAMES = ["a", "b", "c", "t", "u", "pi"]
NUMBERS = ["2", "0", "0.5", "3.", ".25", "1e3", "2.5E-2", "7e+1", "007", "12345678901234567890",
           "4.2e-400"]
TOO_LARGE = "1e999"  # the builder's error: rare, or most programs would end in it
SPACES = ["", " ", " ", " ", "  ", "\t"]
SEPARATORS = ["\n", "\n", "\n", ";", " ; ", "\n\n", ";\n", "\r\n", "  # note\n", "\n# a line\n",
              " # x = 1;\n", "\n \t\n"]
STRAY = ["+", "-", "*", "/", "^", "**", "(", ")", ",", "=", ";", "\n", "input", "output", "def",
         "3", "1.5e", ".", "x", "@", "$", "!", "é", "\u0663", "\v", "#", "==", "((", " ", "e1"]


class ProgramWriter:
    """Writes one random program of the language: statements from the grammar's productions,
    with names that are mostly, not always, declared or assigned before they are used (so both
    graphs and the builder's errors come out)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.assigned: list[str] = []
        self.inputs: list[str] = []
        self.defs: dict[str, int] = {}
        self.params: list[str] | None = None  # inside a def's body: its parameters
        self.counter = 0

    def sp(self) -> str:
        return self.rng.choice(SPACES)

    # expressions, one function per level of the grammar's precedence
    def expr(self, depth: int) -> str:
        return self.comparison(depth)

    def comparison(self, depth: int) -> str:
        if depth <= 0 or self.rng.random() < 0.9:
            return self.sum(depth)
        op = self.rng.choice([">", "<", ">=", "<=", "==", "!="])
        return f"{self.sum(depth - 1)}{self.sp()}{op}{self.sp()}{self.sum(depth - 1)}"

    def sum(self, depth: int) -> str:
        if depth <= 0 or self.rng.random() < 0.55:
            return self.product(depth)
        op = self.rng.choice("+-")
        return f"{self.sum(depth - 1)}{self.sp()}{op}{self.sp()}{self.product(depth - 1)}"

    def product(self, depth: int) -> str:
        if self.rng.random() < 0.03:  # a matrix product, mostly of shapes that fit
            rows, inner = self.rng.choice([(2, 3), (3, 2), (1, 2)])
            inner_b = inner if self.rng.random() < 0.9 else inner + 1
            b = self.literal((inner_b,) if self.rng.random() < 0.5 else (inner_b, 2))
            return f"{self.literal((rows, inner))}{self.sp()}@{self.sp()}{b}"
        if depth <= 0 or self.rng.random() < 0.55:
            return self.unary(depth)
        op = self.rng.choice("*/")
        return f"{self.product(depth - 1)}{self.sp()}{op}{self.sp()}{self.unary(depth - 1)}"

    def unary(self, depth: int) -> str:
        r = self.rng.random()
        if depth > 0 and r < 0.12:
            return f"-{self.sp()}{self.unary(depth - 1)}"
        if depth > 0 and r < 0.17:
            return f"+{self.sp()}{self.unary(depth - 1)}"
        return self.power(depth)

    def power(self, depth: int) -> str:
        if self.rng.random() < 0.03:  # indexing, mostly in range
            shape = self.rng.choice([(3,), (2, 3)])
            index = [str(self.rng.randint(-3, 2)) for _ in range(self.rng.randint(1, len(shape)))]
            return f"{self.literal(shape)}[{f',{self.sp()}'.join(index)}]"
        if depth <= 0 or self.rng.random() < 0.75:
            return self.atom(depth)
        op = self.rng.choice(["^", "**"])
        return f"{self.atom(depth - 1)}{self.sp()}{op}{self.sp()}{self.unary(depth - 1)}"

    def atom(self, depth: int) -> str:
        r = self.rng.random()
        if depth <= 0 or r < 0.35:
            return TOO_LARGE if self.rng.random() < 0.003 else self.rng.choice(NUMBERS)
        if r < 0.65:
            return self.name()
        if r < 0.87:
            return self.call(depth)
        if r < 0.9:
            return self.literal(self.rng.choice([(2,), (3,), (2, 2), (1, 3)]))
        return f"({self.sp()}{self.expr(depth - 1)}{self.sp()})"

    def name(self) -> str:
        if self.params is not None:
            pool = self.params or ["pi"]
            return self.rng.choice(pool if self.rng.random() < 0.97 else ["q", "e"])
        pool = self.assigned + self.inputs
        if pool and self.rng.random() < 0.8:
            return self.rng.choice(pool)
        return self.rng.choice(FREE_NAMES)

    def literal(self, shape: tuple[int, ...]) -> str:
        """An array literal of this shape (now and then a ragged one)."""
        if len(shape) == 1:
            n = shape[0] + (self.rng.random() < 0.01)
            numbers = [self.rng.choice(["", "-"]) + self.rng.choice(NUMBERS[:6]) for _ in range(n)]
            return f"[{f',{self.sp()}'.join(numbers)}]"
        rows = [self.literal(shape[1:]) for _ in range(shape[0])]
        return f"[{f',{self.sp()}'.join(rows)}]"

    def array_call(self, fname: str) -> str:
        """A function on arrays, with arguments of shapes it takes (mostly)."""
        op = FUNCTIONS[fname]
        if fname == "cross_entropy":
            return f"cross_entropy({self.literal((2, 3))}, [{self.rng.randint(0, 3)}, 1])"
        matrix = self.literal(self.rng.choice([(2, 3), (3, 2)]))
        if fname == "reshape":
            return f"reshape({matrix},{self.sp()}{self.rng.choice(['3, 2', '-1', '6, 1', '4'])})"
        if fname in ("expand_as", "sum_as", "reshape_as"):  # (two arrays: the second a shape)
            small, large = self.literal((3,)), self.literal((2, 3))
            return f"{fname}({small if fname == 'expand_as' else large}, " \
                   f"{large if fname == 'expand_as' else small})"
        if fname == "one_hot":
            return f"one_hot([{self.rng.randint(0, 2)}, 1], 3)"
        if fname == "scatter":
            row = self.rng.randint(0, 1)
            return f"scatter({self.literal((3,))}, {self.literal((2, 3))}, {row})"
        if fname == "unsqueeze":
            return f"unsqueeze({matrix}, {self.rng.choice(['0', '1', '-1', '2'])})"
        least, most = op.params
        if most and self.rng.random() < 0.6:
            return f"{fname}({matrix},{self.sp()}{self.rng.choice(['0', '1', '-1', '2'])})"
        return f"{fname}({matrix})"

    def call(self, depth: int) -> str:
        names = list(FUNCTIONS) + list(self.defs)
        if self.params is None and self.rng.random() < 0.03:
            names.append("ln")  # not a function
        fname = self.rng.choice(names)
        if fname in FUNCTIONS and not FUNCTIONS[fname].elementwise and self.rng.random() < 0.7:
            return self.array_call(fname)
        arity = FUNCTIONS[fname].arity if fname in FUNCTIONS else self.defs.get(fname, 1)
        if self.rng.random() < 0.04:
            arity = self.rng.choice([0, 1, 2, 3])  # often the wrong number of arguments
        args = f",{self.sp()}".join(self.expr(depth - 1) for _ in range(arity))
        return f"{fname}({self.sp()}{args}{self.sp()})"

    # statements
    def new_name(self) -> str:
        self.counter += 1
        if self.assigned and self.rng.random() < 0.02:
            return self.rng.choice(self.assigned)  # assigned twice
        return self.rng.choice(["v", "h_", "out", "g"]) + str(self.counter)

    def assign(self) -> str:
        value = self.expr(self.rng.randint(0, 5))
        name = self.new_name()
        self.assigned.append(name)
        return f"{name}{self.sp()}={self.sp()}{value}"

    def input_decl(self) -> str:
        name = self.rng.choice(INPUT_NAMES)
        self.inputs.append(name)
        if self.rng.random() < 0.1:
            return f"input {name}[{self.rng.choice(['2', '2, 3', '0', '1.5'])}]"
        if self.rng.random() < 0.1:
            return f"input {name}{self.sp()}={self.sp()}{self.literal((2,))}"
        if self.rng.random() < 0.5:
            return f"input {name}"
        sign = self.rng.choice(["", "", "-", "+"])
        return f"input {name}{self.sp()}={self.sp()}{sign}{self.sp()}{self.rng.choice(NUMBERS)}"

    def def_stmt(self) -> str:
        name = self.rng.choice(["sq", "mix", "lin", "soft", "k3", "sq"])  # sometimes twice
        params = self.rng.sample(PARAM_NAMES[:-1], self.rng.randint(0, 3))
        self.params = params
        body = self.expr(self.rng.randint(0, 4))
        self.params = None
        self.defs[name] = len(params)
        return f"def {name}({f',{self.sp()}'.join(params)}){self.sp()}={self.sp()}{body}"

    def statement(self) -> str:
        r = self.rng.random()
        if r < 0.15:
            return self.input_decl()
        if r < 0.25:
            return self.def_stmt()
        return self.assign()

    def repeated_lines(self) -> list[str]:
        """Lines of one shape with other names: the lean parser replays such lines."""
        marker = "\x00"
        real_name = self.name
        self.name = lambda: marker  # type: ignore[method-assign]
        shape = self.expr(self.rng.randint(1, 4))
        self.name = real_name  # type: ignore[method-assign]
        lines = []
        for _ in range(self.rng.randint(2, 6)):
            text = shape
            while marker in text:
                text = text.replace(marker, self.name(), 1)
            name = self.new_name()
            self.assigned.append(name)
            lines.append(f"{name} = {text}")
        return lines

    def program(self) -> str:
        lines: list[str] = []
        for _ in range(self.rng.randint(1, 12)):
            if self.rng.random() < 0.15:
                lines.extend(self.repeated_lines())
            else:
                lines.append(self.statement())
        ending = self.rng.random()
        names = self.assigned + self.inputs
        if ending < 0.25 and names:
            lines.append(f"output {self.rng.choice(names + ['nothere'])}")
            if self.rng.random() < 0.05:
                lines.append(f"output {self.rng.choice(names)}")  # one too many
        elif ending < 0.55:
            lines.append(self.expr(self.rng.randint(0, 4)))  # a bare final expression
            if self.rng.random() < 0.05:
                lines.insert(0, self.expr(1))  # a bare expression that is not the last
        text = self.rng.choice(["", "", "", "\n", "# header\n", ";"])
        for i, line in enumerate(lines):
            text += line + (self.rng.choice(SEPARATORS) if i < len(lines) - 1 else "")
        return text + self.rng.choice(["", "", "\n", "  # the end", ";", "\n\n", " "])


def broken(rng: random.Random, text: str) -> str:
    """The program cut short, with a stray token or a slice taken out."""
    r = rng.random()
    if r < 0.35:
        return text[: rng.randint(0, len(text))]
    if r < 0.8:
        i = rng.randint(0, len(text))
        stray = rng.choice(STRAY)
        pad = rng.choice(["", "", " "])
        return text[:i] + pad + stray + pad + text[i:]
    i = rng.randint(0, len(text))
    j = min(len(text), i + rng.randint(1, 4))
    return text[:i] + text[j:]


@cache
def corpus() -> list[tuple[str, str]]:
    """(label, program): VALID_PROGRAMS written programs, each followed by a broken copy."""
    rng = random.Random(SEED)
    programs = []
    for k in range(VALID_PROGRAMS):
        text = ProgramWriter(rng).program()
        programs.append((f"written #{k}", text))
        programs.append((f"broken #{k}", broken(rng, text)))
    return programs


# --- the tests ------------------------------------------------------------------------------------


def mismatch_report(label: str, text: str, fast: Outcome, other: Outcome) -> str:
    return (f"{label}: the fast path and stock Lark differ on\n{text!r}\n"
            f"fast:  {fast.kind} {fast.syntax} {fast.public!r:.2000}\n"
            f"stock: {other.kind} {other.syntax} {other.public!r:.2000}")


def test_the_fast_path_builds_what_stock_lark_builds() -> None:
    kinds: Counter[str] = Counter()
    for label, text in corpus():
        fast, reference = fast_outcome(text), stock_outcome(text)
        assert fast == reference, mismatch_report(label, text, fast, reference)
        kinds[fast.kind] += 1
    # the comparison covered graphs, syntax errors and the builder's errors, each many times
    assert kinds["graph"] >= 0.3 * len(corpus()), kinds
    assert kinds["syntax"] >= 0.2 * len(corpus()), kinds
    assert kinds["source"] >= 0.05 * len(corpus()), kinds


def keyword_stands_out_of_place(outcome: Outcome) -> bool:
    """The basic lexer's parse stopped at a reserved word where no keyword fits: there Lark's
    contextual lexer reads a NAME instead (see test_reserved_words_are_reserved_as_by_...).
    Likewise at a two-character token where none fits (`input e[2]==`, `x +== y`): the
    contextual lexer reads the one-character token it begins with (`=`, `+`), and stops later."""
    return outcome.kind == "syntax" and outcome.syntax[0] in (
        "INPUT", "OUTPUT", "DEF", "EQEQ", "GE", "LE", "NE", "PLUS_EQUAL")


def test_stock_lark_with_its_default_lexer_agrees_where_reserved_words_are_keywords() -> None:
    compared = 0
    for label, text in corpus():
        reference = stock_outcome(text)
        if keyword_stands_out_of_place(reference):
            continue
        fast, contextual = fast_outcome(text), stock_outcome(text, lexer="contextual")
        assert fast == contextual, mismatch_report(label, text, fast, contextual)
        compared += 1
    assert compared >= 0.9 * len(corpus())


def test_reserved_words_are_reserved_as_by_the_basic_lexer_not_the_contextual_one() -> None:
    text = "f = input * 2"
    fast = fast_outcome(text)
    assert fast.kind == "syntax" and fast.syntax[:3] == ("INPUT", 4, "input")
    message, position, _ = fast.public
    assert message == "syntax error: 'input' is a reserved word and cannot be used as a name"
    assert (position.line, position.column) == (1, 5)
    assert stock_outcome(text) == fast
    contextual = stock_outcome(text, lexer="contextual")  # a NAME here: an input named `input`
    assert contextual.kind == "graph"
    assert contextual.public[0][0] == ["input", "const", "mul"]


def test_the_programs_use_the_whole_language() -> None:
    """What the random programs cover, counted from the graphs they make."""
    ops: Counter[str] = Counter()
    texts = [text for _, text in corpus()]
    for text in texts:
        outcome = fast_outcome(text)
        if outcome.kind != "graph":
            continue
        (g_ops, _, _, names, _, _, _, _, defaults, output, arrays, _, shapes), defs = (
            outcome.public)
        ops.update(g_ops)
        ops["def"] += bool(defs)
        ops["default"] += bool(defaults)
        ops["bare"] += bool(re.fullmatch(r"f\d*|out|output_", names[output]))
        ops["literal"] += bool(arrays)
        ops["shape"] += bool(shapes)
        ops["array default"] += any(isinstance(v, list) for _, v in defaults)
    for name in [*FUNCTIONS, "add", "sub", "mul", "div", "pow", "neg", "id", "input", "const",
                 "gt", "lt", "ge", "le", "eq", "ne",
                 "def", "default", "bare", "matmul", "index", "literal", "shape",
                 "array default"]:
        op = FUNCTIONS[name].name if name in FUNCTIONS else name
        assert ops[op] >= 10, (name, ops)
    joined = "\n".join(texts)
    for piece in ["**", "^", "; ", "#", "\r\n", "output ", "input ", "def ", "- -", "^-", "+ ",
                  "==",
                  "@", "[[", "], ["]:
        assert joined.count(piece) >= 10, piece


@pytest.mark.parametrize("text", [
    "",
    "# only a comment",
    "f = x\n\n\n",
    "f = 2^3^2 ** -x",
    "f = -x^2 - -y * +z / 3",
    "def s(a, b) = a * b; f = s(x, y); output f",
    "input x = - 2.5e3\nx * x",
    "f = (x",
    "f = x $ y",
    "input",
    "f = ln(x)",
    "def f() = 1\ng = f()",
    "f = [[1, 2], [3, 4]] @ [1, -2]",
    "input W[2, 3]\nf = sum(W, -1)",
    "input W = [[1, 2]]\nf = W[0, -1]",
    "f = [1, [2]]",
    "f = sum(x, y)",
    "f = x[]",
])
def test_hand_picked_programs_agree(text: str) -> None:
    assert fast_outcome(text) == stock_outcome(text)
