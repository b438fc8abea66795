"""The op registry: the single source of truth for every operation a gate can perform.

Each entry holds everything the rest of the tool needs to know about one op: how many inputs it
takes, how to compute its value, its local gradient with respect to each input (as a function and
as the formula shown to the user), where it is not differentiable, and its PyTorch counterpart.
Adding an op means adding one entry here.

Local gradient functions take the gate's input values and then its output value:
``partial(a, b, out)`` for a binary op, ``partial(a, out)`` for a unary one. They raise
``ValueError`` with a short reason where the gradient does not exist.

Non-differentiable points follow PyTorch, so that ``--check-torch`` agrees:
relu'(0) = 0, abs'(0) = 0, and max/min split the gradient 0.5/0.5 on a tie.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Op:
    name: str  # stable identifier, used in JSON ("mul")
    symbol: str  # short symbol for tables and diagrams ("×")
    arity: int
    value: Callable[..., float]
    partials: tuple[Callable[..., float], ...]  # one per input: ∂out/∂input_i
    formulas: tuple[str, ...]  # one per input, with {a}, {b} standing for the inputs
    text: str  # how the op is written in the language: "{a} * {b}", "exp({a})"
    torch: Callable[..., object]  # (torch_module, *tensors) -> tensor
    torch_text: str  # the same, as PyTorch source: "{a} * {b}", "torch.exp({a})"
    domain: Callable[..., str | None] | None = None  # why inputs are outside the domain
    kink: Callable[..., str | None] | None = None  # note at a non-differentiable point
    call: str | None = None  # the function name in the language, if it is called like one
    # The same value and partials on numpy arrays, for the bulk engine (bulk.py): (np, *arrays)
    vec: Callable[..., Any] | None = None
    vec_partials: tuple[Callable[..., Any], ...] | None = None
    # a built-in composite: its primitive gates, as a body over parameters a, b (--expand)
    expands_to: str | None = None


def _sigmoid(a: float) -> float:
    """Numerically stable logistic function (never overflows)."""
    if a >= 0:
        return 1.0 / (1.0 + math.exp(-a))
    ea = math.exp(a)
    return ea / (1.0 + ea)


def _div_domain(a: float, b: float) -> str | None:
    return "division by zero" if b == 0 else None


def _pow_domain(a: float, b: float) -> str | None:
    if a == 0 and b < 0:
        return "0 raised to a negative power"
    if a < 0 and not float(b).is_integer():
        return "a negative base raised to a fractional power"
    return None


def _pow_dbase(a: float, b: float, out: float) -> float:
    if b == 0:
        return 0.0  # PyTorch: d(a^0)/da = 0, even at a = 0
    return b * math.pow(a, b - 1)


def _pow_dexp(a: float, b: float, out: float) -> float:
    if a > 0:
        return out * math.log(a)
    if a == 0 and b >= 0:
        return 0.0  # PyTorch masks 0^b·ln(0) to 0 for b >= 0
    raise ValueError("∂(a^b)/∂b = a^b·ln(a) needs a > 0")


def _sqrt_grad(a: float, out: float) -> float:
    if out == 0:
        raise ValueError("the gradient of sqrt at 0 is infinite")
    return 0.5 / out


def _tie(a: float, b: float) -> str | None:
    return "tie: gradient split 0.5/0.5 (as PyTorch)" if a == b else None


def _max_grad(mine: float, other: float) -> float:
    return 1.0 if mine > other else 0.5 if mine == other else 0.0


# numpy versions (np is passed in, so that importing this module never imports numpy)


def _vec_sigmoid(np: Any, a: Any) -> Any:
    e = np.exp(-np.abs(a))  # never overflows
    return np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _vec_pow_dbase(np: Any, a: Any, b: Any, out: Any) -> Any:
    return np.where(b == 0, 0.0, b * np.power(a, b - 1))


def _vec_pow_dexp(np: Any, a: Any, b: Any, out: Any) -> Any:
    safe = np.where(a > 0, a, 1.0)
    return np.where(a > 0, out * np.log(safe), np.where((a == 0) & (b >= 0), 0.0, np.nan))


def _vec_max_grad(np: Any, mine: Any, other: Any) -> Any:
    return np.where(mine > other, 1.0, np.where(mine == other, 0.5, 0.0))


def _ops() -> list[Op]:
    return [
        Op("add", "+", 2, lambda a, b: a + b,
           (lambda a, b, o: 1.0, lambda a, b, o: 1.0), ("1", "1"),
           "{a} + {b}", lambda t, a, b: a + b, "{a} + {b}",
           vec=lambda np, a, b: a + b,
           vec_partials=(lambda np, a, b, o: np.ones_like(a), lambda np, a, b, o: np.ones_like(a))),
        Op("sub", "−", 2, lambda a, b: a - b,
           (lambda a, b, o: 1.0, lambda a, b, o: -1.0), ("1", "-1"),
           "{a} - {b}", lambda t, a, b: a - b, "{a} - {b}",
           vec=lambda np, a, b: a - b,
           vec_partials=(lambda np, a, b, o: np.ones_like(a),
                         lambda np, a, b, o: -np.ones_like(a))),
        Op("mul", "×", 2, lambda a, b: a * b,
           (lambda a, b, o: b, lambda a, b, o: a), ("{b}", "{a}"),
           "{a} * {b}", lambda t, a, b: a * b, "{a} * {b}",
           vec=lambda np, a, b: a * b,
           vec_partials=(lambda np, a, b, o: b, lambda np, a, b, o: a)),
        Op("div", "÷", 2, lambda a, b: a / b,
           (lambda a, b, o: 1.0 / b, lambda a, b, o: -a / (b * b)), ("1/{b}", "-{a}/{b}²"),
           "{a} / {b}", lambda t, a, b: a / b, "{a} / {b}", domain=_div_domain,
           vec=lambda np, a, b: a / b,
           vec_partials=(lambda np, a, b, o: 1.0 / b, lambda np, a, b, o: -a / (b * b))),
        Op("neg", "−", 1, lambda a: -a,
           (lambda a, o: -1.0,), ("-1",),
           "-{a}", lambda t, a: -a, "-{a}",
           vec=lambda np, a: -a,
           vec_partials=(lambda np, a, o: -np.ones_like(a),)),
        Op("pow", "^", 2, math.pow,
           (_pow_dbase, _pow_dexp), ("{b}·{a}^({b}-1)", "{a}^{b}·ln({a})"),
           "{a} ^ {b}", lambda t, a, b: t.pow(a, b), "torch.pow({a}, {b})",
           domain=_pow_domain, call="pow",
           vec=lambda np, a, b: np.power(a, b),
           vec_partials=(_vec_pow_dbase, _vec_pow_dexp)),
        Op("exp", "exp", 1, math.exp,
           (lambda a, o: o,), ("exp({a})",),
           "exp({a})", lambda t, a: t.exp(a), "torch.exp({a})", call="exp",
           vec=lambda np, a: np.exp(a),
           vec_partials=(lambda np, a, o: o,)),
        Op("log", "log", 1, math.log,
           (lambda a, o: 1.0 / a,), ("1/{a}",),
           "log({a})", lambda t, a: t.log(a), "torch.log({a})",
           domain=lambda a: None if a > 0 else "log needs an input > 0", call="log",
           vec=lambda np, a: np.log(a),
           vec_partials=(lambda np, a, o: 1.0 / a,)),
        Op("sqrt", "√", 1, math.sqrt,
           (_sqrt_grad,), ("1/(2·sqrt({a}))",),
           "sqrt({a})", lambda t, a: t.sqrt(a), "torch.sqrt({a})",
           domain=lambda a: None if a >= 0 else "sqrt needs an input ≥ 0", call="sqrt",
           vec=lambda np, a: np.sqrt(a),
           vec_partials=(lambda np, a, o: 0.5 / o,)),
        Op("sin", "sin", 1, math.sin,
           (lambda a, o: math.cos(a),), ("cos({a})",),
           "sin({a})", lambda t, a: t.sin(a), "torch.sin({a})", call="sin",
           vec=lambda np, a: np.sin(a),
           vec_partials=(lambda np, a, o: np.cos(a),)),
        Op("cos", "cos", 1, math.cos,
           (lambda a, o: -math.sin(a),), ("-sin({a})",),
           "cos({a})", lambda t, a: t.cos(a), "torch.cos({a})", call="cos",
           vec=lambda np, a: np.cos(a),
           vec_partials=(lambda np, a, o: -np.sin(a),)),
        Op("tan", "tan", 1, math.tan,
           (lambda a, o: 1.0 + o * o,), ("1 + tan²({a})",),
           "tan({a})", lambda t, a: t.tan(a), "torch.tan({a})", call="tan",
           vec=lambda np, a: np.tan(a),
           vec_partials=(lambda np, a, o: 1.0 + o * o,)),
        Op("tanh", "tanh", 1, math.tanh,
           (lambda a, o: 1.0 - o * o,), ("1 - tanh²({a})",),
           "tanh({a})", lambda t, a: t.tanh(a), "torch.tanh({a})", call="tanh",
           vec=lambda np, a: np.tanh(a),
           vec_partials=(lambda np, a, o: 1.0 - o * o,)),
        Op("sigmoid", "σ", 1, _sigmoid,
           (lambda a, o: o * (1.0 - o),), ("σ({a})·(1 - σ({a}))",),
           "sigmoid({a})", lambda t, a: t.sigmoid(a), "torch.sigmoid({a})", call="sigmoid",
           expands_to="1 / (1 + exp(-a))",
           vec=_vec_sigmoid,
           vec_partials=(lambda np, a, o: o * (1.0 - o),)),
        Op("relu", "relu", 1, lambda a: a if a > 0 else 0.0,
           (lambda a, o: 1.0 if a > 0 else 0.0,), ("1 if {a} > 0 else 0",),
           "relu({a})", lambda t, a: t.relu(a), "torch.relu({a})",
           kink=lambda a: "relu at 0: gradient 0 (as PyTorch)" if a == 0 else None, call="relu",
           vec=lambda np, a: np.where(a > 0, a, 0.0),
           vec_partials=(lambda np, a, o: np.where(a > 0, 1.0, 0.0),)),
        Op("abs", "|·|", 1, abs,
           (lambda a, o: 1.0 if a > 0 else -1.0 if a < 0 else 0.0,), ("sign({a})",),
           "abs({a})", lambda t, a: t.abs(a), "torch.abs({a})",
           kink=lambda a: "abs at 0: gradient 0 (as PyTorch)" if a == 0 else None, call="abs",
           vec=lambda np, a: np.abs(a),
           vec_partials=(lambda np, a, o: np.sign(a),)),
        Op("max", "max", 2, lambda a, b: a if a >= b else b,
           (lambda a, b, o: _max_grad(a, b), lambda a, b, o: _max_grad(b, a)),
           ("1 if {a} > {b} else 0", "1 if {b} > {a} else 0"),
           "max({a}, {b})", lambda t, a, b: t.maximum(a, b), "torch.maximum({a}, {b})",
           kink=_tie, call="max",
           vec=lambda np, a, b: np.where(a >= b, a, b),
           vec_partials=(lambda np, a, b, o: _vec_max_grad(np, a, b),
                         lambda np, a, b, o: _vec_max_grad(np, b, a))),
        Op("min", "min", 2, lambda a, b: a if a <= b else b,
           (lambda a, b, o: _max_grad(b, a), lambda a, b, o: _max_grad(a, b)),
           ("1 if {a} < {b} else 0", "1 if {b} < {a} else 0"),
           "min({a}, {b})", lambda t, a, b: t.minimum(a, b), "torch.minimum({a}, {b})",
           kink=_tie, call="min",
           vec=lambda np, a, b: np.where(a <= b, a, b),
           vec_partials=(lambda np, a, b, o: _vec_max_grad(np, b, a),
                         lambda np, a, b, o: _vec_max_grad(np, a, b))),
        Op("id", "=", 1, lambda a: a,
           (lambda a, o: 1.0,), ("1",),
           "{a}", lambda t, a: a.clone(), "{a}.clone()",
           vec=lambda np, a: a + 0.0,
           vec_partials=(lambda np, a, o: np.ones_like(a),)),
    ]


OPS: dict[str, Op] = {op.name: op for op in _ops()}
"""Every gate op by name. Inputs and constants are nodes, not ops: their kinds are below."""

FUNCTIONS: dict[str, Op] = {op.call: op for op in OPS.values() if op.call}
"""Ops that the language calls like functions: exp(x), max(a, b), ..."""

INPUT = "input"
CONST = "const"

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}
"""Named constants; a user's input or statement of the same name shadows them."""
