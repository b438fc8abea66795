"""Every op in the registry, through every implementation, against PyTorch (float64, autograd).

Generated from ops.OPS: an op added later is tested here without anyone naming it, at the points
its own entry states (`samples`: random points inside its domain; `edges` and COMMON_EDGES:
zero, ties, both signs, large magnitudes, domain edges). Implementations:

- reference: engine.py, one gate at a time (the entry's `value` and its gradient rules, run on
  floats by rules.local_gradient);
- levels: bulk.run_levels (the entry's `numpy` and its rules on arrays: every gate of the op in
  one call);
- tape: bulk.run_tape (`value` on floats forward, the rules on arrays for local gradients);
- vjp: rules.vjp, the entry's rules with upstream gradients other than 1;
- def, expanded: a built-in composite (`expands_to`) as a def gate and inlined into primitives.

PyTorch is the oracle: where it gives a finite value and gradient, every implementation must give
the same numbers; where it gives inf or NaN, every implementation must refuse (the reference
engine with an EvalError naming the gate, the bulk engines by falling back). Each point is run
with every input as an input, and (for binary ops) with one input an input and the other a
constant wire, into which no gradient flows: so `pow(-2, b)` is tested for ∂/∂a with b constant,
although ∂/∂b does not exist there.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from circuit_backprop.core import bulk, engine, rules
from circuit_backprop.core.composite import make_op
from circuit_backprop.core.graph import Graph
from circuit_backprop.core.ops import CONST, INPUT, OPS, Op, Point
from circuit_backprop.core.trace import Trace
from circuit_backprop.errors import EvalError
from circuit_backprop.lang.expand import builtin_composites, builtin_definition, expand

NAMES = sorted(name for name, op in OPS.items() if op.elementwise)  # arrays: test_tensor_ops.py
RANDOM_POINTS = 24  # per op, drawn from its `samples`
RTOL = 1e-9  # implementations may round differently in the last bits, never more
ATOL = 1e-15  # for values near 0 (a local gradient such as σ·(1 - σ) at σ ≈ 1 cancels)
MATH_ERRORS = (ValueError, ZeroDivisionError, OverflowError)


def random_points(op: Op) -> list[Point]:
    rng = random.Random(f"parity {op.name}")  # the same points at every run
    return [tuple(rng.uniform(lo, hi) for lo, hi in op.samples) for _ in range(RANDOM_POINTS)]


def points(op: Op) -> list[Point]:
    return list(op.edge_points()) + random_points(op)


def wrt_sets(op: Op) -> list[tuple[int, ...]]:
    """Which input positions are inputs (the others are constant wires): all, then each alone."""
    every = tuple(range(op.arity))
    return [every] + ([(k,) for k in every] if op.arity > 1 else [])


def finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


@dataclass(frozen=True)
class Expected:
    """PyTorch at one point: the value, and ∂value/∂input for each input in `wrt` (times the
    upstream gradient). None where it is not a finite number."""

    value: float | None
    grads: dict[int, float | None]

    @property
    def defined(self) -> bool:
        return self.value is not None and all(g is not None for g in self.grads.values())


def torch_at(op: Op, xs: Point, wrt: tuple[int, ...], upstream: float = 1.0) -> Expected:
    tensors = [torch.tensor(x, dtype=torch.float64, requires_grad=k in wrt)
               for k, x in enumerate(xs)]
    out = op.torch(torch, *tensors)
    value = finite_or_none(out.item())
    if value is None:
        return Expected(None, {})
    if not out.requires_grad:  # a comparison: no gradient flows (the rules say None)
        return Expected(value, dict.fromkeys(wrt, 0.0))
    grads = torch.autograd.grad(out, [tensors[k] for k in wrt],
                                torch.tensor(upstream, dtype=torch.float64), allow_unused=True)
    return Expected(value, {k: finite_or_none(0.0 if g is None else g.item())
                            for k, g in zip(wrt, grads, strict=True)})


def no_gradient(op: Op, k: int, got: float | None) -> float | None:
    """An input whose rule is None takes no gradient: the engines give none (None), PyTorch a
    0 (sign, where's condition) or nothing (a comparison). Read as 0."""
    return 0.0 if got is None and op.grad[k] is None else got


def close(got: float | None, want: float | None) -> bool:
    if got is None or want is None:
        return got is None and want is None
    return math.isclose(got, want, rel_tol=RTOL, abs_tol=ATOL)


@dataclass
class Circuit:
    graph: Graph
    inputs: dict[str, float]
    gates: list[int]  # one gate per point
    wires: list[tuple[int, ...]]  # each gate's input nodes


def circuit(kind: str, pts: list[Point], wrt: tuple[int, ...], op: Op | None = None) -> Circuit:
    """One gate of op `kind` per point; inputs at positions in `wrt`, constants elsewhere. The
    output is the last gate. `op`: a custom op (a def) registered under `kind`."""
    g = Graph("")
    if op is not None:
        g.custom_ops[kind] = op
    inputs: dict[str, float] = {}
    gates, wires = [], []
    for j, xs in enumerate(pts):
        args = []
        for k, x in enumerate(xs):
            if k in wrt:
                node = g.add_node(INPUT, (), 0, 0)
                name = f"x{j}_{k}"
                g.names[node] = name
                g.inputs[name] = node
                inputs[name] = x
            else:
                node = g.add_node(CONST, (), 0, 0)
                g.consts[node] = x
            args.append(node)
        gates.append(g.add_node(kind, tuple(args), 0, 0))
        wires.append(tuple(args))
    g.output = gates[-1]
    return Circuit(g, inputs, gates, wires)


def reference(graph: Graph, inputs: dict[str, float]) -> Trace:
    return engine.backward(engine.forward(graph, inputs))


ENGINES: dict[str, Callable[[Graph, dict[str, float]], Trace]] = {
    "reference": reference, "levels": bulk.run_levels, "tape": bulk.run_tape}
REFUSAL: dict[str, type[Exception]] = {
    "reference": EvalError, "levels": bulk.Fallback, "tape": bulk.Fallback}


def run_or_refusal(run: Callable[..., Trace], c: Circuit) -> Trace | Exception:
    try:
        return run(c.graph, c.inputs)
    except (EvalError, bulk.Fallback) as exc:
        return exc


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("engine_name", list(ENGINES))
def test_engines_agree_with_torch(engine_name: str, name: str) -> None:
    op, run = OPS[name], ENGINES[engine_name]
    pts = points(op)
    wrong: list[str] = []
    for wrt in wrt_sets(op):
        expected = [torch_at(op, xs, wrt) for xs in pts]
        good = [j for j, e in enumerate(expected) if e.defined]
        # every defined point at once, one gate each (the level engine does them in one call):
        # each gate's value and local gradients
        c = circuit(name, [pts[j] for j in good], wrt)
        trace = run_or_refusal(run, c)
        if isinstance(trace, Exception):
            wrong.append(f"wrt {wrt}: refused points PyTorch computes: {trace!r}")
            continue
        for gate, j in zip(c.gates, good, strict=True):
            want = expected[j]
            local = trace.local[gate]
            got_local = [None if local is None else local[k] for k in range(op.arity)]
            got_local = [no_gradient(op, k, g) if k in wrt else g for k, g in enumerate(got_local)]
            want_local = [want.grads.get(k) for k in range(op.arity)]
            if not close(trace.values[gate], want.value) or not all(
                    map(close, got_local, want_local)):
                wrong.append(f"{name}{pts[j]} wrt {wrt}: value {trace.values[gate]!r}, local "
                             f"{got_local}; torch {want.value!r}, {want_local}")
        # each point alone, as the output: the gradient every input receives
        for j in good:
            c = circuit(name, [pts[j]], wrt)
            trace = run(c.graph, c.inputs)
            assert trace.grads is not None
            got = [trace.grads[c.wires[0][k]] for k in wrt]
            want_grads = [expected[j].grads[k] for k in wrt]
            if not all(map(close, got, want_grads)):
                wrong.append(f"{name}{pts[j]} wrt {wrt}: gradients {got}; torch {want_grads}")
        # where PyTorch gives inf or NaN, the engine refuses
        for j in (j for j in range(len(pts)) if j not in good):
            outcome = run_or_refusal(run, circuit(name, [pts[j]], wrt))
            if not isinstance(outcome, REFUSAL[engine_name]):
                wrong.append(f"{name}{pts[j]} wrt {wrt}: {outcome!r}, where torch gives "
                             f"{expected[j]} (expected {REFUSAL[engine_name].__name__})")
    assert not wrong, f"{engine_name} engine against PyTorch:\n" + "\n".join(wrong)


@pytest.mark.parametrize("name", NAMES)
def test_vjp_agrees_with_torch(name: str) -> None:
    """The entry itself: value(xs), and vjp(upstream, xs, out, needs) with upstream gradients of
    both signs and several magnitudes."""
    op = OPS[name]
    rng = random.Random(f"vjp {name}")
    wrong: list[str] = []
    for xs in points(op):
        for wrt in wrt_sets(op):
            upstream = rng.choice([-1.0, 1.0]) * 10 ** rng.uniform(-3, 3)
            want = torch_at(op, xs, wrt, upstream)
            try:
                value = finite_or_none(op.value(*xs))
            except MATH_ERRORS:
                value = None
            if not close(value, want.value):
                wrong.append(f"{name}{xs}: value {value!r}, torch {want.value!r}")
                continue
            if value is None:
                continue
            needs = [k in wrt for k in range(op.arity)]
            try:
                grads = rules.vjp(op, upstream, xs, value, needs)
            except MATH_ERRORS:
                if want.defined:
                    wrong.append(f"{name}{xs} wrt {wrt}: vjp refused; torch {want.grads}")
                continue
            got = {k: None if g is None else finite_or_none(g) for k, g in enumerate(grads)}
            got = {k: no_gradient(op, k, g) if k in wrt else g for k, g in got.items()}
            if [got[k] for k in range(op.arity) if k not in wrt] != [None] * (op.arity - len(wrt)):
                wrong.append(f"{name}{xs} wrt {wrt}: a gradient for a constant wire: {got}")
            if not all(close(got[k], want.grads[k]) for k in wrt):
                wrong.append(f"{name}{xs} wrt {wrt}, upstream {upstream:.6g}: vjp {got}; "
                             f"torch {want.grads}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("name", NAMES)
def test_every_op_says_where_to_test_it(name: str) -> None:
    """A range per input for random points, inside the domain: PyTorch computes every one."""
    op = OPS[name]
    assert len(op.samples) == op.arity and all(lo < hi for lo, hi in op.samples), op.samples
    assert all(len(xs) == op.arity for xs in op.edge_points()), op.edge_points()
    undefined = [xs for xs in random_points(op) if not torch_at(op, xs, wrt_sets(op)[0]).defined]
    assert not undefined, f"samples outside {name}'s domain: {undefined}"


@pytest.mark.parametrize("name", builtin_composites())
@pytest.mark.parametrize("form", ["def", "expanded"])
def test_builtin_composites_agree_with_their_op(form: str, name: str) -> None:
    """A built-in composite's body, as one def gate and inlined into primitive gates, against
    PyTorch, at the op's random points (at edges a body may overflow where the op does not:
    1 / (1 + exp(-a)) at a = -1000)."""
    op = OPS[name]
    wrong: list[str] = []
    for xs in random_points(op):
        for wrt in wrt_sets(op):
            want = torch_at(op, xs, wrt)
            if form == "def":
                c = circuit(f"{name}_def", [xs], wrt, make_op(builtin_definition(name)))
                graph = c.graph
            else:
                c = circuit(name, [xs], wrt)
                graph = expand(c.graph, [name])
                assert name not in graph.ops
            trace = reference(graph, c.inputs)
            assert trace.grads is not None
            got = [trace.grads[graph.inputs[f"x0_{k}"]] for k in wrt]
            want_grads = [want.grads[k] for k in wrt]
            if not close(trace.output_value, want.value) or not all(
                    map(close, got, want_grads)):
                wrong.append(f"{name}{xs} wrt {wrt}: {trace.output_value!r}, {got}; torch "
                             f"{want.value!r}, {want_grads}")
    assert not wrong, "\n".join(wrong)


def test_an_op_that_is_not_elementwise_gives_its_rules_in_the_language() -> None:
    """hypot as an op of its own, its rules written in the language, against PyTorch."""
    hypot = Op(name="hypot", symbol="hypot", arity=2, text="hypot({a}, {b})",
               value=lambda a, b, p: np.hypot(a, b), elementwise=False,
               shape=lambda a, b, p: np.broadcast_shapes(a, b),
               grad=("dout * a / out", "dout * b / out"),
               torch=lambda t, a, b: t.hypot(a, b), torch_text="torch.hypot({a}, {b})")
    for xs in [(3.0, -4.0), (-0.5, 1e-3), (1e150, 1e150)]:
        for wrt in wrt_sets(hypot):
            want = torch_at(hypot, xs, wrt, upstream=-2.5)
            arrays = [np.asarray(x) for x in xs]
            got = rules.vjp(hypot, -2.5, arrays, hypot.value(*arrays, ()),
                            [k in wrt for k in range(2)])
            assert [got[k] for k in range(2) if k not in wrt] == [None] * (2 - len(wrt))
            assert all(close(float(got[k]), want.grads[k]) for k in wrt), (xs, wrt, got, want)
    with pytest.raises(TypeError):
        dataclasses.replace(hypot, grad=("dout * a / out",))  # one rule (or None) per input


def test_arithmetic_ops_run_their_scalar_code_on_arrays() -> None:
    """arithmetic=True: `numpy` is the scalar `value` itself, and follows it through
    dataclasses.replace (a test that swaps an op's value keeps the two one)."""
    mul = OPS["mul"]
    a, b = np.array([1.5, -2.0, 0.0]), np.array([4.0, 3.0, -7.0])
    assert mul.numpy(np, a, b).tolist() == [6.0, -6.0, -0.0]
    assert [rules.local_gradient(mul, k, [a, b], a * b).tolist() for k in range(2)] == [
        b.tolist(), a.tolist()]
    doubled = dataclasses.replace(mul, value=lambda x, y: 2 * x * y)
    assert doubled.numpy(np, a, b).tolist() == [12.0, -12.0, -0.0]
    with pytest.raises(TypeError):
        dataclasses.replace(mul, numpy=OPS["max"].numpy)  # arithmetic=True: one or the other
