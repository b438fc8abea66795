"""Property: on random tensor circuits (broadcasting, forks, matrix products, reductions, every
op of the registry), the tensor engine and PyTorch (float64) agree on every gate's value and
gradient, element by element.

Graphs are built directly from the registry. Where an elementwise op is not well conditioned at
some element (its entry's `conditioned`), or its value leaves ±LIMIT, the gate is tanh instead.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from circuit_backprop.checks import torchcheck
from circuit_backprop.core import engine
from circuit_backprop.core.arrays import ShapeError, broadcast
from circuit_backprop.core.graph import Graph
from circuit_backprop.core.ops import CONST, INPUT, OPS

ELEMENTWISE = sorted(name for name, op in OPS.items() if op.elementwise)
ARRAY_OPS = sorted(name for name, op in OPS.items()  # (not one_hot's and cross_entropy's labels)
                   if not op.elementwise and not op.labels and any(op.grad))
SHAPES = [(), (3,), (2, 3), (1, 3), (2, 1), (3, 2)]
LIMIT = 1e3


def _add(g: Graph, values: list, op_name: str, args: tuple, params: tuple = ()) -> int:
    node = g.add_node(op_name, args, 0, 0)
    if params:
        g.params[node] = params
    values.append(np.asarray(OPS[op_name].forward([values[i] for i in args], params)))
    return node


def _conditioned(op_name: str, xs: list) -> bool:
    op = OPS[op_name]
    try:
        shape = broadcast(*(x.shape for x in xs))
    except ShapeError:
        return False
    spread = [np.broadcast_to(x, shape).ravel() for x in xs]
    if not all(op.conditioned(*map(float, point)) for point in zip(*spread, strict=True)):
        return False
    with np.errstate(all="ignore"):
        out = np.asarray(op.forward(xs))
    return bool(np.all(np.abs(out) <= LIMIT))


def _array_gate(draw: st.DrawFn, g: Graph, values: list, a: int, b: int) -> int | None:
    """One op that is not elementwise, on inputs it takes, or None."""
    name = draw(st.sampled_from(ARRAY_OPS))
    op = OPS[name]
    x, y = values[a].shape, values[b].shape
    wires = (a, b)[: op.arity]
    candidates = [(wires, ())]
    if op.params[1]:
        dims = len(x)
        candidates = ([(wires, (draw(st.integers(-dims, dims - 1)),))] if dims
                      else [(wires, (0,) if op.params[0] else ())])
        if name == "reshape":
            candidates = [(wires, (-1,))]
        elif name == "index":
            candidates = [(wires, (draw(st.integers(-x[0], x[0] - 1)),))] if dims else []
    for args, params in candidates:
        try:
            op.shape(*(values[i].shape for i in args), params)
        except ShapeError:
            return None
        if name == "matmul" and not (x and y):
            return None
        return _add(g, values, name, args, params)
    return None


@st.composite
def tensor_circuits(draw: st.DrawFn) -> tuple[Graph, dict[str, np.ndarray]]:
    g = Graph("")
    values: list = []
    inputs: dict[str, np.ndarray] = {}
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    for k in range(draw(st.integers(1, 4))):
        node = g.add_node(INPUT, (), 0, 0)
        name = f"x{k}"
        g.names[node], g.inputs[name] = name, node
        inputs[name] = rng.uniform(-2, 2, size=draw(st.sampled_from(SHAPES)))
        values.append(inputs[name])
    if draw(st.booleans()):
        node = g.add_node(CONST, (), 0, 0)
        g.consts[node] = 0.0
        g.arrays[node] = np.array([0.5, -1.5, 2.0])
        values.append(g.arrays[node])
    for _ in range(draw(st.integers(1, 10))):
        a = draw(st.integers(0, len(values) - 1))
        b = draw(st.integers(0, len(values) - 1))  # often a fork: a node feeds several gates
        c = draw(st.integers(0, len(values) - 1))
        if draw(st.integers(0, 3)) == 0 and _array_gate(draw, g, values, a, b) is not None:
            continue
        name = draw(st.sampled_from(ELEMENTWISE))
        args = (a, b, c)[: OPS[name].arity]
        if not _conditioned(name, [values[i] for i in args]):
            name, args = "tanh", (a,)
        _add(g, values, name, args)
    # f = sum(last * R): the last gate's upstream gradient is a random array R
    weights = g.add_node(CONST, (), 0, 0)
    g.consts[weights] = 0.0
    g.arrays[weights] = rng.normal(size=values[-1].shape)
    values.append(g.arrays[weights])
    product = _add(g, values, "mul", (len(values) - 2, weights))
    g.output = _add(g, values, "sum", (product,))
    g.names[g.output] = "f"
    return g, inputs


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tensor_circuits())
def test_the_tensor_engine_agrees_with_torch_on_every_gate(case) -> None:  # noqa: ANN001
    graph, inputs = case
    trace = engine.run(graph, inputs)
    result = torchcheck.check(trace)
    bad = [(g.node, graph.ops[g.node], trace.shapes[g.node]) for g in result.disagreeing]
    assert result.ok, bad
    for node in range(len(graph)):  # every gradient has its node's shape
        assert trace.grads[node].shape == trace.shapes[node]
