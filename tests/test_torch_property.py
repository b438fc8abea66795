"""Property: on random circuits over every op, the engine and PyTorch (float64) agree on every
gate's value and gradient, and autograd does what the engine predicts.

Graphs are built directly (no parser, no CLI) so that well over 1,000 examples run quickly.
Inputs stay away from kinks and domain edges: where an op is not well conditioned (its
registry entry's `conditioned`), the generator uses tanh (smooth, defined everywhere) instead.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from circuit_backprop.checks import torchcheck
from circuit_backprop.core import engine
from circuit_backprop.core.graph import Graph
from circuit_backprop.core.ops import CONST, INPUT, OPS

OP_NAMES = sorted(name for name, op in OPS.items() if op.elementwise)  # scalar circuits
LIMIT = 1e4  # keep values in a range where float64 rounding stays far below the tolerance


@st.composite
def circuits(draw: st.DrawFn) -> tuple[Graph, dict[str, float]]:
    g = Graph("")
    values: list[float] = []
    inputs: dict[str, float] = {}
    for k in range(draw(st.integers(1, 4))):
        node = g.add_node(INPUT, (), 0, 0)
        name = f"x{k}"
        g.names[node] = name
        g.inputs[name] = node
        inputs[name] = draw(st.floats(-3, 3, allow_nan=False))
        values.append(inputs[name])
    for _ in range(draw(st.integers(0, 2))):
        node = g.add_node(CONST, (), 0, 0)
        g.consts[node] = draw(st.sampled_from([0.5, 2.0, 3.0, -1.5]))
        values.append(g.consts[node])
    for _ in range(draw(st.integers(1, 12))):
        name = draw(st.sampled_from(OP_NAMES))
        op = OPS[name]
        args = tuple(draw(st.integers(0, len(values) - 1)) for _ in range(op.arity))
        xs = [values[i] for i in args]
        if not op.conditioned(*xs) or abs(op.value(*xs)) > LIMIT:
            name, args = "tanh", args[:1]
        node = g.add_node(name, args, 0, 0)
        values.append(OPS[name].value(*(values[i] for i in args)))
        if draw(st.booleans()):
            g.names[node] = f"g{node}"
    g.output = len(g) - 1
    g.names[g.output] = "f"
    return g, inputs


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(circuits())
def test_engine_agrees_with_torch_on_every_gate(circuit: tuple[Graph, dict[str, float]]) -> None:
    graph, inputs = circuit
    trace = engine.run(graph, inputs)
    result = torchcheck.check(trace)
    assert result.gradients and (result.note is None) == trace.depends[graph.output]
    bad = [(g.node, graph.ops[g.node], trace.values[g.node], g.value,
            trace.grads[g.node], g.grad) for g in result.disagreeing]
    assert result.ok, bad


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(circuits(), st.data())
def test_autograd_does_what_the_engine_predicts(
    circuit: tuple[Graph, dict[str, float]], data: st.DataObject
) -> None:
    graph, inputs = circuit
    trace = engine.run(graph, inputs)
    candidates = sorted(set(graph.inputs.values()) | {
        i for i, name in enumerate(graph.names) if name is not None and graph.is_gate(i)})
    chosen = set(data.draw(st.lists(st.sampled_from(candidates), max_size=3)))
    passes = data.draw(st.integers(1, 3))
    zero_grad, retain = data.draw(st.booleans()), data.draw(st.booleans())
    shown = sorted(set(candidates) | {graph.output})
    b = torchcheck.behave(trace, chosen, shown, passes, zero_grad, retain)
    assert b.ok, (b.error, b.prediction.error,
                  [(n.node, n.predicted, n.grad, n.why) for n in b.nodes if not n.agrees])


def test_every_op_is_covered_by_the_generator() -> None:
    # each op, once, at a safe point: the property above draws from this same list
    for name in OP_NAMES:
        op = OPS[name]
        g = Graph("")
        xs = [0.7, 1.3, -0.4][: op.arity]
        for k, _ in enumerate(xs):
            node = g.add_node(INPUT, (), 0, 0)
            g.names[node] = f"x{k}"
            g.inputs[f"x{k}"] = node
        g.output = g.add_node(name, tuple(range(op.arity)), 0, 0)
        g.names[g.output] = "f"
        assert op.conditioned(*xs)
        trace = engine.run(g, {f"x{k}": v for k, v in enumerate(xs)})
        assert torchcheck.check(trace).ok, name
