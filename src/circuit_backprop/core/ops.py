"""The op registry: the single source of truth for every operation a gate can perform.

Each op is one `Op` entry, written by keyword, holding everything the rest of the tool needs:

- `value`: the forward pass (math on floats for an elementwise op, the reference engine's scalar
  fast path; NumPy arrays and the gate's integer arguments for any other op), and `numpy`, an
  elementwise op's forward on arrays (`arithmetic=True`: `value` serves arrays as it is);
- `grad`: one gradient rule per input, written in the circuit language over the op's inputs
  (named by `inputs`: a, b, ...), its output `out` and the upstream gradient `dout`; None for an
  input that takes no gradient (labels, conditions, masks). An elementwise op's rule is
  `dout * LOCAL`: LOCAL is its local gradient, what the tables show (upstream × local =
  downstream). The engines run the rules (rules.py), `circuit grad` prints them (derive.py),
  and the rules are made of ops that have rules, so they differentiate again;
- `shape`: an op that is not elementwise gives its output shape (elementwise ops broadcast);
- `text`, `symbol`, `call`: how the op is written and shown;
- `domain`, `kink`, `grad_domain`: why inputs are outside the domain; a note at a
  non-differentiable point; why a gradient does not exist (where its rule is not finite);
- `torch`, `torch_text`: its PyTorch twin, as a call and as source;
- `samples`, `edges`, `array_cases`: where to test it (tests/test_op_parity.py and
  tests/test_rules.py run every op there, against PyTorch); `conditioned`: where random circuits
  may use it.

Adding an op means adding one entry here (see the README's "The op model").

Non-differentiable points follow PyTorch, so that ``--check-torch`` agrees:
relu'(0) = 0, abs'(0) = 0, and max/min split the gradient 0.5/0.5 on a tie.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any

from circuit_backprop.core.arrays import (
    Shape,
    ShapeError,
    axis_of,
    broadcast,
    show,
    sum_to_shape,
)

Point = tuple[float, ...]  # one value per input of an op
Params = tuple[int, ...]  # a gate's integer arguments: sum(x, 0) has (0,)
# A gradient rule: an expression in the circuit language, or, where it depends on the gate's
# shapes or integer arguments, a function (input shapes, params) -> that expression
Rule = str | Callable[[tuple[Shape, ...], Params], str]


def downstream(upstream: Any, local: Any) -> Any:
    """What a gate sends down one input wire: upstream × local (floats, or arrays of one shape).

    The one place this product is written: the engines and Trace.downstream call it (the tape
    inlines it in its hot loop; see bulk.run_tape)."""
    return upstream * local


def sum_to_input(gradient: Any, x: Any) -> Any:
    """The gradient for input `x`, shaped like `x`: an elementwise op's VJP sums upstream × local
    over the axes NumPy broadcast `x` along (leading axes, and axes where `x` has length 1).
    On scalar wires there are none, and the gradient is returned as it is."""
    shape = getattr(x, "shape", ())
    if shape == getattr(gradient, "shape", ()):
        return gradient
    import numpy as np

    full = np.broadcast_shapes(np.shape(gradient), shape)  # (a local such as +'s 1 is a number)
    return sum_to_shape(np.broadcast_to(gradient, full), shape)


def input_names(arity: int) -> tuple[str, ...]:
    """The names an op's rules give its inputs unless it names them: a, b, c, ... (a def with
    more than 26 parameters: x26, x27, ...)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    return tuple(letters[k] if k < len(letters) else f"x{k}" for k in range(arity))


def _on_arrays(value: Callable[..., Any]) -> Callable[..., Any]:
    """An arithmetic op's `numpy`: its scalar `value` itself, which NumPy arrays support."""
    def numpy(np: Any, *xs: Any) -> Any:
        return value(*xs)

    numpy.same_as = value  # type: ignore[attr-defined]
    return numpy


@dataclass(frozen=True)
class Op:
    """One op's entry. Every field is given by keyword (see the module's docstring)."""

    _: KW_ONLY
    name: str  # stable identifier, used in JSON ("mul")
    symbol: str  # short symbol for tables and diagrams ("×")
    arity: int
    value: Callable[..., Any]  # the forward pass: value(a, b) on floats, value(*arrays, params)
    text: str  # how the op is written in the language: "{a} * {b}", "exp({a})"
    torch: Callable[..., object]  # (torch_module, *tensors) -> tensor
    torch_text: str  # the same, as PyTorch source: "{a} * {b}", "torch.exp({a})"
    # The gradient rules, one per input (see the module's docstring), and the names they give
    # the inputs (a, b, c, ... by default; where(cond, a, b) names its condition).
    grad: tuple[Rule | None, ...]
    inputs: tuple[str, ...] = ()
    domain: Callable[..., str | None] | None = None  # why inputs are outside the domain
    kink: Callable[..., str | None] | None = None  # note at a non-differentiable point
    # why the gradient for input k does not exist at these inputs: grad_domain(k, *inputs)
    grad_domain: Callable[..., str | None] | None = None
    call: str | None = None  # the function name in the language, if it is called like one
    # a built-in composite: its primitive gates, as a body over its inputs (--expand)
    expands_to: str | None = None
    # Elementwise (the default): applied element by element, its inputs broadcast (NumPy's rule).
    # Any other op (a matmul, a reduction) sets elementwise=False and gives its `shape` rule.
    elementwise: bool = True
    # An elementwise op's forward on arrays: numpy(np, *arrays), np passed in (so that importing
    # this module never imports numpy); or `arithmetic=True` when `value` serves arrays as is.
    numpy: Callable[..., Any] | None = None
    arithmetic: bool = False
    # Where to test the op: a (low, high) range per input for random points inside its domain and
    # away from its kinks, and points of its own where implementations tend to part ways (domain
    # edges, kinks, overflow), besides COMMON_EDGES. Points outside the domain are welcome: there
    # every implementation must refuse, as PyTorch gives inf or NaN.
    samples: tuple[tuple[float, float], ...] = ()
    edges: tuple[Point, ...] = ()
    # Where the op is well conditioned: away from domain edges, kinks and steep slopes, so that
    # every implementation (and a finite difference) agrees to float64 rounding. Random-circuit
    # tests (tests/test_torch_property.py, tests/test_scale.py) build gates only where this holds.
    conditioned: Callable[..., bool] = lambda *xs: True
    # Arrays. `shape(*input_shapes, params) -> output shape` (raising arrays.ShapeError with both
    # shapes), for an op that is not elementwise. `params`: how many integer arguments may follow
    # the wires (min, max), as in sum(x, 0) or reshape(x, 2, 3): they are part of the gate, not
    # wires, and reach `value`, the rules and `torch` as one tuple after the arrays.
    shape: Callable[..., tuple[int, ...]] | None = None
    params: tuple[int, int] = (0, 0)
    param_names: tuple[str, ...] = ()  # how messages name them: ("axis",), ("d1", "...")
    # Where to test an array op (tests/test_tensor_ops.py): input shapes and integer arguments
    array_cases: tuple[tuple[tuple[tuple[int, ...], ...], Params], ...] = ()
    labels: tuple[int, ...] = ()  # inputs that are class labels (cross_entropy's): --random
    # gives them classes of the first input's last axis
    # A def (composite.py): the passes through its body that give its value and gradients
    body: Any = None

    def __post_init__(self) -> None:
        if not self.inputs:
            object.__setattr__(self, "inputs", input_names(self.arity))
        if len(self.grad) != self.arity or len(self.inputs) != self.arity:
            raise TypeError(f"op {self.name}: give one gradient rule (or None) and one name per "
                            "input")
        if self.params[1] and not self.param_names:
            names = ("axis",) if self.params[1] == 1 else ("d1", "...")
            object.__setattr__(self, "param_names", names)
        if self.arithmetic:
            if self.numpy is not None and getattr(self.numpy, "same_as", None) is None:
                raise TypeError(f"op {self.name}: arithmetic=True derives `numpy` from `value`: "
                                "give one or the other")
            # (dataclasses.replace passes the derived one back: made again from today's value)
            object.__setattr__(self, "numpy", _on_arrays(self.value))
        elif self.elementwise and self.numpy is None and self.body is None:
            raise TypeError(f"op {self.name}: an elementwise op needs `numpy`, or "
                            "arithmetic=True")

    def forward(self, inputs: Sequence[Any], params: tuple[int, ...] = ()) -> Any:
        """The op's value on floats or arrays: `value` for an elementwise op on floats, `numpy`
        on arrays; any other op's `value` takes arrays and its params."""
        if self.body is not None:
            return self.body.forward_of(self, inputs)
        if not self.elementwise:
            return self.value(*inputs, params)
        if any(hasattr(x, "shape") and x.shape for x in inputs):
            import numpy as np

            return self.numpy(np, *inputs)
        return self.value(*inputs)

    def fill(self, template: str, operands: Sequence[str], params: Sequence[int] | str = (),
             dims: str | None = None) -> str:
        """`template` (the op's `text` or `torch_text`) with operand texts for its inputs ({a},
        {b}, {cond}, ...) and its integer arguments: {p} after a comma (", 0"), {dims} without
        (given as numbers, or as the two texts themselves: p=", axis", dims="i")."""
        if isinstance(params, str):
            p, dims = params, dims or ""
        else:
            dims = ", ".join(map(str, params))
            p = f", {dims}" if dims else ""
        return template.format(**dict(zip(self.inputs, operands, strict=False)), p=p, dims=dims)

    def torch_forward(self, t: Any, inputs: Sequence[Any], params: tuple[int, ...] = ()) -> Any:
        """The torch twin, called as `forward` is."""
        return self.torch(t, *inputs) if self.elementwise else self.torch(t, *inputs, params)

    def edge_points(self) -> tuple[Point, ...]:
        """The op's own edge points, then the ones every op of its arity is tested at."""
        return tuple(dict.fromkeys(self.edges + COMMON_EDGES.get(self.arity, ())))


COMMON_EDGES: dict[int, tuple[Point, ...]] = {
    # zero, both signs, large magnitudes (exp(1000) overflows: every implementation must refuse)
    1: ((0.0,), (1.0,), (-1.0,), (1e3,), (-1e3,)),
    # zero on either side, ties (max, min), both signs, large magnitudes (a product overflows)
    2: ((0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (2.0, 2.0), (-3.0, -3.0), (2.0, -3.0), (-2.0, 3.0),
        (1e3, -1e3), (1e200, 1e200)),
}
"""Edge points every op of an arity is tested at (tests/test_op_parity.py), besides its own."""


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


def _pow_grad_domain(k: int, a: float, b: float) -> str | None:
    if k == 1 and a < 0:
        return "∂(a^b)/∂b = a^b·ln(a) needs a > 0"
    return None


def _tie(a: float, b: float) -> str | None:
    return "tie: gradient split 0.5/0.5 (as PyTorch)" if a == b else None


# numpy versions (np is passed in, so that importing this module never imports numpy)


def _vec_sigmoid(np: Any, a: Any) -> Any:
    e = np.exp(-np.abs(a))  # never overflows
    return np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


ANYWHERE = (-5.0, 5.0)  # a sample range for an input the op accepts everywhere


def _ops() -> list[Op]:
    return [
        Op(name="add", symbol="+", arity=2, text="{a} + {b}",
           grad=("dout", "dout"),
           value=lambda a, b: a + b,
           arithmetic=True,
           torch=lambda t, a, b: a + b, torch_text="{a} + {b}",
           samples=(ANYWHERE, ANYWHERE), edges=((1e308, 1e308),)),
        Op(name="sub", symbol="−", arity=2, text="{a} - {b}",
           grad=("dout", "-dout"),
           value=lambda a, b: a - b,
           arithmetic=True,
           torch=lambda t, a, b: a - b, torch_text="{a} - {b}",
           samples=(ANYWHERE, ANYWHERE), edges=((1e308, -1e308),)),
        Op(name="mul", symbol="×", arity=2, text="{a} * {b}",
           grad=("dout * b", "dout * a"),
           value=lambda a, b: a * b,
           arithmetic=True,
           torch=lambda t, a, b: a * b, torch_text="{a} * {b}",
           samples=(ANYWHERE, ANYWHERE), edges=((1e-200, 1e-200), (-1e150, 1e150))),
        Op(name="div", symbol="÷", arity=2, text="{a} / {b}",
           grad=("dout * (1 / b)", "dout * (-a / (b * b))"),
           value=lambda a, b: a / b,
           domain=_div_domain, arithmetic=True,
           torch=lambda t, a, b: a / b, torch_text="{a} / {b}",
           samples=(ANYWHERE, ANYWHERE), conditioned=lambda a, b: abs(b) > 0.1,
           edges=((1.0, 1e-150), (1e-3, -1e-3), (-7.0, 1e300), (1e300, 1e-300))),
        Op(name="neg", symbol="−", arity=1, text="-{a}",
           grad=("-dout",),
           value=lambda a: -a,
           arithmetic=True,
           torch=lambda t, a: -a, torch_text="-{a}",
           samples=(ANYWHERE,), edges=((1e308,),)),
        Op(name="pow", symbol="^", arity=2, text="{a} ^ {b}", call="pow",
           grad=("dout * where(b == 0, 0, b * a ^ (b - 1))",  # d(a^0)/da = 0, as PyTorch
                 "dout * where(a == 0, 0, out * log(a))"),  # 0^b·ln 0 is 0, as PyTorch
           value=math.pow,
           domain=_pow_domain, grad_domain=_pow_grad_domain,
           numpy=lambda np, a, b: np.power(a, b),
           torch=lambda t, a, b: t.pow(a, b), torch_text="torch.pow({a}, {b})",
           samples=((0.1, 4.0), (-3.0, 3.0)),
           conditioned=lambda a, b: 0.1 < a < 10 and abs(b) <= 3,
           # negative bases (integer powers only), 0 to powers of each sign, overflow
           edges=((-2.0, 3.0), (-2.0, 2.0), (-1.5, -2.0), (-8.0, 1 / 3), (0.0, 0.5), (0.0, -1.0),
                  (0.0, 2.0), (2.0, 0.0), (1.0, 1e3), (1e3, 200.0), (10.0, -400.0))),
        Op(name="exp", symbol="exp", arity=1, text="exp({a})", call="exp",
           grad=("dout * out",),
           value=math.exp,
           numpy=lambda np, a: np.exp(a),
           torch=lambda t, a: t.exp(a), torch_text="torch.exp({a})",
           samples=((-20.0, 20.0),), edges=((709.0,), (710.0,), (-745.0,)),
           conditioned=lambda a: a < 8),
        Op(name="log", symbol="log", arity=1, text="log({a})", call="log",
           grad=("dout * (1 / a)",),
           value=math.log,
           domain=lambda a: None if a > 0 else "log needs an input > 0",
           numpy=lambda np, a: np.log(a),
           torch=lambda t, a: t.log(a), torch_text="torch.log({a})",
           samples=((1e-3, 20.0),), edges=((1e-300,), (1e300,), (-1e-300,)),
           conditioned=lambda a: a > 0.1),
        Op(name="sqrt", symbol="√", arity=1, text="sqrt({a})", call="sqrt",
           grad=("dout * (0.5 / out)",),
           value=math.sqrt,
           grad_domain=lambda k, a: "the gradient of sqrt at 0 is infinite" if a == 0 else None,
           domain=lambda a: None if a >= 0 else "sqrt needs an input ≥ 0",
           numpy=lambda np, a: np.sqrt(a),
           torch=lambda t, a: t.sqrt(a), torch_text="torch.sqrt({a})",
           samples=((1e-3, 20.0),), edges=((1e-300,), (1e300,), (-1e-300,)),
           conditioned=lambda a: a > 0.1),
        Op(name="sin", symbol="sin", arity=1, text="sin({a})", call="sin",
           grad=("dout * cos(a)",),
           value=math.sin,
           numpy=lambda np, a: np.sin(a),
           torch=lambda t, a: t.sin(a), torch_text="torch.sin({a})",
           samples=(ANYWHERE,), edges=((math.pi,), (1e10,), (1e300,))),
        Op(name="cos", symbol="cos", arity=1, text="cos({a})", call="cos",
           grad=("dout * -sin(a)",),
           value=math.cos,
           numpy=lambda np, a: np.cos(a),
           torch=lambda t, a: t.cos(a), torch_text="torch.cos({a})",
           samples=(ANYWHERE,), edges=((math.pi / 2,), (1e10,), (1e300,))),
        Op(name="tan", symbol="tan", arity=1, text="tan({a})", call="tan",
           grad=("dout * (1 + out * out)",),
           value=math.tan,
           numpy=lambda np, a: np.tan(a),
           torch=lambda t, a: t.tan(a), torch_text="torch.tan({a})",
           samples=((-1.5, 1.5),), edges=((math.pi / 2,), (-math.pi / 2,), (1e10,)),
           conditioned=lambda a: abs(math.cos(a)) > 0.1),
        Op(name="tanh", symbol="tanh", arity=1, text="tanh({a})", call="tanh",
           grad=("dout * (1 - out * out)",),
           value=math.tanh,
           numpy=lambda np, a: np.tanh(a),
           torch=lambda t, a: t.tanh(a), torch_text="torch.tanh({a})",
           samples=(ANYWHERE,), edges=((20.0,), (-20.0,), (1e-300,))),
        Op(name="sigmoid", symbol="σ", arity=1, text="sigmoid({a})", call="sigmoid",
           grad=("dout * (out * (1 - out))",),
           value=_sigmoid,
           expands_to="1 / (1 + exp(-a))",
           numpy=_vec_sigmoid,
           torch=lambda t, a: t.sigmoid(a), torch_text="torch.sigmoid({a})",
           samples=(ANYWHERE,), edges=((36.0,), (-36.0,), (-745.0,), (800.0,))),
        Op(name="relu", symbol="relu", arity=1, text="relu({a})", call="relu",
           grad=("dout * (a > 0)",),
           value=lambda a: a if a > 0 else 0.0,
           kink=lambda a: "relu at 0: gradient 0 (as PyTorch)" if a == 0 else None,
           numpy=lambda np, a: np.maximum(a, 0.0),  # (maximum(-0.0, 0.0) is 0.0)
           torch=lambda t, a: t.relu(a), torch_text="torch.relu({a})",
           samples=(ANYWHERE,), edges=((1e-300,), (-1e-300,)),
           conditioned=lambda a: abs(a) > 1e-3),
        Op(name="abs", symbol="|·|", arity=1, text="abs({a})", call="abs",
           grad=("dout * sign(a)",),
           value=abs,
           kink=lambda a: "abs at 0: gradient 0 (as PyTorch)" if a == 0 else None,
           numpy=lambda np, a: np.abs(a),
           torch=lambda t, a: t.abs(a), torch_text="torch.abs({a})",
           samples=(ANYWHERE,), edges=((1e-300,), (-1e-300,)),
           conditioned=lambda a: abs(a) > 1e-3),
        Op(name="max", symbol="max", arity=2, text="max({a}, {b})", call="max",
           grad=("dout * ((a > b) + 0.5 * (a == b))", "dout * ((b > a) + 0.5 * (a == b))"),
           value=lambda a, b: a if a >= b else b,
           kink=_tie,
           numpy=lambda np, a, b: np.where(a >= b, a, b),
           torch=lambda t, a, b: t.maximum(a, b), torch_text="torch.maximum({a}, {b})",
           samples=(ANYWHERE, ANYWHERE), edges=((1e-300, 0.0), (-0.5, -0.5), (1e300, 1e300)),
           conditioned=lambda a, b: abs(a - b) > 1e-3),
        Op(name="min", symbol="min", arity=2, text="min({a}, {b})", call="min",
           grad=("dout * ((a < b) + 0.5 * (a == b))", "dout * ((b < a) + 0.5 * (a == b))"),
           value=lambda a, b: a if a <= b else b,
           kink=_tie,
           numpy=lambda np, a, b: np.where(a <= b, a, b),
           torch=lambda t, a, b: t.minimum(a, b), torch_text="torch.minimum({a}, {b})",
           samples=(ANYWHERE, ANYWHERE), edges=((1e-300, 0.0), (-0.5, -0.5), (1e300, 1e300)),
           conditioned=lambda a, b: abs(a - b) > 1e-3),
        Op(name="id", symbol="=", arity=1, text="{a}",
           grad=("dout",),
           value=lambda a: a,
           arithmetic=True,
           torch=lambda t, a: a.clone(), torch_text="{a}.clone()",
           samples=(ANYWHERE,), edges=((1e308,),)),
        *_comparisons(),
        Op(name="sign", symbol="sign", arity=1, text="sign({a})", call="sign",
           value=lambda a: 1.0 * (a > 0) - 1.0 * (a < 0),
           arithmetic=True,
           grad=("dout * 0",),  # 0 wherever it exists (as torch.sign's)
           torch=lambda t, a: t.sign(a), torch_text="torch.sign({a})",
           samples=(ANYWHERE,), edges=((1e-300,), (-1e-300,))),
        Op(name="where", symbol="where", arity=3, text="where({cond}, {a}, {b})", call="where",
           inputs=("cond", "a", "b"),
           value=lambda c, a, b: a if c != 0 else b,
           numpy=lambda np, c, a, b: np.where(c != 0, a, b),
           grad=(None, "dout * (cond != 0)", "dout * (cond == 0)"),
           torch=lambda t, c, a, b: t.where(c != 0, a, b),
           torch_text="torch.where({cond} != 0, {a}, {b})",
           samples=((-1.0, 1.0), ANYWHERE, ANYWHERE)),
    ]


def _comparisons() -> list[Op]:
    """a > b, a == b, ...: 1.0 where it holds, 0.0 elsewhere (NumPy's booleans, as numbers).
    A mask takes no gradient: relu's and max's rules are written with these."""
    def comparison(name: str, symbol: str, written: str, test: Callable[..., Any]) -> Op:
        return Op(name=name, symbol=symbol, arity=2, text="{a} " + written + " {b}",
                  value=lambda a, b: 1.0 * test(a, b),
                  arithmetic=True, grad=(None, None),
                  torch=lambda t, a, b: test(a, b).double(),
                  torch_text="(" + "{a} " + written + " {b}).double()",
                  samples=(ANYWHERE, ANYWHERE))

    import operator

    return [comparison("gt", ">", ">", operator.gt), comparison("lt", "<", "<", operator.lt),
            comparison("ge", "≥", ">=", operator.ge), comparison("le", "≤", "<=", operator.le),
            comparison("eq", "=", "==", operator.eq), comparison("ne", "≠", "!=", operator.ne)]


# --- ops on arrays that are not elementwise: each gives its shape rule ---------------------
#
# Their text: {a} and {b} stand for the inputs, {p} for the integer arguments (", 0"), {dims}
# for the same without the comma.


def _np() -> Any:
    import numpy

    return numpy


def _matmul_shape(a: Shape, b: Shape, p: Params) -> Shape:
    if not a or not b:
        raise ShapeError(f"@ needs arrays on both sides, got {show(a)} @ {show(b)}: "
                         "for a scalar, use *")
    if len(a) > 2 or len(b) > 2:
        raise ShapeError(f"@ takes vectors and matrices (1 or 2 dimensions), got {show(a)} @ "
                         f"{show(b)}")
    inner_b = b[0] if len(b) == 1 else b[-2]
    if a[-1] != inner_b:
        hint = ""
        if len(b) == 2 and a[-1] == b[-1]:
            hint = " (transpose the right one?)"
        raise ShapeError(f"{show(a)} @ {show(b)}: the inner dimensions differ, {a[-1]} and "
                         f"{inner_b}{hint}")
    return a[:-1] + b[1:]


def _reduced_shape(what: str) -> Callable[[Shape, Params], Shape]:
    def rule(a: Shape, p: Params) -> Shape:
        if not p:
            return ()
        axis = axis_of(p[0], a, what)
        return a[:axis] + a[axis + 1 :]
    return rule


def _axis(p: Params) -> int | None:
    return p[0] if p else None


def _transpose_shape(a: Shape, p: Params) -> Shape:
    if len(a) != 2:
        raise ShapeError(f"transpose takes a matrix (2 dimensions), got shape {show(a)}")
    return a[::-1]


def _reshape_shape(a: Shape, p: Params) -> Shape:
    size = math.prod(a)
    known = math.prod(d for d in p if d != -1)
    if sum(d == -1 for d in p) > 1 or any(d < -1 or d == 0 for d in p):
        raise ShapeError(f"reshape to ({', '.join(map(str, p))}): dimensions are positive "
                         "(one of them may be -1, for 'the rest')")
    shape = tuple(size // known if d == -1 else d for d in p)
    if math.prod(shape) != size:
        raise ShapeError(f"cannot reshape {show(a)} ({size} elements) to "
                         f"({', '.join(map(str, p))})")
    return shape


def _last_axis(what: str, keep: bool) -> Callable[[Shape, Params], Shape]:
    def rule(a: Shape, p: Params) -> Shape:
        if not a:
            raise ShapeError(f"{what} works along the last axis of a vector or matrix, got a "
                             "scalar")
        return a if keep else a[:-1]
    return rule


def _softmax(x: Any, p: Params = ()) -> Any:
    np = _np()
    e = np.exp(x - x.max(axis=-1, keepdims=True))  # never overflows
    return e / e.sum(axis=-1, keepdims=True)


def _logsumexp(x: Any, p: Params = ()) -> Any:
    np = _np()
    top = x.max(axis=-1, keepdims=True)
    return (top + np.log(np.exp(x - top).sum(axis=-1, keepdims=True))).squeeze(-1)


def _cross_entropy_shape(logits: Shape, labels: Shape, p: Params) -> Shape:
    if len(logits) not in (1, 2) or labels != logits[:-1]:
        raise ShapeError(f"cross_entropy takes logits (N, C) and labels (N,), or logits (C,) "
                         f"and one label (); got {show(logits)} and {show(labels)}")
    return ()


def _class_indices(logits: Any, labels: Any) -> Any:
    """Labels as integer class indices, each checked: an integer in 0 .. C-1."""
    np = _np()
    classes = logits.shape[-1]
    flat = np.atleast_1d(labels)
    bad = np.flatnonzero((flat != np.floor(flat)) | (flat < 0) | (flat >= classes))
    if len(bad):
        i = int(bad[0])
        where = f" at [{i}]" if labels.ndim else ""
        raise ValueError(f"label {flat[i]:g}{where} is not a class: labels are integers "
                         f"0 to {classes - 1}")
    return flat.astype(np.int64)


def _cross_entropy(logits: Any, labels: Any, p: Params = ()) -> Any:
    """-log softmax(logits)[label], averaged over rows: torch.nn.functional.cross_entropy."""
    np = _np()
    rows = np.atleast_2d(logits)
    classes = _class_indices(logits, labels)
    picked = rows[np.arange(len(rows)), classes]
    return np.asarray((_logsumexp(rows) - picked).mean())


def _index_shape(a: Shape, p: Params) -> Shape:
    if not p:
        raise ShapeError("an index needs at least one integer")
    if len(p) > len(a):
        raise ShapeError(f"{len(p)} indices for shape {show(a)} ({len(a)} dimensions)")
    for axis, i in enumerate(p):
        if not -a[axis] <= i < a[axis]:
            raise ShapeError(f"index {i} is out of range for axis {axis} of shape {show(a)} "
                             f"(size {a[axis]})")
    return a[len(p) :]


# --- gradient rules that depend on a gate's shapes or integer arguments -------------------------


def _ints(p: Params) -> str:
    return ", ".join(map(str, p))


def _spread_rule(gradient: str, p: Params) -> str:
    """A reduction's upstream gradient copied back over the input (every element it read gets
    it): along the reduced axis, or everywhere for a reduction of the whole array."""
    return f"expand_as(unsqueeze({gradient}, {p[0]}), a)" if p else f"expand_as({gradient}, a)"


def _count(shape: Shape, p: Params) -> int:
    """How many elements a mean averaged: along its axis, or all."""
    return shape[p[0]] if p else math.prod(shape)


def _amax_rule(s: tuple[Shape, ...], p: Params) -> str:
    """To the largest element(s): ties share the gradient equally, as torch.amax does."""
    if not p:
        return "dout * (a == out) / sum(a == out)"
    k = p[0]
    return (f"unsqueeze(dout, {k}) * (a == unsqueeze(out, {k})) / "
            f"unsqueeze(sum(a == unsqueeze(out, {k}), {k}), {k})")


def _matmul_rule(k: int) -> Callable[[tuple[Shape, ...], Params], str]:
    """dA = dOut @ Bᵀ and dB = Aᵀ @ dOut (cs231n's dimension analysis); a vector on either side
    makes one of them an outer product, and two vectors (a dot product) a plain product."""
    def rule(s: tuple[Shape, ...], p: Params) -> str:
        a, b = s
        if len(a) == 1 and len(b) == 1:
            return ("dout * b", "dout * a")[k]
        if len(a) == 1:  # (n,) @ (n, m) = (m,)
            return ("b @ dout", f"reshape(a, {a[0]}, 1) @ reshape(dout, 1, {b[1]})")[k]
        if len(b) == 1:  # (m, n) @ (n,) = (m,)
            return (f"reshape(dout, {a[0]}, 1) @ reshape(b, 1, {b[0]})", "transpose(a) @ dout")[k]
        return ("dout @ transpose(b)", "transpose(a) @ dout")[k]
    return rule


def _cross_entropy_rule(s: tuple[Shape, ...], p: Params) -> str:
    """(softmax(logits) - one_hot(labels)) / N, N the number of rows (the loss is their mean)."""
    logits = s[0]
    core = f"dout * (softmax(a) - one_hot(b, {logits[-1]}))"
    return f"{core} / {logits[0]}" if len(logits) == 2 else core


# --- the primitives gradient rules are written with (and users may call) ----------------------


def _unsqueeze_shape(a: Shape, p: Params) -> Shape:
    if not -len(a) - 1 <= p[0] <= len(a):
        raise ShapeError(f"unsqueeze: axis {p[0]} is out of range for shape {show(a)}")
    axis = p[0] % (len(a) + 1)
    return a[:axis] + (1,) + a[axis:]


def _broadcasts_to(a: Shape, b: Shape, what: str) -> Shape:
    """b, where an array of shape a broadcasts to it (the rule of expand_as and sum_as)."""
    try:
        fits = broadcast(a, b) == b
    except ShapeError:
        fits = False
    if not fits:
        raise ShapeError(f"{what}: shape {show(a)} does not broadcast to {show(b)}")
    return b


def _sums_to(a: Shape, b: Shape) -> Shape:
    """sum_as(x, like): x must be what `like` broadcasts to; the result has like's shape."""
    _broadcasts_to(b, a, "sum_as")
    return b


def _reshape_as_shape(a: Shape, b: Shape, p: Params) -> Shape:
    if math.prod(a) != math.prod(b):
        raise ShapeError(f"reshape_as: {show(a)} ({math.prod(a)} elements) cannot take the "
                         f"shape {show(b)} ({math.prod(b)} elements)")
    return b


def _one_hot(labels: Any, p: Params) -> Any:
    np = _np()
    classes = p[0]
    flat = np.ravel(labels)
    bad = np.flatnonzero((flat != np.floor(flat)) | (flat < 0) | (flat >= classes))
    if len(bad):
        raise ValueError(f"one_hot: {flat[bad[0]]:g} is not a class: classes are integers "
                         f"0 to {classes - 1}")
    hot = np.zeros((*np.shape(labels), classes))  # (no np.eye: C × C for C classes)
    np.put_along_axis(hot, np.asarray(labels).astype(np.int64)[..., None], 1.0, axis=-1)
    return hot


ONE_HOT_LIMIT = 2**24  # classes: a one_hot wider than this is refused before it is made


def _one_hot_shape(a: Shape, p: Params) -> Shape:
    if not 1 <= p[0] <= ONE_HOT_LIMIT:
        raise ShapeError(f"one_hot: the number of classes is 1 to {ONE_HOT_LIMIT:,}, got {p[0]}")
    return (*a, p[0])


def _scatter_shape(g: Shape, like: Shape, p: Params) -> Shape:
    _index_shape(like, p)
    if g != like[len(p):]:
        raise ShapeError(f"scatter: the values have shape {show(g)}, but [{_ints(p)}] of shape "
                         f"{show(like)} has shape {show(like[len(p):])}")
    return like


def _scatter(g: Any, like: Any, p: Params) -> Any:
    out = _np().zeros(like.shape)
    out[tuple(p)] = g
    return out


def _rule_ops() -> list[Op]:
    """Array primitives that gradient rules are written with: each is an op like any other
    (users may call them too), with its own gradient rule, so that rules differentiate again."""
    def gate(**fields: Any) -> Op:
        return Op(elementwise=False, **fields)

    np_ = _np
    return [
        gate(name="unsqueeze", symbol="unsqueeze", arity=1, text="unsqueeze({a}{p})",
             call="unsqueeze", params=(1, 1),
             value=lambda x, p: np_().expand_dims(x, p[0]), shape=_unsqueeze_shape,
             grad=("reshape_as(dout, a)",),
             array_cases=((((3, 4),), (0,)), (((3, 4),), (-1,)), (((),), (0,))),
             torch=lambda t, a, p: a.unsqueeze(p[0]), torch_text="{a}.unsqueeze({dims})"),
        gate(name="expand_as", symbol="expand", arity=2, text="expand_as({a}, {b})",
             call="expand_as",
             value=lambda x, like, p: np_().broadcast_to(x, like.shape).copy(),
             shape=lambda a, b, p: _broadcasts_to(a, b, "expand_as"),
             grad=("sum_as(dout, a)", None),
             array_cases=((((4,), (3, 4)), ()), (((3, 1), (3, 4)), ()), (((), (2, 3)), ())),
             torch=lambda t, a, b, p: a.expand_as(b), torch_text="{a}.expand_as({b})"),
        gate(name="sum_as", symbol="Σ", arity=2, text="sum_as({a}, {b})", call="sum_as",
             value=lambda x, like, p: np_().asarray(sum_to_shape(x, like.shape)),
             shape=lambda a, b, p: _sums_to(a, b),
             grad=("expand_as(dout, a)", None),
             array_cases=((((3, 4), (4,)), ()), (((3, 4), (3, 1)), ()), (((2, 3), ()), ())),
             torch=lambda t, a, b, p: a.sum_to_size(b.shape),
             torch_text="{a}.sum_to_size({b}.shape)"),
        gate(name="reshape_as", symbol="reshape", arity=2, text="reshape_as({a}, {b})",
             call="reshape_as",
             value=lambda x, like, p: x.reshape(like.shape), shape=_reshape_as_shape,
             grad=("reshape_as(dout, a)", None),
             array_cases=((((3, 4), (2, 6)), ()), (((1,), ()), ()), (((6,), (3, 2)), ())),
             torch=lambda t, a, b, p: a.reshape_as(b), torch_text="{a}.reshape_as({b})"),
        gate(name="one_hot", symbol="one-hot", arity=1, text="one_hot({a}{p})", call="one_hot",
             params=(1, 1), param_names=("classes",), value=_one_hot, shape=_one_hot_shape,
             grad=(None,),
             array_cases=((((4,),), (3,)), (((),), (5,)), (((2, 3),), (4,))),
             torch=lambda t, a, p: t.nn.functional.one_hot(a.long(), p[0]).double(),
             torch_text="torch.nn.functional.one_hot({a}.long(), {dims}).double()"),
        gate(name="scatter", symbol="scatter", arity=2, text="scatter({a}, {b}{p})",
             call="scatter", params=(1, 32), param_names=("i", "..."), value=_scatter,
             shape=_scatter_shape,
             grad=(lambda s, p: f"dout[{_ints(p)}]", None),
             array_cases=((((4,), (3, 4)), (1,)), (((), (3, 4)), (2, -1))),
             torch=lambda t, g, like, p: t.zeros_like(like).index_put(
                 tuple(t.tensor(i) for i in p), g),
             torch_text="torch.zeros_like({b}).index_put(tuple(torch.tensor(i) for i in "
                        "({dims},)), {a})"),
    ]


def _tensor_ops() -> list[Op]:
    """Ops on arrays that are not elementwise: a matrix product, reductions, reshaping, and the
    softmax family. Scalar circuits never use them."""
    def gate(**fields: Any) -> Op:
        return Op(elementwise=False, **fields)

    return [
        gate(name="matmul", symbol="@", arity=2, text="{a} @ {b}",
             grad=(_matmul_rule(0), _matmul_rule(1)),
             value=lambda a, b, p: a @ b, shape=_matmul_shape,
             # matrix @ matrix, vector @ matrix, matrix @ vector, and the dot product
             array_cases=((((3, 4), (4, 5)), ()), (((4,), (4, 5)), ()), (((3, 4), (4,)), ()),
                          (((4,), (4,)), ())),
             torch=lambda t, a, b, p: a @ b, torch_text="{a} @ {b}"),
        gate(name="sum", symbol="Σ", arity=1, text="sum({a}{p})", call="sum", params=(0, 1),
             grad=(lambda s, p: _spread_rule("dout", p),),
             value=lambda x, p: _np().asarray(x.sum(axis=_axis(p))),
             shape=_reduced_shape("sum"),
             array_cases=((((3, 4),), ()), (((3, 4),), (0,)), (((3, 4),), (-1,)), (((5,),), ())),
             torch=lambda t, a, p: a.sum(dim=p[0]) if p else a.sum(),
             torch_text="torch.sum({a}{p})"),
        gate(name="mean", symbol="mean", arity=1, text="mean({a}{p})", call="mean",
             grad=(lambda s, p: f"{_spread_rule('dout', p)} / {_count(s[0], p)}",),
             params=(0, 1),
             value=lambda x, p: _np().asarray(x.mean(axis=_axis(p))),
             shape=_reduced_shape("mean"),
             array_cases=((((3, 4),), ()), (((3, 4),), (1,)), (((2, 3, 4),), (-2,))),
             torch=lambda t, a, p: a.mean(dim=p[0]) if p else a.mean(),
             torch_text="torch.mean({a}{p})"),
        gate(name="amax", symbol="max", arity=1, text="amax({a}{p})", call="amax",
             grad=(_amax_rule,),
             params=(0, 1),
             value=lambda x, p: _np().asarray(x.max(axis=_axis(p))),
             shape=_reduced_shape("amax"),
             array_cases=((((3, 4),), ()), (((3, 4),), (0,)), (((3, 4),), (1,))),
             kink=None,
             torch=lambda t, a, p: t.amax(a, dim=p[0]) if p else t.amax(a),
             torch_text="torch.amax({a}{p})"),
        gate(name="transpose", symbol="ᵀ", arity=1, text="transpose({a})", call="transpose",
             grad=("transpose(dout)",),
             value=lambda x, p: x.T, shape=_transpose_shape,
             array_cases=((((3, 4),), ()), (((1, 5),), ())),
             torch=lambda t, a, p: a.T, torch_text="{a}.T"),
        gate(name="reshape", symbol="reshape", arity=1, text="reshape({a}{p})", call="reshape",
             grad=("reshape_as(dout, a)",),
             params=(1, 32),
             value=lambda x, p: x.reshape(p), shape=_reshape_shape,
             array_cases=((((3, 4),), (2, 6)), (((3, 4),), (-1,)), (((6,),), (3, -1))),
             torch=lambda t, a, p: a.reshape(p), torch_text="{a}.reshape({dims})"),
        gate(name="index", symbol="[]", arity=1, text="{a}[{dims}]", params=(1, 32),
             grad=(lambda s, p: f"scatter(dout, a, {_ints(p)})",),
             value=lambda x, p: _np().asarray(x[tuple(p)]), shape=_index_shape,
             array_cases=((((3, 4),), (1,)), (((3, 4),), (2, -1)), (((5,),), (-2,))),
             torch=lambda t, a, p: a[tuple(p)], torch_text="{a}[{dims}]"),
        gate(name="softmax", symbol="softmax", arity=1, text="softmax({a})", call="softmax",
             grad=("out * (dout - unsqueeze(sum(dout * out, -1), -1))",),
             value=_softmax, shape=_last_axis("softmax", keep=True),
             array_cases=((((3, 4),), ()), (((5,),), ())),
             torch=lambda t, a, p: t.softmax(a, dim=-1), torch_text="torch.softmax({a}, -1)"),
        gate(name="logsumexp", symbol="lse", arity=1, text="logsumexp({a})", call="logsumexp",
             grad=("unsqueeze(dout, -1) * softmax(a)",),
             value=lambda x, p: _np().asarray(_logsumexp(x)),
             shape=_last_axis("logsumexp", keep=False),
             array_cases=((((3, 4),), ()), (((5,),), ())),
             torch=lambda t, a, p: t.logsumexp(a, dim=-1), torch_text="torch.logsumexp({a}, -1)"),
        gate(name="cross_entropy", symbol="CE", arity=2, text="cross_entropy({a}, {b})",
             grad=(_cross_entropy_rule, None), labels=(1,),
             call="cross_entropy",
             value=_cross_entropy, shape=_cross_entropy_shape,
             array_cases=((((4, 3), (4,)), ()), (((5,), ()), ())),
             torch=lambda t, a, b, p: t.nn.functional.cross_entropy(a, b.long()),
             torch_text="torch.nn.functional.cross_entropy({a}, {b}.long())"),
    ]


OPS: dict[str, Op] = {op.name: op for op in [*_ops(), *_tensor_ops(), *_rule_ops()]}
"""Every gate op by name. Inputs and constants are nodes, not ops: their kinds are below."""

FUNCTIONS: dict[str, Op] = {op.call: op for op in OPS.values() if op.call}
"""Ops that the language calls like functions: exp(x), max(a, b), ..."""

INPUT = "input"
CONST = "const"

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}
"""Named constants; a user's input or statement of the same name shadows them."""
