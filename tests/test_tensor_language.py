"""The tensor language: array literals, declared shapes, @, indexing and integer arguments;
shapes checked when the program is parsed; the tensor engine's gradients against closed forms
computed here with NumPy (cs231n's "gradients for vectorized operations")."""

from __future__ import annotations

import numpy as np
import pytest

from circuit_backprop.core import engine
from circuit_backprop.errors import EvalError, SourceError, UsageError
from circuit_backprop.lang.parse import parse


def run(text: str, **inputs):
    graph = parse(text)
    values = {name: np.asarray(v, dtype=float) for name, v in graph.defaults.items()}
    values.update({k: np.asarray(v, dtype=float) for k, v in inputs.items()})
    trace = engine.run(graph, values)
    named = {name: node for node, name in enumerate(graph.names) if name is not None}
    return graph, trace, named


def test_literals_defaults_and_declared_shapes() -> None:
    graph = parse("input W = [[1, -2], [0.5, 3]]\ninput x[2]\ninput b[2, 1]\nf = sum(W @ x)")
    np.testing.assert_array_equal(graph.defaults["W"], [[1, -2], [0.5, 3]])
    assert graph.declared_shapes == {"x": (2,), "b": (2, 1)}
    nested = parse("f = sum([[[1, 2]], [[3, 4]]])")
    (array,) = nested.arrays.values()
    assert array.shape == (2, 1, 2)


def test_the_matrix_product_backward_is_cs231ns_dimension_analysis() -> None:
    rng = np.random.default_rng(0)
    W, X, G = rng.normal(size=(5, 10)), rng.normal(size=(10, 3)), rng.normal(size=(5, 3))
    graph, trace, named = run("input G[5, 3]\nD = W @ X\nf = sum(D * G)", W=W, X=X, G=G)
    # f = sum(D ⊙ G): ∂f/∂D = G, so dW = G @ Xᵀ and dX = Wᵀ @ G
    np.testing.assert_allclose(trace.grads[named["D"]], G, rtol=1e-15)
    np.testing.assert_allclose(trace.grads[named["W"]], G @ X.T, rtol=1e-13)
    np.testing.assert_allclose(trace.grads[named["X"]], W.T @ G, rtol=1e-13)
    assert trace.grads[named["W"]].shape == W.shape and trace.grads[named["X"]].shape == X.shape


def test_a_broadcast_bias_collects_the_gradient_of_every_row() -> None:
    rng = np.random.default_rng(1)
    X, b = rng.normal(size=(4, 2)), rng.normal(size=(2,))
    graph, trace, named = run("h = X + b\nf = sum(h * h)", X=X, b=b)
    # ∂f/∂h = 2h; b was stretched along axis 0, so its gradient sums over it
    h = X + b
    np.testing.assert_allclose(trace.grads[named["b"]], (2 * h).sum(axis=0), rtol=1e-14)
    np.testing.assert_allclose(trace.grads[named["X"]], 2 * h, rtol=1e-14)
    assert trace.grads[named["b"]].shape == (2,)


def test_gradients_add_where_a_tensor_wire_forks() -> None:
    x = np.array([0.5, -1.0, 2.0])
    graph, trace, named = run("s = softmax(x)\nf = sum(s * x) + sum(x * x)", x=x)
    s = np.exp(x) / np.exp(x).sum()
    # d/dx sum(s·x) = s ⊙ (x - s·x) + s (the softmax path, then the direct wire); + 2x
    expected = s * (x - (s * x).sum()) + s + 2 * x
    np.testing.assert_allclose(trace.grads[named["x"]], expected, rtol=1e-13)


def test_integer_arguments_and_indexing() -> None:
    X = np.arange(6.0).reshape(2, 3)
    graph, trace, named = run(
        "a = sum(X, 0)\nb = mean(X, -1)\nc = X[1, -1]\nd = reshape(X, 3, 2)[2]\n"
        "f = sum(a) + sum(b) + c + sum(d)", X=X)
    np.testing.assert_array_equal(trace.values[named["a"]], [3, 5, 7])
    np.testing.assert_array_equal(trace.values[named["b"]], [1, 4])
    assert trace.values[named["c"]] == 5
    assert graph.params[named["c"]] == (1, -1)
    # ∂f/∂X: 1 from sum(a), 1/3 from the means, 1 at [1, 2] from c, 1 at the last row of d
    expected = np.ones((2, 3)) + 1 / 3
    expected[1, 2] += 1
    expected.reshape(3, 2)[2] += 1
    np.testing.assert_allclose(trace.grads[named["X"]], expected, rtol=1e-15)
    assert "const" not in graph.ops  # the axis and the dimensions are not gates


def test_cross_entropy_is_the_mean_negative_log_softmax_of_the_labels() -> None:
    logits = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
    labels = [0, 2]
    graph, trace, named = run("input labels[2]\nloss = cross_entropy(z, labels)",
                              z=logits, labels=labels)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert float(trace.values[graph.output]) == pytest.approx(
        -np.log(p[[0, 1], labels]).mean(), rel=1e-14)
    onehot = np.eye(3)[labels]
    np.testing.assert_allclose(trace.grads[named["z"]], (p - onehot) / 2, rtol=1e-13)
    assert not trace.grads[named["labels"]].any()  # labels get no gradient


@pytest.mark.parametrize("text, message, line, column", [
    ("f = [[1, 2], [3, 4]] @ [[1, 2, 3]]", "(2, 2) @ (1, 3): the inner dimensions differ", 1, 5),
    ("f = sum([1, 2] + [1, 2, 3])", "shapes (2,) and (3,) do not broadcast", 1, 9),
    ("input W[2, 3]\nf = W @ W", "(2, 3) @ (2, 3): the inner dimensions differ", 2, 5),
    ("f = [[1, 2], [3]]", "ragged array literal: this row has shape (1,), the first has (2,)",
     1, 14),
    ("input W[2, 3] = [1, 2]\nf = W", "declared with shape (2, 3), but its default has shape",
     1, 17),
    ("f = sum([1, 2], 1)", "axis 1 is out of range for shape (2,)", 1, 5),
    ("f = [1, 2][2]", "index 2 is out of range for axis 0 of shape (2,)", 1, 5),
    ("f = sum(x, y)", "sum() takes integer numbers after its input", 1, 12),
    ("f = transpose([1, 2])", "transpose takes a matrix (2 dimensions), got shape (2,)", 1, 5),
])
def test_shape_and_literal_errors_are_found_at_parse_time_with_their_place(
        text: str, message: str, line: int, column: int) -> None:
    with pytest.raises(SourceError) as err:
        parse(text)
    assert message in err.value.message
    assert err.value.where() == (line, column)


def test_a_value_that_disagrees_with_the_declaration_names_both_shapes() -> None:
    graph = parse("input W[2, 3]\nf = sum(W)")
    with pytest.raises(UsageError, match=r"declared with shape \(2, 3\).*has shape \(3, 2\)"):
        engine.run(graph, {"W": np.zeros((3, 2))})


def test_a_shape_error_from_given_values_points_at_the_gate() -> None:
    graph = parse("h = W @ x\nf = sum(h)")
    with pytest.raises(SourceError) as err:
        engine.run(graph, {"W": np.zeros((2, 3)), "x": np.zeros(2)})
    assert "(2, 3) @ (2,)" in err.value.message and err.value.where() == (1, 5)


def test_backward_needs_a_scalar_output_and_says_how() -> None:
    graph = parse("h = tanh(x)")
    with pytest.raises(UsageError) as err:
        engine.run(graph, {"x": np.zeros(3)})
    assert "scalar output" in err.value.message and "(3,)" in err.value.message
    assert "sum(h)" in err.value.details[0]
    assert engine.run(graph, {"x": np.zeros(3)}, gradients=False).values[graph.output].shape == (3,)


def test_a_bad_element_is_named_by_its_index_and_value() -> None:
    graph = parse("f = sum(log(x))")
    with pytest.raises(EvalError) as err:
        engine.run(graph, {"x": np.array([[1.0, 2.0], [-3.0, 4.0]])})
    assert err.value.message == "log gate: log needs an input > 0 at element [1, 0] (-3)"
    assert err.value.exit_code == 1


def test_a_label_outside_the_classes_is_a_math_error() -> None:
    graph = parse("f = cross_entropy(z, y)")
    with pytest.raises(EvalError, match=r"label 3 at \[1\] is not a class: labels are integers"
                                        r" 0 to 2"):
        engine.run(graph, {"z": np.zeros((2, 3)), "y": np.array([0.0, 3.0])})


def test_scalar_circuits_stay_on_the_scalar_engine() -> None:
    graph = parse("q = x + 2*y; f = q*z")
    trace = engine.run(graph, {"x": 3.0, "y": -4.0, "z": 19.0})
    assert type(trace).__name__ == "Trace" and trace.output_value == -95.0


BATCHNORM_FUSED = """\
def bn(x) = (x - mean(x, 0)) / sqrt(mean((x - mean(x, 0))^2, 0) + 0.00001)
def affine(w, v, c) = w * v + c
y = affine(bn(X), gamma, beta)
f = sum(y * R)
"""


def batchnorm_inputs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    return {"X": rng.normal(size=(5, 3)), "gamma": rng.normal(size=3),
            "beta": rng.normal(size=3), "R": rng.normal(size=(5, 3))}


def test_a_fused_composite_equals_its_staged_expansion_on_random_inputs() -> None:
    from circuit_backprop.lang.expand import expand

    graph = parse(BATCHNORM_FUSED)
    staged = expand(graph, None)
    assert len(staged) > len(graph) and "bn" not in staged.ops
    for seed in range(5):
        rng = np.random.default_rng(seed)
        values = {"X": rng.normal(size=(5, 3)), "gamma": rng.normal(size=3),
                  "beta": rng.normal(size=3), "R": rng.normal(size=(5, 3))}
        fused, expanded = engine.run(graph, values), engine.run(staged, values)
        assert float(fused.values[graph.output]) == pytest.approx(
            float(expanded.values[staged.output]), rel=1e-13)
        for name in values:
            np.testing.assert_allclose(fused.grads[graph.inputs[name]],
                                       expanded.grads[staged.inputs[name]], rtol=1e-11,
                                       atol=1e-13)


def test_batchnorm_gradients_match_the_closed_form() -> None:
    values = batchnorm_inputs()
    graph = parse(BATCHNORM_FUSED)
    trace = engine.run(graph, values)
    X, gamma, R = values["X"], values["gamma"], values["R"]
    n = X.shape[0]
    mu, var = X.mean(0), X.var(0)
    xhat = (X - mu) / np.sqrt(var + 1e-5)
    dxhat = R * gamma  # ∂f/∂y = R
    # the batchnorm backward of the cs231n assignment, in closed form
    dX = (n * dxhat - dxhat.sum(0) - xhat * (dxhat * xhat).sum(0)) / (n * np.sqrt(var + 1e-5))
    np.testing.assert_allclose(trace.grads[graph.inputs["X"]], dX, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(trace.grads[graph.inputs["gamma"]], (R * xhat).sum(0), rtol=1e-12)
    np.testing.assert_allclose(trace.grads[graph.inputs["beta"]], R.sum(0), rtol=1e-12)


def test_an_elementwise_composite_shows_a_local_gradient_per_element() -> None:
    graph = parse("def affine(w, v, c) = w * v + c\ny = affine(W, x, b)\nf = sum(y)")
    W, x, b = np.arange(6.0).reshape(2, 3), np.array([1.0, -2.0, 0.5]), np.array([0.1, 0.2, 0.3])
    trace = engine.run(graph, {"W": W, "x": x, "b": b})
    local = trace.local[graph.named_nodes()["y"]]
    np.testing.assert_array_equal(local[0], np.broadcast_to(x, (2, 3)))  # ∂y/∂w = v
    np.testing.assert_array_equal(local[1], W)  # ∂y/∂v = w
    np.testing.assert_array_equal(trace.grads[graph.inputs["x"]], W.sum(0))  # summed back
