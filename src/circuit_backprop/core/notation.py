"""How the circuit language writes an expression: each op's precedence, and an expression put
together from its operands' text with only the parentheses it needs.

The grammar (lang/grammar.lark) is the authority; this is the same order, high to low: calls,
parentheses and indexing; ^ (right-associative); unary -; * / @; + -; comparisons.
`circuit grad` writes its program with it, and the program parses back to the same gates.
"""

from __future__ import annotations

from collections.abc import Sequence

from circuit_backprop.core.ops import Op

ATOM = 6  # a name, a number, a call, x[i]: never needs parentheses
POWER = 5
UNARY = 4
LEVELS = {"^": POWER, "*": 3, "/": 3, "@": 3, "+": 2, "-": 2,
          ">": 1, "<": 1, ">=": 1, "<=": 1, "==": 1, "!=": 1}
"""The grammar's level of each infix operator an op's `text` may be written with."""

Written = tuple[str, int]  # an expression's text and its precedence


def number(value: float) -> Written:
    """A number as the language writes it (repr's shortest round trip, 2 rather than 2.0)."""
    text = repr(float(value))
    text = text[:-2] if text.endswith(".0") else text
    return text, (UNARY if text.startswith("-") else ATOM)


def array(value: object) -> Written:
    """An array literal, [[1, 2], [3, 4]], from a NumPy array."""
    import numpy as np

    flat = [number(v)[0] for v in np.asarray(value, dtype=float).ravel()]
    shape = np.shape(value)
    for dim in reversed(shape):
        flat = ["[" + ", ".join(flat[i : i + dim]) + "]" for i in range(0, len(flat), dim)]
    return flat[0], ATOM


def infix_level(op: Op) -> int | None:
    """The level of an op written `{a} SYMBOL {b}` (its registry `text`), else None."""
    parts = op.text.split(" ")
    if len(parts) == 3 and parts[0] == "{a}" and parts[2] == "{b}" and parts[1] in LEVELS:
        return LEVELS[parts[1]]
    return None


def write(op: Op, operands: Sequence[Written], params: Sequence[int] = ()) -> Written:
    """The op applied to its operands' text, as its registry `text` writes it, parenthesised
    where the grammar needs it: infix (`{a} * {b}`), prefix (`-{a}`), indexing (`{a}[{dims}]`),
    the identity (`{a}`), or a call (`sum({a}{p})`, `where({cond}, {a}, {b})`)."""
    def wrapped(operand: Written, least: int) -> str:
        text, precedence = operand
        return text if precedence >= least else f"({text})"

    template = op.text
    level = infix_level(op)
    if level is not None:
        a, b = operands
        symbol = template.split(" ")[1]
        if level == POWER:  # right-associative: 2^3^2 = 2^(3^2); -x^2 = -(x^2)
            return f"{wrapped(a, ATOM)} {symbol} {wrapped(b, UNARY)}", level
        left, right = (level + 1, level + 1) if level == 1 else (level, level + 1)  # no chains
        return f"{wrapped(a, left)} {symbol} {wrapped(b, right)}", level
    if template == "{a}":
        return operands[0]
    if template == "-{a}":
        return f"-{wrapped(operands[0], UNARY)}", UNARY
    if template == "{a}[{dims}]":
        return op.fill(template, [wrapped(operands[0], ATOM)], params), ATOM
    texts = [text for text, _ in operands]
    if "{" not in template:  # a def: its text is its signature
        return f"{op.call or op.name}({', '.join(texts + [str(p) for p in params])})", ATOM
    return op.fill(template, texts, params), ATOM
