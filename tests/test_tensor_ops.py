"""Every op on arrays, generated from the registry, against PyTorch (float64).

- ops that are not elementwise (matmul, reductions, softmax, ...): at each of their entry's
  `array_cases`, the entry's value and its VJP with a random upstream gradient, against
  torch.autograd.grad with that upstream as grad_outputs; then the same gate inside a circuit,
  through the tensor engine;
- elementwise ops: on arrays with NumPy broadcasting, inside a circuit, so that the backward's
  sum over the broadcast axes is what is tested (a (4,) bias on a (3, 4) matrix collects the
  gradient of all three rows).

No op is named here: a new op is tested by being in the registry.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from circuit_backprop.core import engine, rules
from circuit_backprop.core.graph import Graph
from circuit_backprop.core.ops import CONST, INPUT, OPS

ARRAY_OPS = sorted(name for name, op in OPS.items() if op.array_cases)
ELEMENTWISE = sorted(name for name, op in OPS.items() if op.elementwise)
BROADCASTS = {1: [((3, 4),), ((5,),)],
              2: [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((3, 4), ()), ((), (2, 3))],
              3: [((3, 4), (3, 4), (3, 4)), ((3, 1), (4,), ()), ((), (2, 3), (3,))]}


def test_every_op_that_is_not_elementwise_has_array_cases() -> None:
    assert ARRAY_OPS == sorted(name for name, op in OPS.items() if not op.elementwise)


def _inputs(op_name: str, shapes: tuple, rng: np.random.Generator,
            params: tuple = ()) -> list[np.ndarray]:
    op = OPS[op_name]
    xs = []
    for k, shape in enumerate(shapes):
        if k in op.labels:  # class indices into the previous input's last axis
            xs.append(rng.integers(0, shapes[0][-1], size=shape).astype(np.float64))
        elif op_name == "one_hot":  # classes 0 .. C-1, C its integer argument
            xs.append(rng.integers(0, params[0], size=shape).astype(np.float64))
        else:
            xs.append(rng.normal(size=shape))
    return xs


def _torch_grads(op_name: str, xs: list[np.ndarray], params: tuple, upstream: np.ndarray):
    op = OPS[op_name]
    takes = [rule is not None for rule in op.grad]  # labels, one_hot's classes, a shape: none
    ts = [torch.tensor(x, dtype=torch.float64, requires_grad=takes[k]) for k, x in enumerate(xs)]
    out = op.torch_forward(torch, ts, params)
    wanted = [t for k, t in enumerate(ts) if takes[k]]
    grads = iter(torch.autograd.grad(out, wanted, grad_outputs=torch.tensor(upstream))
                 if wanted else ())
    return out.detach().numpy(), [next(grads).numpy() if takes[k] else None
                                  for k in range(len(xs))]


@pytest.mark.parametrize("name", ARRAY_OPS)
def test_array_op_value_and_vjp_agree_with_torch(name: str) -> None:
    op = OPS[name]
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    for shapes, params in op.array_cases:
        xs = _inputs(name, shapes, rng, params)
        out = np.asarray(op.forward(xs, params))
        assert out.shape == op.shape(*shapes, params), (name, shapes, params)
        upstream = rng.normal(size=out.shape)
        want_out, want_grads = _torch_grads(name, xs, params, upstream)
        np.testing.assert_allclose(out, want_out, rtol=1e-12, atol=1e-14)
        got = rules.vjp(op, upstream, xs, out, None, params)
        for k, (g, w) in enumerate(zip(got, want_grads, strict=True)):
            if w is None:
                assert g is None, f"{name}: input {k} takes no gradient"
                continue
            assert g.shape == xs[k].shape, f"{name}: the gradient has its input's shape"
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12,
                                       err_msg=f"{name}{shapes} {params} input {k}")


def _weighted_sum_circuit(op_name: str, shapes: tuple, params: tuple,
                          weights: np.ndarray) -> Graph:
    """x0, x1 -> the op -> f = sum(gate * weights): the gate's upstream gradient is `weights`."""
    g = Graph("")
    for k, _ in enumerate(shapes):
        node = g.add_node(INPUT, (), 0, 0)
        g.names[node] = f"x{k}"
        g.inputs[f"x{k}"] = node
    gate = g.add_node(op_name, tuple(range(len(shapes))), 0, 0)
    if params:
        g.params[gate] = params
    w = g.add_node(CONST, (), 0, 0)
    g.consts[w] = 0.0
    g.arrays[w] = weights
    product = g.add_node("mul", (gate, w), 0, 0)
    g.output = g.add_node("sum", (product,), 0, 0)
    g.names[g.output] = "f"
    return g


def _engine_against_torch(name: str, shapes: tuple, params: tuple, xs: list) -> None:
    op = OPS[name]
    rng = np.random.default_rng(7)
    out_shape = np.asarray(op.forward(xs, params)).shape
    weights = rng.normal(size=out_shape)
    graph = _weighted_sum_circuit(name, shapes, params, weights)
    trace = engine.run(graph, {f"x{k}": x for k, x in enumerate(xs)})
    _, want = _torch_grads(name, xs, params, weights)
    for k, w in enumerate(want):
        got = trace.grads[graph.inputs[f"x{k}"]]
        assert got.shape == xs[k].shape
        if w is None:
            assert not got.any()
        else:
            np.testing.assert_allclose(got, w, rtol=1e-10, atol=1e-12,
                                       err_msg=f"{name}{shapes} {params} input {k}")


@pytest.mark.parametrize("name", ARRAY_OPS)
def test_array_op_in_a_circuit_agrees_with_torch(name: str) -> None:
    rng = np.random.default_rng(3)
    for shapes, params in OPS[name].array_cases:
        _engine_against_torch(name, shapes, params, _inputs(name, shapes, rng, params))


def _conditioned_inputs(name: str, shapes: tuple, rng: np.random.Generator) -> list[np.ndarray]:
    """Arrays drawn from the op's sample ranges, redrawn until every broadcast element is where
    the op is well conditioned (its entry's `conditioned`)."""
    op = OPS[name]
    full = np.broadcast_shapes(*shapes)
    for _ in range(1000):
        xs = [rng.uniform(lo, hi, size=shape) for (lo, hi), shape in zip(op.samples, shapes,
                                                                          strict=True)]
        spread = [np.broadcast_to(x, full).ravel() for x in xs]
        if all(op.conditioned(*map(float, point)) for point in zip(*spread, strict=True)):
            return xs
    raise AssertionError(f"{name}: no well-conditioned sample in 1000 draws")


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_op_broadcasts_and_sums_back_as_torch_does(name: str) -> None:
    op = OPS[name]
    rng = np.random.default_rng(11)
    for shapes in BROADCASTS[op.arity]:
        _engine_against_torch(name, shapes, (), _conditioned_inputs(name, shapes, rng))
