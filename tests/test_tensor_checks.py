"""--check-torch and --check-numeric on tensor circuits: every gate against PyTorch, element
by element; central differences per element (sampled above a size) and each gate's VJP on its
own against a random upstream gradient, so that a wrong rule is pinned to its gate."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from circuit_backprop.checks import numeric, torchcheck
from circuit_backprop.core import engine, ops
from circuit_backprop.lang.parse import parse

TWO_LAYER = """\
input labels = [0, 2, 1]
h = relu(X @ W1 + b1)
z = h @ W2 + b2
loss = cross_entropy(z, labels) + 0.01 * sum(W1 * W1)
"""


def two_layer_inputs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    return {"X": rng.normal(size=(3, 4)), "W1": rng.normal(size=(4, 6)), "b1": rng.normal(size=6),
            "W2": rng.normal(size=(6, 3)), "b2": rng.normal(size=3),
            "labels": np.array([0.0, 2.0, 1.0])}


def test_torch_agrees_on_every_gate_of_a_two_layer_net() -> None:
    graph = parse(TWO_LAYER)
    values = two_layer_inputs()
    trace = engine.run(graph, values)
    result = torchcheck.check(trace)
    assert result.ok and len(result.gates) == len(graph)
    # and the loss itself, computed here with torch.nn.functional
    t = {k: torch.tensor(v, requires_grad=k != "labels") for k, v in values.items()}
    h = torch.relu(t["X"] @ t["W1"] + t["b1"])
    loss = torch.nn.functional.cross_entropy(h @ t["W2"] + t["b2"], t["labels"].long()) + (
        0.01 * (t["W1"] ** 2).sum())
    loss.backward()
    assert float(trace.values[graph.output]) == pytest.approx(loss.item(), rel=1e-13)
    np.testing.assert_allclose(trace.grads[graph.inputs["W1"]], t["W1"].grad.numpy(), rtol=1e-11)


def test_a_wrong_engine_value_is_caught_by_the_torch_check() -> None:
    graph = parse(TWO_LAYER)
    trace = engine.run(graph, two_layer_inputs())
    node = graph.named_nodes()["h"]
    trace.grads[node] = trace.grads[node] * 1.001
    result = torchcheck.check(trace)
    assert [g.node for g in result.disagreeing] == [node]


def test_central_differences_per_element_sampled_above_a_size() -> None:
    graph = parse(TWO_LAYER)
    trace = engine.run(graph, two_layer_inputs())
    result = numeric.check(trace)
    assert result.ok
    w1 = graph.inputs["W1"]
    assert result.sampled[w1] == (numeric.SAMPLED_ELEMENTS, 24)  # 10 of W1's 24 elements
    assert result.sampled[graph.inputs["b2"]] == (3, 3)  # every element of a small one
    checked = [c for c in result.nodes if c.node == w1]
    assert len({c.index for c in checked}) == numeric.SAMPLED_ELEMENTS
    for c in checked:  # each against the engine's own gradient element
        assert c.analytic == trace.grads[w1][c.index]
        assert c.numeric == pytest.approx(c.analytic, rel=1e-5, abs=1e-8)


def test_a_wrong_vjp_is_pinned_to_its_gate(monkeypatch: pytest.MonkeyPatch) -> None:
    right = ops.OPS["softmax"]
    wrong = dataclasses.replace(right, grad=(f"2 * ({right.grad[0]})",))
    monkeypatch.setitem(ops.OPS, "softmax", wrong)
    graph = parse("s = softmax(x)\nf = sum(s * w) + sum(x)")
    trace = engine.run(graph, {"x": np.array([1.0, 2.0, 3.0]), "w": np.array([1.0, -1.0, 2.0])})
    result = numeric.check(trace)
    assert not result.ok
    assert [graph.label(g.node) for g in result.failing_gates] == ["s"]
    assert result.failing_gates[0].rel_error == pytest.approx(0.5, rel=1e-6)
    message = str(numeric.failure(result, trace))
    assert "gate s (softmax(x)), input 1" in message
