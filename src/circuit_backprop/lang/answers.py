"""A learner's hand-written backward pass, parsed by the circuit grammar (never eval'd).

An answer file reads the forward pass's names (their values) and assigns gradients `dNAME` for
∂f/∂NAME, in the order the learner wrote them:

    dq = z              # ∂f/∂q
    dz = q
    dx = dq * 1
    dx += dq2 * 1       # at a fork, the gradients add (cs231n writes +=)

Each statement becomes gates of one graph, as a circuit's do; a gradient assigned again (`=`
or `+=`) gets a new node, its *version*, and later statements read the latest version. The
grader (checks/grade.py) evaluates that graph with the forward values, then again with the
right gradients in place of the ones each statement reads, to find the first wrong step.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from functools import cache

from circuit_backprop.core.graph import Graph
from circuit_backprop.core.ops import CONSTANTS
from circuit_backprop.errors import SourceError, close_matches
from circuit_backprop.lang.lalr import LalrSyntaxError, LeanParser
from circuit_backprop.lang.lalr import Tok as Token
from circuit_backprop.lang.parse import _Builder, _collector_paused, _syntax_error, _tables
from circuit_backprop.lang.refs import Ref, make_ref


@dataclass
class Step:
    """One statement of the answer: `dx = ...` or `dx += ...`."""

    gradient: str  # "dx"
    of: str  # "x": the circuit's name it is the gradient of
    accumulates: bool  # += (adds to the previous version) or =
    node: int  # the node holding the gradient's value after this statement
    expression: int  # the node of the right-hand side
    reads: tuple[str, ...]  # the gradients its right-hand side reads ("dq", ...)
    line: int
    column: int
    text: str  # the statement's source, on one line


@dataclass
class Answers:
    """A parsed answer file: its graph (inputs are the forward names it reads) and its steps."""

    graph: Graph
    steps: list[Step] = field(default_factory=list)

    @property
    def gradients(self) -> list[str]:
        """The gradients answered, in the order the learner first assigned them."""
        return list(dict.fromkeys(step.gradient for step in self.steps))

    def final_node(self, gradient: str) -> int:
        return [s.node for s in self.steps if s.gradient == gradient][-1]


class _AnswerBuilder(_Builder):
    """The circuit builder, with the rules of an answer file: only gradients are assigned, any
    number of times; a name read is a forward name or a gradient assigned before."""

    forward: Collection[str] = ()  # set per parse (see parse_answers)

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.versions: dict[str, int] = {}  # gradient -> its latest node
        self.reads: list[str] = []  # gradients read since the last statement
        self.answers = Answers(self.graph)

    def name(self, tok: Token) -> Ref:
        name = str(tok)
        start, end = tok.start_pos, tok.end_pos
        if name in self.versions:
            self.reads.append(name)
            return make_ref(self.versions[name], start, end)
        if self.is_gradient(name):
            raise self.error(f"'{name}' is read before it is assigned", start,
                             [f"assign it first: {name} = ..."])
        if name not in self.forward:
            close = close_matches(name, [*self.forward, *self.versions], n=2)
            hint = [f"did you mean {' or '.join(close)}?"] if close else []
            raise self.error(f"unknown name '{name}': not a name of the circuit, nor a "
                             "gradient assigned above", start,
                             hint + ["an answer reads the forward pass's names and its own "
                                     "dNAME gradients"])
        if name in CONSTANTS:  # a gate of the circuit named e or pi: its value, not the constant
            self.declared.setdefault(name, start)
        return super().name(tok)

    def is_gradient(self, name: str) -> bool:
        return name.startswith("d") and name[1:] in self.forward

    def check_target(self, name_tok: Token) -> str:
        name = str(name_tok)
        if name in self.forward:
            raise self.error(f"'{name}' is a name of the forward pass: an answer assigns "
                             f"gradients, d{name} for ∂f/∂{name}", name_tok.start_pos)
        if not self.is_gradient(name):
            known = [f"d{n}" for n in self.forward]
            close = close_matches(name, known, n=2)
            raise self.error(
                f"'{name}' is not the gradient of a name of the circuit", name_tok.start_pos,
                ([f"did you mean {' or '.join(close)}?"] if close else [])
                + ["gradients are named dNAME, for the circuit's inputs and named gates: "
                   + ", ".join(known)])
        return name

    def assign(self, name_tok: Token, ref: Ref) -> None:
        self.add_step(name_tok, ref, accumulates=False)

    def accumulate(self, name_tok: Token, op: Token, ref: Ref) -> None:
        self.add_step(name_tok, ref, accumulates=True)

    def add_step(self, name_tok: Token, ref: Ref, accumulates: bool) -> None:
        name = self.check_target(name_tok)
        g = self.graph
        node = ref.node
        previous = self.versions.get(name)
        if accumulates and previous is not None:
            node = g.add_node("add", (previous, ref.node), ref.start, ref.end)
        elif g.names[node] is not None or g.ops[node] == "input" or node in self.versions.values():
            node = g.add_node("id", (node,), ref.start, ref.end)  # (a wire of its own)
        g.names[node] = name
        self.versions[name] = node
        line, column = g.line_column(name_tok.start_pos)
        statement = " ".join(g.text[name_tok.start_pos : ref.end].split())
        self.answers.steps.append(Step(name, name[1:], accumulates, node, ref.node,
                                       tuple(dict.fromkeys(self.reads)), line, column,
                                       statement))
        self.reads = []
        self.statement_count += 1

    def input_decl(self, kw: Token, *rest: object) -> None:
        raise self.error("an answer file assigns gradients: 'input' belongs in the circuit",
                         kw.start_pos)

    def output_decl(self, kw: Token, name_tok: Token) -> None:
        raise self.error("an answer file assigns gradients: 'output' belongs in the circuit",
                         kw.start_pos)

    def def_head(self, kw: Token, name_tok: Token, params: object) -> None:
        raise self.error("an answer file assigns gradients: write the gradient itself, "
                         "without def", kw.start_pos)

    def bare(self, ref: Ref) -> None:
        raise self.error("an answer is a statement dNAME = EXPR (or dNAME += EXPR)", ref.start)

    def finish(self) -> Answers:  # type: ignore[override]
        self.check_called_functions_exist()
        if not self.answers.steps:
            raise SourceError("the answer file is empty: write at least one gradient, "
                              "e.g. dx = 1")
        return self.answers


@cache
def _parser() -> LeanParser:
    return LeanParser(_tables(), _AnswerBuilder)


def parse_answers(text: str, forward: Collection[str]) -> Answers:
    """Parse an answer file against a circuit whose inputs and named gates are `forward`."""
    builder = _AnswerBuilder(text)
    builder.forward = frozenset(forward)
    with _collector_paused():
        try:
            return _parser().parse(text, builder)
        except LalrSyntaxError as e:
            raise _syntax_error(text, e) from None
