"""Program text that is not built to be valid: derivations of the grammar itself, and mutations
of the shipped circuits (circuits/, exercises/).

The grammar walk reads `grammar.lark` through Lark (the package's own file, so a rule added
there is walked with no change here) and expands rules at random, the shortest way out once
deep; terminals come from samples that lex as intended (names, numbers that are edges of
float64), with spaces between tokens so that `input x` does not lex as `inputx`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path

from fuzz.choices import Chooser, weighted

REPO = Path(__file__).resolve().parent.parent

NAMES = ("x", "y", "z", "f", "q", "W", "b", "x0", "sum", "exp", "sigmoid", "pi", "e", "dx", "dq",
         "relu", "max", "softmax", "cross_entropy", "k", "a", "out", "input_", "_", "add",
         "output_", "reshape", "transpose", "mean", "amax", "pow", "index", "id")
NUMBERS = ("1", "0", "2", "3.5", ".5", "1e3", "2E2", "0.0", "3.", "1e308", "1e309", "1e-320",
           "00", "0.1", "1e-400", "4294967296", "123456789012345678901234567890", "5e-324",
           "1" + "0" * 400)
TERMINAL_SAMPLES = {
    "NAME": NAMES,
    "NUMBER": NUMBERS,
    "POW": ("^", "**"),
    "COMMENT": ("# c", "#", "# ∂f/∂x ; x = 3"),
    "_NL": ("\n", "\n"),
}
SPACES = ((14, " "), (4, ""), (1, "  "), (1, "\t"), (1, "\r"), (1, "\f"))


def grammar_text() -> str:
    return files("circuit_backprop.lang").joinpath("grammar.lark").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Grammar:
    """The grammar's rules (name -> expansions) and literal terminals, and how short each rule's
    shortest derivation is (to end a walk)."""

    rules: dict[str, tuple[tuple[str, ...], ...]]
    literals: dict[str, str]
    height: dict[str, int]


@cache
def grammar() -> Grammar:
    from lark import Lark

    lark = Lark(grammar_text(), parser="lalr")
    rules: dict[str, list[tuple[str, ...]]] = {}
    for rule in lark.rules:
        rules.setdefault(rule.origin.name, []).append(tuple(s.name for s in rule.expansion))
    literals = {t.name: t.pattern.value for t in lark.terminals
                if type(t.pattern).__name__ == "PatternStr"}
    height = {name: 0 for name in list(literals) + list(TERMINAL_SAMPLES)}
    changed = True
    while changed:  # the shortest derivation of each rule, by fixpoint
        changed = False
        for name, expansions in rules.items():
            best = min((1 + max((height.get(s, 10**6) for s in e), default=0)
                        for e in expansions), default=1)
            if best < height.get(name, 10**6):
                height[name] = best
                changed = True
    return Grammar({k: tuple(v) for k, v in rules.items()}, literals, height)


def derive(ch: Chooser, max_depth: int = 10, max_tokens: int = 400) -> str:
    """A random sentence of the grammar (before the parser's own checks: names may be unknown,
    numbers too large, shapes wrong)."""
    g = grammar()
    out: list[str] = []
    stack: list[tuple[str, int]] = [("start", 0)]
    while stack and len(out) < max_tokens:
        symbol, depth = stack.pop()
        if symbol in g.rules:
            expansions = g.rules[symbol]
            if depth >= max_depth:  # the shortest ways out only
                score = [max((g.height.get(s, 10**6) for s in e), default=0) for e in expansions]
                expansions = tuple(e for e, h in zip(expansions, score, strict=True)
                                   if h == min(score))
            expansion = ch.pick(expansions)
            stack.extend((s, depth + 1) for s in reversed(expansion))
            continue
        word = terminal(ch, symbol, g)
        space = weighted(ch, SPACES)
        out += [word, space or (" " if word[-1:].isalnum() or word[-1:] == "_" else "")]
    return "".join(out)


def terminal(ch: Chooser, name: str, g: Grammar) -> str:
    if name in g.literals:
        return g.literals[name]
    samples = TERMINAL_SAMPLES.get(name)
    if samples is None:  # a terminal added to the grammar: its name, lower-cased, often lexes
        return name.lower()
    return ch.pick(samples)


# --- the corpus and its mutations ---------------------------------------------------------------


@cache
def corpus() -> tuple[tuple[str, str], ...]:
    """(path relative to the repository, text) of every shipped circuit and answer file."""
    found = []
    for folder in ("circuits", "exercises"):
        for path in sorted((REPO / folder).rglob("*")):
            if path.suffix in (".circ", ".json") and path.is_file():
                found.append((str(path.relative_to(REPO)), path.read_text(encoding="utf-8")))
    return tuple(found)


def circuit_files() -> list[tuple[str, str]]:
    return [(p, t) for p, t in corpus() if p.endswith(".circ") and "/answer" not in p
            and "/wrong_" not in p]


TOKEN = re.compile(r"[ \t]+|\n|#[^\n]*|[A-Za-z_]\w*|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
                   r"|\*\*|\+=|.", re.S)
EDGE_NUMBERS = ("0", "-0", "1e308", "-1e308", "1e-320", "nan", "inf", "1e999", "-1", "0.0",
                "9" * 400, "1e-400", "2", "0.5", "-0.0", "1.7976931348623157e308", "5e-324")
INSERTS = ("(", ")", "[", "]", ",", "=", "+=", " def ", " input ", " output ", ";", "\n", "@",
           "^", "**", "-", "+", "*", "/", "#", "[1, 2]", "[[1], [2, 3]]", "sum(", "x", "1",
           "٣", "１２", "é", "\u200b", "\x00", "×", "∂", "😀", "\t", "\r", "\\", "'", '"',
           "\u2028", "\ufeff", "input W[2, 3]", "def k(a) = a", "output f", " e ", " pi ")


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


def mutate(ch: Chooser, text: str, rounds: int | None = None) -> str:
    """`text` with 1-4 token- or line-level mutations: delete, duplicate, swap, an edge number,
    another name, an inserted token or Unicode character, a spliced line, a truncation."""
    for _ in range(rounds or ch.integer(1, 4)):
        text = weighted(ch, MUTATIONS)(ch, text)
    return text


def _delete(ch: Chooser, text: str) -> str:
    toks = tokens(text)
    if toks:
        del toks[ch.integer(0, len(toks) - 1)]
    return "".join(toks)


def _duplicate(ch: Chooser, text: str) -> str:
    toks = tokens(text)
    if toks:
        i = ch.integer(0, len(toks) - 1)
        toks.insert(i, toks[i])
    return "".join(toks)


def _swap(ch: Chooser, text: str) -> str:
    toks = tokens(text)
    solid = [i for i, t in enumerate(toks) if not t.isspace()]
    if len(solid) > 1:
        k = ch.integer(0, len(solid) - 2)
        i, j = solid[k], solid[k + 1]
        toks[i], toks[j] = toks[j], toks[i]
    return "".join(toks)


def _number(ch: Chooser, text: str) -> str:
    toks = tokens(text)
    numbers = [i for i, t in enumerate(toks) if t[:1].isdigit() or t[:1] == "."]
    if numbers:
        toks[ch.pick(numbers)] = ch.pick(EDGE_NUMBERS)
    return "".join(toks)


def _name(ch: Chooser, text: str) -> str:
    toks = tokens(text)
    names = [i for i, t in enumerate(toks) if t[:1].isalpha() or t[:1] == "_"]
    if names:
        here = [toks[i] for i in names]
        toks[ch.pick(names)] = ch.pick(here + list(NAMES) + ["input", "output", "def"])
    return "".join(toks)


def _insert(ch: Chooser, text: str) -> str:
    toks = tokens(text)
    toks.insert(ch.integer(0, len(toks)), ch.pick(INSERTS))
    return "".join(toks)


def _splice(ch: Chooser, text: str) -> str:
    lines = text.split("\n")
    _, other = ch.pick(corpus())
    donor = other.split("\n")
    line = ch.pick(donor)
    at = ch.integer(0, len(lines))
    if ch.coin(0.5) and lines:
        lines[min(at, len(lines) - 1)] = line
    else:
        lines.insert(at, line)
    return "\n".join(lines)


def _lines(ch: Chooser, text: str) -> str:
    lines = text.split("\n")
    i = ch.integer(0, len(lines) - 1)
    if ch.coin(0.5):
        del lines[i]
    else:
        lines.insert(i, lines[i])
    return "\n".join(lines)


def _truncate(ch: Chooser, text: str) -> str:
    return text[: ch.integer(0, len(text))]


def _separators(ch: Chooser, text: str) -> str:
    return ch.pick([text.replace("\n", ";"), text.replace("\n", "\r\n"), text.replace(" ", ""),
                    text.replace("^", "**"), text.replace("\n", "\n\n")])


MUTATIONS = ((3, _number), (3, _delete), (2, _duplicate), (2, _swap), (3, _name), (3, _insert),
             (2, _splice), (2, _lines), (1, _truncate), (1, _separators))
