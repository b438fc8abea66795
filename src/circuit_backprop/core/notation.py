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
INFIX = {"add": 2, "sub": 2, "mul": 3, "div": 3, "matmul": 3,
         "gt": 1, "lt": 1, "ge": 1, "le": 1, "eq": 1, "ne": 1, "pow": POWER}
SYMBOLS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "matmul": "@", "pow": "^",
           "gt": ">", "lt": "<", "ge": ">=", "le": "<=", "eq": "==", "ne": "!="}

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


def write(op: Op, operands: Sequence[Written], params: Sequence[int] = ()) -> Written:
    """The op applied to its operands' text, parenthesised where the grammar needs it."""
    def wrapped(operand: Written, least: int) -> str:
        text, precedence = operand
        return text if precedence >= least else f"({text})"

    name = op.name
    if name in INFIX:
        p = INFIX[name]
        a, b = operands
        if name == "pow":  # right-associative: 2^3^2 = 2^(3^2); -x^2 = -(x^2)
            return f"{wrapped(a, ATOM)} ^ {wrapped(b, UNARY)}", p
        left, right = (p + 1, p + 1) if p == 1 else (p, p + 1)  # comparisons do not chain
        return f"{wrapped(a, left)} {SYMBOLS[name]} {wrapped(b, right)}", p
    if name == "neg":
        return f"-{wrapped(operands[0], UNARY)}", UNARY
    if name == "index":
        return f"{wrapped(operands[0], ATOM)}[{', '.join(map(str, params))}]", ATOM
    if name == "id":
        return operands[0]
    call = op.call or name
    args = [text for text, _ in operands] + [str(p) for p in params]
    return f"{call}({', '.join(args)})", ATOM
