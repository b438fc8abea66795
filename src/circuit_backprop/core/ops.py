"""The op registry: the single source of truth for every operation a gate can perform.

Each op is one `Op` entry, written by keyword, holding everything the rest of the tool needs:

- `value`: the forward pass on floats (math, not numpy: the reference engine calls it per gate);
- `local`: one function per input, ∂out/∂input on floats, ``local[k](a, b, out)`` (the gate's
  inputs, then its output). It raises ``ValueError`` with a short reason where the gradient does
  not exist. This is what the tables show: upstream × local = downstream;
- `vjp()`: the gradient for each input given the upstream gradient. For an elementwise op it is
  derived from `local` (see `downstream` and `sum_to_input`); an op that is not elementwise (a
  matmul, a reduction) sets ``elementwise=False`` and gives `vjp_rule` instead;
- `formulas`, `text`, `symbol`: how the op and its local gradients are shown to users;
- `domain`, `kink`: why inputs are outside the domain; a note at a non-differentiable point;
- `torch`, `torch_text`: its PyTorch twin, as a call and as source;
- `batch`: the same value and local gradients on numpy arrays, for the bulk engines (bulk.py).
  An op whose `value` and `local` are plain arithmetic (+ − × ÷) says ``arithmetic=True``
  instead: the same functions then serve numpy arrays, and there is no second copy;
- `samples`, `edges`: where to test it (tests/test_op_parity.py runs every op through every
  implementation there, against PyTorch); `conditioned`: where random circuits may use it.
  Adding an op means adding one entry here.

Non-differentiable points follow PyTorch, so that ``--check-torch`` agrees:
relu'(0) = 0, abs'(0) = 0, and max/min split the gradient 0.5/0.5 on a tie.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any

from circuit_backprop.core.arrays import Shape, ShapeError, axis_of, show, sum_to_shape

Point = tuple[float, ...]  # one value per input of an op
Params = tuple[int, ...]  # a gate's integer arguments: sum(x, 0) has (0,)
Needs = Sequence[bool] | None  # which inputs want a gradient (None: all)
Grads = tuple[Any | None, ...]  # one gradient per input, None where none is wanted


def downstream(upstream: Any, local: Any) -> Any:
    """What a gate sends down one input wire: upstream × local (floats, or arrays of one shape).

    The one place this product is written: Op.vjp, the reference engine, the level engine and
    Trace.downstream all call it (the tape inlines it in its hot loop; see bulk.run_tape).
    """
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


@dataclass(frozen=True)
class Batch:
    """An op's value and local gradients on numpy arrays: one call does every gate of one op on
    one level (bulk.py). `np` is passed in, so that importing this module never imports numpy.
    A local gradient may return a scalar where it is the same for every gate (it is broadcast)."""

    value: Callable[..., Any]  # (np, *arrays) -> array
    local: tuple[Callable[..., Any], ...]  # one per input: (np, *arrays, out) -> array
    wraps: tuple[Callable[..., Any], ...] | None = None  # (value, *local) for `same_as`

    @classmethod
    def same_as(cls, value: Callable[..., Any], local: Sequence[Callable[..., Any]]) -> Batch:
        """The scalar functions themselves, for arithmetic that numpy arrays support as is."""
        return cls(
            value=lambda np, *xs: value(*xs),
            local=tuple(_ignoring_np(f) for f in local),
            wraps=(value, *local),
        )


def _ignoring_np(f: Callable[..., Any]) -> Callable[..., Any]:
    return lambda np, *xs_out: f(*xs_out)


@dataclass(frozen=True)
class Op:
    """One op's entry. The registry below names every field; the first nine may also be given
    by position (a test-only op in tests/test_numeric.py is), the rest only by keyword."""

    name: str  # stable identifier, used in JSON ("mul")
    symbol: str  # short symbol for tables and diagrams ("×")
    arity: int
    value: Callable[..., float]  # the forward pass on floats: value(a, b)
    local: tuple[Callable[..., float], ...]  # one per input: ∂out/∂input_k, local[k](a, b, out)
    formulas: tuple[str, ...]  # one per input, with {a}, {b} standing for the inputs
    text: str  # how the op is written in the language: "{a} * {b}", "exp({a})"
    torch: Callable[..., object]  # (torch_module, *tensors) -> tensor
    torch_text: str  # the same, as PyTorch source: "{a} * {b}", "torch.exp({a})"
    _: KW_ONLY
    domain: Callable[..., str | None] | None = None  # why inputs are outside the domain
    kink: Callable[..., str | None] | None = None  # note at a non-differentiable point
    call: str | None = None  # the function name in the language, if it is called like one
    # a built-in composite: its primitive gates, as a body over parameters a, b (--expand)
    expands_to: str | None = None
    # An elementwise op's VJP is upstream × local (summed over broadcast axes). Any other op
    # gives its VJP directly: vjp_rule(upstream, inputs, output, needs) -> one gradient per input.
    # (Wires carry scalars so far: the engines take elementwise ops only; bulk.py falls back.)
    elementwise: bool = True
    vjp_rule: Callable[..., tuple[Any, ...]] | None = None
    # numpy: `batch`, or `arithmetic=True` when value and local run on arrays as they are
    arithmetic: bool = False
    batch: Batch | None = None
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
    # shapes), for an op that is not elementwise (an elementwise op broadcasts its inputs, with
    # NumPy's rule). `params`: how many integer arguments may follow the wires (min, max), as
    # in sum(x, 0) or reshape(x, 2, 3): they are part of the gate, not wires, and reach `value`,
    # `vjp_rule` and `torch` as one tuple after the arrays.
    shape: Callable[..., tuple[int, ...]] | None = None
    params: tuple[int, int] = (0, 0)
    labels: tuple[int, ...] = ()  # inputs that are class indices: integers, never a gradient
    # Where to test an array op (tests/test_tensor_ops.py): input shapes and integer arguments
    array_cases: tuple[tuple[tuple[tuple[int, ...], ...], Params], ...] = ()

    def __post_init__(self) -> None:
        if self.elementwise and len(self.local) != self.arity:
            raise TypeError(f"op {self.name}: an elementwise op needs one local gradient per input")
        if self.elementwise == (self.vjp_rule is not None):
            raise TypeError(f"op {self.name}: an elementwise op's VJP comes from its local "
                            "gradients; any other op needs a vjp_rule")
        if self.arithmetic:
            batch = self.batch
            if batch is not None and batch.wraps is None:
                raise TypeError(f"op {self.name}: arithmetic=True derives batch: give one or the "
                                "other")
            if batch is None or batch.wraps != (self.value, *self.local):
                # (dataclasses.replace passes the derived batch back: kept while it still fits)
                object.__setattr__(self, "batch", Batch.same_as(self.value, self.local))

    def vjp(self, upstream: Any, inputs: Sequence[Any], output: Any,
            needs: Sequence[bool] | None = None, params: tuple[int, ...] = ()
            ) -> tuple[Any | None, ...]:
        """∂f/∂input for each input, given upstream = ∂f/∂output; None for an input whose
        `needs` is False (a constant wire: no gradient flows into it, and none is computed),
        and for an input that never takes a gradient (cross_entropy's labels).

        Inputs may be floats or NumPy arrays; an elementwise op's gradient for an input is then
        summed back to that input's shape (sum_to_input)."""
        if self.vjp_rule is not None:
            return self.vjp_rule(upstream, inputs, output, needs, params)
        return tuple(
            sum_to_input(downstream(upstream, self.local_gradient(k, inputs, output)), x)
            if needs is None or needs[k] else None
            for k, x in enumerate(inputs)
        )

    def local_gradient(self, k: int, inputs: Sequence[Any], output: Any) -> Any:
        """An elementwise op's local gradient on wire k: a float from `local`, or, where a wire
        carries an array, an array from `batch` (a local that is the same everywhere, such as
        +'s 1, stays a number: it broadcasts)."""
        if any(hasattr(x, "shape") and x.shape for x in inputs):
            import numpy as np

            return self.batch.local[k](np, *inputs, output)
        return self.local[k](*inputs, output)

    def forward(self, inputs: Sequence[Any], params: tuple[int, ...] = ()) -> Any:
        """The op's value on floats or arrays: `value` for an elementwise op on floats, its
        `batch` on arrays; any other op's `value` takes arrays and its params."""
        if not self.elementwise:
            return self.value(*inputs, params)
        if any(hasattr(x, "shape") and x.shape for x in inputs):
            import numpy as np

            return self.batch.value(np, *inputs)
        return self.value(*inputs)

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


ANYWHERE = (-5.0, 5.0)  # a sample range for an input the op accepts everywhere


def _ops() -> list[Op]:
    return [
        Op(name="add", symbol="+", arity=2, text="{a} + {b}",
           value=lambda a, b: a + b,
           local=(lambda a, b, out: 1.0, lambda a, b, out: 1.0), formulas=("1", "1"),
           arithmetic=True,
           torch=lambda t, a, b: a + b, torch_text="{a} + {b}",
           samples=(ANYWHERE, ANYWHERE), edges=((1e308, 1e308),)),
        Op(name="sub", symbol="−", arity=2, text="{a} - {b}",
           value=lambda a, b: a - b,
           local=(lambda a, b, out: 1.0, lambda a, b, out: -1.0), formulas=("1", "-1"),
           arithmetic=True,
           torch=lambda t, a, b: a - b, torch_text="{a} - {b}",
           samples=(ANYWHERE, ANYWHERE), edges=((1e308, -1e308),)),
        Op(name="mul", symbol="×", arity=2, text="{a} * {b}",
           value=lambda a, b: a * b,
           local=(lambda a, b, out: b, lambda a, b, out: a), formulas=("{b}", "{a}"),
           arithmetic=True,
           torch=lambda t, a, b: a * b, torch_text="{a} * {b}",
           samples=(ANYWHERE, ANYWHERE), edges=((1e-200, 1e-200), (-1e150, 1e150))),
        Op(name="div", symbol="÷", arity=2, text="{a} / {b}",
           value=lambda a, b: a / b,
           local=(lambda a, b, out: 1.0 / b, lambda a, b, out: -a / (b * b)),
           formulas=("1/{b}", "-{a}/{b}²"),
           domain=_div_domain, arithmetic=True,
           torch=lambda t, a, b: a / b, torch_text="{a} / {b}",
           samples=(ANYWHERE, ANYWHERE), conditioned=lambda a, b: abs(b) > 0.1,
           edges=((1.0, 1e-150), (1e-3, -1e-3), (-7.0, 1e300), (1e300, 1e-300))),
        Op(name="neg", symbol="−", arity=1, text="-{a}",
           value=lambda a: -a,
           local=(lambda a, out: -1.0,), formulas=("-1",),
           arithmetic=True,
           torch=lambda t, a: -a, torch_text="-{a}",
           samples=(ANYWHERE,), edges=((1e308,),)),
        Op(name="pow", symbol="^", arity=2, text="{a} ^ {b}", call="pow",
           value=math.pow,
           local=(_pow_dbase, _pow_dexp), formulas=("{b}·{a}^({b}-1)", "{a}^{b}·ln({a})"),
           domain=_pow_domain,
           batch=Batch(value=lambda np, a, b: np.power(a, b),
                       local=(_vec_pow_dbase, _vec_pow_dexp)),
           torch=lambda t, a, b: t.pow(a, b), torch_text="torch.pow({a}, {b})",
           samples=((0.1, 4.0), (-3.0, 3.0)),
           conditioned=lambda a, b: 0.1 < a < 10 and abs(b) <= 3,
           # negative bases (integer powers only), 0 to powers of each sign, overflow
           edges=((-2.0, 3.0), (-2.0, 2.0), (-1.5, -2.0), (-8.0, 1 / 3), (0.0, 0.5), (0.0, -1.0),
                  (0.0, 2.0), (2.0, 0.0), (1.0, 1e3), (1e3, 200.0), (10.0, -400.0))),
        Op(name="exp", symbol="exp", arity=1, text="exp({a})", call="exp",
           value=math.exp,
           local=(lambda a, out: out,), formulas=("exp({a})",),
           batch=Batch(value=lambda np, a: np.exp(a), local=(lambda np, a, out: out,)),
           torch=lambda t, a: t.exp(a), torch_text="torch.exp({a})",
           samples=((-20.0, 20.0),), edges=((709.0,), (710.0,), (-745.0,)),
           conditioned=lambda a: a < 8),
        Op(name="log", symbol="log", arity=1, text="log({a})", call="log",
           value=math.log,
           local=(lambda a, out: 1.0 / a,), formulas=("1/{a}",),
           domain=lambda a: None if a > 0 else "log needs an input > 0",
           batch=Batch(value=lambda np, a: np.log(a), local=(lambda np, a, out: 1.0 / a,)),
           torch=lambda t, a: t.log(a), torch_text="torch.log({a})",
           samples=((1e-3, 20.0),), edges=((1e-300,), (1e300,), (-1e-300,)),
           conditioned=lambda a: a > 0.1),
        Op(name="sqrt", symbol="√", arity=1, text="sqrt({a})", call="sqrt",
           value=math.sqrt,
           local=(_sqrt_grad,), formulas=("1/(2·sqrt({a}))",),
           domain=lambda a: None if a >= 0 else "sqrt needs an input ≥ 0",
           batch=Batch(value=lambda np, a: np.sqrt(a), local=(lambda np, a, out: 0.5 / out,)),
           torch=lambda t, a: t.sqrt(a), torch_text="torch.sqrt({a})",
           samples=((1e-3, 20.0),), edges=((1e-300,), (1e300,), (-1e-300,)),
           conditioned=lambda a: a > 0.1),
        Op(name="sin", symbol="sin", arity=1, text="sin({a})", call="sin",
           value=math.sin,
           local=(lambda a, out: math.cos(a),), formulas=("cos({a})",),
           batch=Batch(value=lambda np, a: np.sin(a), local=(lambda np, a, out: np.cos(a),)),
           torch=lambda t, a: t.sin(a), torch_text="torch.sin({a})",
           samples=(ANYWHERE,), edges=((math.pi,), (1e10,), (1e300,))),
        Op(name="cos", symbol="cos", arity=1, text="cos({a})", call="cos",
           value=math.cos,
           local=(lambda a, out: -math.sin(a),), formulas=("-sin({a})",),
           batch=Batch(value=lambda np, a: np.cos(a), local=(lambda np, a, out: -np.sin(a),)),
           torch=lambda t, a: t.cos(a), torch_text="torch.cos({a})",
           samples=(ANYWHERE,), edges=((math.pi / 2,), (1e10,), (1e300,))),
        Op(name="tan", symbol="tan", arity=1, text="tan({a})", call="tan",
           value=math.tan,
           local=(lambda a, out: 1.0 + out * out,), formulas=("1 + tan²({a})",),
           batch=Batch(value=lambda np, a: np.tan(a), local=(lambda np, a, out: 1.0 + out * out,)),
           torch=lambda t, a: t.tan(a), torch_text="torch.tan({a})",
           samples=((-1.5, 1.5),), edges=((math.pi / 2,), (-math.pi / 2,), (1e10,)),
           conditioned=lambda a: abs(math.cos(a)) > 0.1),
        Op(name="tanh", symbol="tanh", arity=1, text="tanh({a})", call="tanh",
           value=math.tanh,
           local=(lambda a, out: 1.0 - out * out,), formulas=("1 - tanh²({a})",),
           batch=Batch(value=lambda np, a: np.tanh(a),
                       local=(lambda np, a, out: 1.0 - out * out,)),
           torch=lambda t, a: t.tanh(a), torch_text="torch.tanh({a})",
           samples=(ANYWHERE,), edges=((20.0,), (-20.0,), (1e-300,))),
        Op(name="sigmoid", symbol="σ", arity=1, text="sigmoid({a})", call="sigmoid",
           value=_sigmoid,
           local=(lambda a, out: out * (1.0 - out),), formulas=("σ({a})·(1 - σ({a}))",),
           expands_to="1 / (1 + exp(-a))",
           batch=Batch(value=_vec_sigmoid, local=(lambda np, a, out: out * (1.0 - out),)),
           torch=lambda t, a: t.sigmoid(a), torch_text="torch.sigmoid({a})",
           samples=(ANYWHERE,), edges=((36.0,), (-36.0,), (-745.0,), (800.0,))),
        Op(name="relu", symbol="relu", arity=1, text="relu({a})", call="relu",
           value=lambda a: a if a > 0 else 0.0,
           local=(lambda a, out: 1.0 if a > 0 else 0.0,), formulas=("1 if {a} > 0 else 0",),
           kink=lambda a: "relu at 0: gradient 0 (as PyTorch)" if a == 0 else None,
           batch=Batch(value=lambda np, a: np.maximum(a, 0.0),  # (maximum(-0.0, 0.0) is 0.0)
                       local=(lambda np, a, out: (a > 0).astype(np.float64),)),
           torch=lambda t, a: t.relu(a), torch_text="torch.relu({a})",
           samples=(ANYWHERE,), edges=((1e-300,), (-1e-300,)),
           conditioned=lambda a: abs(a) > 1e-3),
        Op(name="abs", symbol="|·|", arity=1, text="abs({a})", call="abs",
           value=abs,
           local=(lambda a, out: 1.0 if a > 0 else -1.0 if a < 0 else 0.0,),
           formulas=("sign({a})",),
           kink=lambda a: "abs at 0: gradient 0 (as PyTorch)" if a == 0 else None,
           batch=Batch(value=lambda np, a: np.abs(a), local=(lambda np, a, out: np.sign(a),)),
           torch=lambda t, a: t.abs(a), torch_text="torch.abs({a})",
           samples=(ANYWHERE,), edges=((1e-300,), (-1e-300,)),
           conditioned=lambda a: abs(a) > 1e-3),
        Op(name="max", symbol="max", arity=2, text="max({a}, {b})", call="max",
           value=lambda a, b: a if a >= b else b,
           local=(lambda a, b, out: _max_grad(a, b), lambda a, b, out: _max_grad(b, a)),
           formulas=("1 if {a} > {b} else 0", "1 if {b} > {a} else 0"),
           kink=_tie,
           batch=Batch(value=lambda np, a, b: np.where(a >= b, a, b),
                       local=(lambda np, a, b, out: _vec_max_grad(np, a, b),
                              lambda np, a, b, out: _vec_max_grad(np, b, a))),
           torch=lambda t, a, b: t.maximum(a, b), torch_text="torch.maximum({a}, {b})",
           samples=(ANYWHERE, ANYWHERE), edges=((1e-300, 0.0), (-0.5, -0.5), (1e300, 1e300)),
           conditioned=lambda a, b: abs(a - b) > 1e-3),
        Op(name="min", symbol="min", arity=2, text="min({a}, {b})", call="min",
           value=lambda a, b: a if a <= b else b,
           local=(lambda a, b, out: _max_grad(b, a), lambda a, b, out: _max_grad(a, b)),
           formulas=("1 if {a} < {b} else 0", "1 if {b} < {a} else 0"),
           kink=_tie,
           batch=Batch(value=lambda np, a, b: np.where(a <= b, a, b),
                       local=(lambda np, a, b, out: _vec_max_grad(np, b, a),
                              lambda np, a, b, out: _vec_max_grad(np, a, b))),
           torch=lambda t, a, b: t.minimum(a, b), torch_text="torch.minimum({a}, {b})",
           samples=(ANYWHERE, ANYWHERE), edges=((1e-300, 0.0), (-0.5, -0.5), (1e300, 1e300)),
           conditioned=lambda a, b: abs(a - b) > 1e-3),
        Op(name="id", symbol="=", arity=1, text="{a}",
           value=lambda a: a,
           local=(lambda a, out: 1.0,), formulas=("1",),
           arithmetic=True,
           torch=lambda t, a: a.clone(), torch_text="{a}.clone()",
           samples=(ANYWHERE,), edges=((1e308,),)),
    ]


# --- ops on arrays that are not elementwise: each gives its shape rule and its VJP directly ---
#
# Their formulas (one per input) are the VJP as users read it: {up} stands for the upstream
# gradient ∂f/∂out, {out} for the gate's own value, {a} and {b} for its inputs, {p} for its
# integer arguments (", 0"), {dims} for the same without the comma.


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


def _matmul_vjp(up: Any, xs: Sequence[Any], out: Any, needs: Needs, p: Params) -> Grads:
    """dA = dOut @ Bᵀ and dB = Aᵀ @ dOut (cs231n's dimension analysis), a vector standing as a
    1-row (left) or 1-column (right) matrix, so that the same two products serve every case."""
    a, b = xs
    a2 = a.reshape(1, -1) if a.ndim == 1 else a
    b2 = b.reshape(-1, 1) if b.ndim == 1 else b
    up2 = _np().reshape(up, (a2.shape[0], b2.shape[1]))
    return ((up2 @ b2.T).reshape(a.shape) if _needs(needs, 0) else None,
            (a2.T @ up2).reshape(b.shape) if _needs(needs, 1) else None)


def _needs(needs: Needs, k: int) -> bool:
    return needs is None or bool(needs[k])


def _reduced_shape(what: str) -> Callable[[Shape, Params], Shape]:
    def rule(a: Shape, p: Params) -> Shape:
        if not p:
            return ()
        axis = axis_of(p[0], a, what)
        return a[:axis] + a[axis + 1 :]
    return rule


def _axis(p: Params) -> int | None:
    return p[0] if p else None


def _spread(up: Any, x: Any, p: Params) -> Any:
    """The upstream gradient of a reduction along its axis (all axes without one), copied back
    over the input's shape: every element the reduction read gets it."""
    np = _np()
    up = np.asarray(up)
    if p:
        up = np.expand_dims(up, p[0])
    return np.broadcast_to(up, x.shape).copy()


def _mean_vjp(up: Any, xs: Sequence[Any], out: Any, needs: Needs, p: Params) -> Grads:
    x = xs[0]
    count = x.size if not p else x.shape[p[0]]
    return (_spread(up, x, p) / count if _needs(needs, 0) else None,)


def _amax_vjp(up: Any, xs: Sequence[Any], out: Any, needs: Needs, p: Params) -> Grads:
    """To the largest element(s): ties share the gradient equally, as torch.amax does."""
    if not _needs(needs, 0):
        return (None,)
    x = xs[0]
    winners = x == _spread(out, x, p)
    count = winners.sum() if not p else winners.sum(axis=p[0], keepdims=True)
    return (_spread(up, x, p) * winners / count,)


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


def _softmax_vjp(up: Any, xs: Sequence[Any], out: Any, needs: Needs, p: Params) -> Grads:
    if not _needs(needs, 0):
        return (None,)
    return (out * (up - (up * out).sum(axis=-1, keepdims=True)),)


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


def _cross_entropy_vjp(up: Any, xs: Sequence[Any], out: Any, needs: Needs, p: Params) -> Grads:
    """(softmax(logits) - one_hot(labels)) / N: the labels get no gradient."""
    if not _needs(needs, 0):
        return (None, None)
    np = _np()
    logits, labels = xs
    rows = np.atleast_2d(logits)
    grad = _softmax(rows)
    grad[np.arange(len(rows)), _class_indices(logits, labels)] -= 1.0
    return ((up * grad / len(rows)).reshape(logits.shape), None)


def _index_shape(a: Shape, p: Params) -> Shape:
    if len(p) > len(a):
        raise ShapeError(f"{len(p)} indices for shape {show(a)} ({len(a)} dimensions)")
    for axis, i in enumerate(p):
        if not -a[axis] <= i < a[axis]:
            raise ShapeError(f"index {i} is out of range for axis {axis} of shape {show(a)} "
                             f"(size {a[axis]})")
    return a[len(p) :]


def _index_vjp(up: Any, xs: Sequence[Any], out: Any, needs: Needs, p: Params) -> Grads:
    """The upstream gradient goes to the element (or row) that was read; the rest get 0."""
    if not _needs(needs, 0):
        return (None,)
    grad = _np().zeros(xs[0].shape)
    grad[tuple(p)] = up
    return (grad,)


def _tensor_ops() -> list[Op]:
    """Ops on arrays that are not elementwise: a matrix product, reductions, reshaping, and the
    softmax family. Scalar circuits never use them."""
    def gate(**fields: Any) -> Op:
        return Op(elementwise=False, local=(), **fields)

    return [
        gate(name="matmul", symbol="@", arity=2, text="{a} @ {b}",
             value=lambda a, b, p: a @ b, shape=_matmul_shape, vjp_rule=_matmul_vjp,
             # matrix @ matrix, vector @ matrix, matrix @ vector, and the dot product
             array_cases=((((3, 4), (4, 5)), ()), (((4,), (4, 5)), ()), (((3, 4), (4,)), ()),
                          (((4,), (4,)), ())),
             formulas=("{up} @ transpose({b})", "transpose({a}) @ {up}"),
             torch=lambda t, a, b, p: a @ b, torch_text="{a} @ {b}"),
        gate(name="sum", symbol="Σ", arity=1, text="sum({a}{p})", call="sum", params=(0, 1),
             value=lambda x, p: _np().asarray(x.sum(axis=_axis(p))),
             shape=_reduced_shape("sum"),
             vjp_rule=lambda up, xs, out, needs, p: (
                 _spread(up, xs[0], p) if _needs(needs, 0) else None,),
             array_cases=((((3, 4),), ()), (((3, 4),), (0,)), (((3, 4),), (-1,)), (((5,),), ())),
             formulas=("{up} copied to every element summed",),
             torch=lambda t, a, p: a.sum(dim=p[0]) if p else a.sum(),
             torch_text="torch.sum({a}{p})"),
        gate(name="mean", symbol="mean", arity=1, text="mean({a}{p})", call="mean",
             params=(0, 1),
             value=lambda x, p: _np().asarray(x.mean(axis=_axis(p))),
             shape=_reduced_shape("mean"), vjp_rule=_mean_vjp,
             array_cases=((((3, 4),), ()), (((3, 4),), (1,)), (((2, 3, 4),), (-2,))),
             formulas=("{up} / n, copied to every element averaged",),
             torch=lambda t, a, p: a.mean(dim=p[0]) if p else a.mean(),
             torch_text="torch.mean({a}{p})"),
        gate(name="amax", symbol="max", arity=1, text="amax({a}{p})", call="amax",
             params=(0, 1),
             value=lambda x, p: _np().asarray(x.max(axis=_axis(p))),
             shape=_reduced_shape("amax"), vjp_rule=_amax_vjp,
             array_cases=((((3, 4),), ()), (((3, 4),), (0,)), (((3, 4),), (1,))),
             formulas=("{up} to the largest element (shared equally by ties)",),
             kink=None,
             torch=lambda t, a, p: t.amax(a, dim=p[0]) if p else t.amax(a),
             torch_text="torch.amax({a}{p})"),
        gate(name="transpose", symbol="ᵀ", arity=1, text="transpose({a})", call="transpose",
             value=lambda x, p: x.T, shape=_transpose_shape,
             vjp_rule=lambda up, xs, out, needs, p: (up.T if _needs(needs, 0) else None,),
             array_cases=((((3, 4),), ()), (((1, 5),), ())),
             formulas=("transpose({up})",),
             torch=lambda t, a, p: a.T, torch_text="{a}.T"),
        gate(name="reshape", symbol="reshape", arity=1, text="reshape({a}{p})", call="reshape",
             params=(1, 32),
             value=lambda x, p: x.reshape(p), shape=_reshape_shape,
             vjp_rule=lambda up, xs, out, needs, p: (
                 _np().reshape(up, xs[0].shape) if _needs(needs, 0) else None,),
             array_cases=((((3, 4),), (2, 6)), (((3, 4),), (-1,)), (((6,),), (3, -1))),
             formulas=("reshape({up}) to the shape of {a}",),
             torch=lambda t, a, p: a.reshape(p), torch_text="{a}.reshape({dims})"),
        gate(name="index", symbol="[]", arity=1, text="{a}[{dims}]", params=(1, 32),
             value=lambda x, p: _np().asarray(x[tuple(p)]), shape=_index_shape,
             vjp_rule=_index_vjp,
             array_cases=((((3, 4),), (1,)), (((3, 4),), (2, -1)), (((5,),), (-2,))),
             formulas=("{up} at [{dims}], 0 elsewhere",),
             torch=lambda t, a, p: a[tuple(p)], torch_text="{a}[{dims}]"),
        gate(name="softmax", symbol="softmax", arity=1, text="softmax({a})", call="softmax",
             value=_softmax, shape=_last_axis("softmax", keep=True), vjp_rule=_softmax_vjp,
             array_cases=((((3, 4),), ()), (((5,),), ())),
             formulas=("{out} * ({up} - sum({up} * {out}, -1))",),
             torch=lambda t, a, p: t.softmax(a, dim=-1), torch_text="torch.softmax({a}, -1)"),
        gate(name="logsumexp", symbol="lse", arity=1, text="logsumexp({a})", call="logsumexp",
             value=lambda x, p: _np().asarray(_logsumexp(x)),
             shape=_last_axis("logsumexp", keep=False),
             vjp_rule=lambda up, xs, out, needs, p: (
                 _np().expand_dims(up, -1) * _softmax(xs[0]) if _needs(needs, 0) else None,),
             array_cases=((((3, 4),), ()), (((5,),), ())),
             formulas=("{up} * softmax({a})",),
             torch=lambda t, a, p: t.logsumexp(a, dim=-1), torch_text="torch.logsumexp({a}, -1)"),
        gate(name="cross_entropy", symbol="CE", arity=2, text="cross_entropy({a}, {b})",
             call="cross_entropy",
             value=_cross_entropy, shape=_cross_entropy_shape, vjp_rule=_cross_entropy_vjp,
             labels=(1,), array_cases=((((4, 3), (4,)), ()), (((5,), ()), ())),
             formulas=("{up} * (softmax({a}) - one_hot({b})) / N", "none: labels get no gradient"),
             torch=lambda t, a, b, p: t.nn.functional.cross_entropy(a, b.long()),
             torch_text="torch.nn.functional.cross_entropy({a}, {b}.long())"),
    ]


OPS: dict[str, Op] = {op.name: op for op in [*_ops(), *_tensor_ops()]}
"""Every gate op by name. Inputs and constants are nodes, not ops: their kinds are below."""

FUNCTIONS: dict[str, Op] = {op.call: op for op in OPS.values() if op.call}
"""Ops that the language calls like functions: exp(x), max(a, b), ..."""

INPUT = "input"
CONST = "const"

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}
"""Named constants; a user's input or statement of the same name shadows them."""
