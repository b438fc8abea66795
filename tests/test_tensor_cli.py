"""Tensor circuits from the command line and the API: array values (literal, .npy, .json,
.csv, --random), the tables (shapes, the rule of every wire, broadcast sums), the JSON keys,
errors with their exit codes, and the shipped tensor circuits against torch written here."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import circuit_backprop as cb

TWO_LAYER = "circuits/two_layer_net.circ"


def torch_two_layer(circuit: cb.Circuit) -> dict[str, torch.Tensor]:
    """circuits/two_layer_net.circ written directly in torch, from its defaults."""
    t = {name: torch.tensor(np.asarray(v, dtype=float), requires_grad=name != "labels")
         for name, v in circuit.inputs.items()}
    hidden = torch.relu(t["X"] @ t["W1"] + t["b1"])
    scores = hidden @ t["W2"] + t["b2"]
    loss = torch.nn.functional.cross_entropy(scores, t["labels"].long()) + t["reg"] * (
        (t["W1"] ** 2).sum() + (t["W2"] ** 2).sum())
    loss.backward()
    return {"loss": loss, **t}


def test_the_two_layer_net_json_against_torch(run_json, repo_dir, monkeypatch) -> None:
    monkeypatch.chdir(repo_dir)
    doc = run_json("backward", TWO_LAYER, "--json")
    want = torch_two_layer(cb.Circuit.load(TWO_LAYER))
    assert doc["value"] == pytest.approx(want["loss"].item(), rel=1e-13)
    for name in ("X", "W1", "b1", "W2", "b2"):
        np.testing.assert_allclose(doc["gradients"][name], want[name].grad.numpy(), rtol=1e-11,
                                   atol=1e-15)
    assert doc["gradients"]["labels"] == [0.0, 0.0, 0.0, 0.0]
    gates = {g["name"]: g for g in doc["gates"] if g["name"]}
    assert gates["hidden"]["shape"] == [4, 5] and gates["loss"]["shape"] == []
    assert np.shape(gates["scores"]["value"]) == (4, 3)
    assert np.shape(gates["scores"]["grad"]) == (4, 3)
    # scores = hidden @ W2 + b2: an elementwise add, b2 broadcast over the batch
    assert gates["scores"]["rule"][1] == (
        "∂loss/∂scores, summed over axis 0: broadcast from (3,) to (4, 3)")
    np.testing.assert_allclose(gates["scores"]["downstream"][1], want["b2"].grad.numpy(),
                               rtol=1e-11)
    assert np.shape(gates["scores"]["local"][1]) == (4, 3)
    matmul = doc["gates"][gates["scores"]["inputs"][0]]
    assert matmul["op"] == "matmul" and matmul["local"] == [None, None]
    assert matmul["rule"] == ["∂loss/∂#10 @ transpose(W2)", "transpose(hidden) @ ∂loss/∂#10"]


def test_the_backward_table_shows_each_wires_rule_and_shape(run, repo_dir, monkeypatch) -> None:
    monkeypatch.chdir(repo_dir)
    monkeypatch.setenv("COLUMNS", "250")  # (wide enough that no cell wraps)
    out = run("backward", TWO_LAYER)
    assert out.exit_code == 0, out.output
    text = " ".join(out.stdout.split())
    assert "∂loss/∂W1 = transpose(X) @ ∂loss/∂#7" in text
    assert "∂loss/∂b1 = ∂loss/∂#8, summed over axis 0: broadcast from (5,) to (4, 5)" in text
    assert "labels get no gradient" in text
    assert "the sum of what #7 and #13 (twice) sent" in text  # W1's fork


@pytest.mark.parametrize("columns", ["60", "80", "120"])
def test_every_tensor_circuit_fits_a_table_at_ordinary_widths(run, repo_dir, monkeypatch,
                                                             columns) -> None:
    monkeypatch.chdir(repo_dir)
    monkeypatch.setenv("COLUMNS", columns)
    for path in ["circuits/two_layer_net.circ", "circuits/batchnorm_staged.circ"]:
        out = run("backward", path)
        assert out.exit_code == 0, out.output
        if columns != "60":  # (at 60, a table that does not fit prints records)
            assert "┃ rule" in out.stdout or "rule " in out.stdout
        assert max(len(line) for line in out.stdout.splitlines()) <= int(columns)


def test_array_values_on_the_command_line(run_json, tmp_path) -> None:
    w = np.array([[1.0, 2.0], [3.0, 4.0]])
    np.save(tmp_path / "w.npy", w)
    (tmp_path / "w.json").write_text(json.dumps(w.tolist()))
    (tmp_path / "w.csv").write_text("1,2\n3,4\n")
    expected_x = w.T @ np.ones(2)  # f = sum(W @ x): ∂f/∂x = Wᵀ·1
    for value in ["[[1, 2], [3, 4]]", f"@{tmp_path / 'w.npy'}", f"@{tmp_path / 'w.json'}",
                  f"@{tmp_path / 'w.csv'}"]:
        doc = run_json("backward", "f = sum(W @ x)", "--W", value, "--x", "[1, -1]", "--json")
        assert doc["value"] == -2.0
        assert doc["gradients"]["x"] == expected_x.tolist()
        assert doc["gradients"]["W"] == [[1.0, -1.0], [1.0, -1.0]]  # 1·xᵀ


def test_random_values_are_seeded_and_shaped(run_json) -> None:
    program = "input W[2, 3]\ninput labels[2]\nloss = cross_entropy(W, labels)"
    first = run_json("backward", program, "--random", "7", "--json")
    again = run_json("backward", program, "--random", "7", "--json")
    other = run_json("backward", program, "--random", "8", "--json")
    assert first == again and first["inputs"] != other["inputs"]
    assert np.shape(first["inputs"]["W"]) == (2, 3)
    assert all(label in (0.0, 1.0, 2.0) for label in first["inputs"]["labels"])
    rng = np.random.default_rng(7)
    np.testing.assert_allclose(first["inputs"]["W"], rng.standard_normal((2, 3)))


@pytest.mark.parametrize("args, code, words", [
    (["f = sum(W)", "--W", "[[1, 2], [3]]"], 2, "ragged array literal"),
    (["input W[2, 3]\nf = sum(W)", "--W", "[[1, 2], [3, 4]]"], 2,
     "declared with shape (2, 3), but its value has shape (2, 2)"),
    (["f = sum(W)", "--W", "@/nonexistent/w.npy"], 2, "no such file"),
    (["h = tanh(x)", "--x", "[1, 2]"], 2, "backward needs a scalar output"),
    (["f = sum(log(x))", "--x", "[1, -2, 3]"], 1, "log needs an input > 0 at element [1] (-2)"),
    (["f = cross_entropy(z, y)", "--z", "[[1, 2], [3, 4]]", "--y", "[0, 2]"], 1,
     "label 2 at [1] is not a class"),
    (["f = sum([[1, 2], [3, 4]] @ [[1, 2, 3]])"], 2, "(2, 2) @ (1, 3)"),
    (["f = x * y", "--x", "1", "--random", "-1"], 2, "the seed is a whole number, 0 or more"),
    (["input W[100000000000, 100000000000]\nf = sum(W)", "--random", "1"], 2,
     "input W[100000000000, 100000000000] is too large to make (1e+22 numbers)"),
    (["input W[1" + "0" * 400 + "]\nf = sum(W)", "--random", "1"], 2,
     "is too large to make (about 10^400 numbers)"),
])
def test_bad_tensor_input_is_a_clear_message_and_an_exit_code(run, args, code, words) -> None:
    out = run("backward", *args)
    assert out.exit_code == code, out.output
    assert words in out.stderr
    assert "Traceback" not in out.output
    as_json = run("backward", *args, "--json")
    assert as_json.exit_code == code
    assert json.loads(as_json.stdout)["error"]["message"].startswith(out.stderr[7:40])


def test_the_api_hands_out_numpy_arrays() -> None:
    c = cb.Circuit("D = W @ X\nf = sum(D * D)")
    W, X = np.array([[1.0, 2.0], [0.5, -1.0]]), np.array([[0.3], [2.0]])
    r = c.backward(W=W, X=[[0.3], [2.0]])
    D = W @ X
    assert r.value == pytest.approx(float((D * D).sum()), rel=1e-15)
    assert isinstance(r.grad["W"], np.ndarray)
    np.testing.assert_allclose(r.grad["W"], 2 * D @ X.T, rtol=1e-14)
    np.testing.assert_allclose(r.grad["X"], W.T @ (2 * D), rtol=1e-14)
    assert r.to_json()["gates"][-1]["shape"] == []
    assert r.check_torch().ok and r.check_numeric().ok


def test_shipped_tensor_circuits_agree_with_torch_and_their_twins(run, repo_dir,
                                                                 monkeypatch) -> None:
    monkeypatch.chdir(repo_dir)
    staged = cb.Circuit.load("circuits/batchnorm_staged.circ").backward()
    fused = cb.Circuit.load("circuits/batchnorm_fused.circ").backward()
    assert staged.value == pytest.approx(fused.value, rel=1e-14)
    for name in ("X", "gamma", "beta"):
        np.testing.assert_allclose(staged.grad[name], fused.grad[name], rtol=1e-10, atol=1e-13)
    soft_staged = cb.Circuit.load("circuits/softmax_staged.circ").backward()
    soft_builtin = cb.Circuit.load("circuits/softmax_builtin.circ").backward()
    np.testing.assert_allclose(soft_staged.grad["z"], soft_builtin.grad["z"], rtol=1e-12)
    z = np.array([2, 1, 0.1, 3.5])
    p = np.exp(z) / np.exp(z).sum()
    np.testing.assert_allclose(soft_builtin.grad["z"], p - np.eye(4)[2], rtol=1e-12)
    neuron = cb.Circuit.load("circuits/tensor_neuron.circ").backward()
    assert neuron.value == pytest.approx(0.7310585786300049, rel=1e-15)  # cs231n's 0.73
    np.testing.assert_allclose(neuron.grad["w"], [-0.19661193, -0.39322387], rtol=1e-7)
    out = run("backward", "circuits/batchnorm_fused.circ", "--expand", "--json")
    doc = json.loads(out.stdout)
    assert "bn" not in [g["op"] for g in doc["gates"]] and "mean" in [g["op"] for g in doc["gates"]]


def test_steps_walk_tensor_gates_with_shapes_then_numbers(run, repo_dir, monkeypatch) -> None:
    monkeypatch.chdir(repo_dir)
    out = run("backward", "circuits/affine_relu.circ", "--steps")
    assert out.exit_code == 0, out.output
    text = out.stdout
    assert "a = X @ W + b   (+ gate: (2, 4), (4,) → (2, 4))" in text
    assert "∂loss/∂W = transpose(X) @ ∂loss/∂#3   (3, 4)" in text
    assert "∂loss/∂b = ∂loss/∂a, summed over axis 0: broadcast from (4,) to (2, 4)   (4,)" in text
    # h * h: a fork of a tensor wire, the running sum after both wires is 2·h·∂loss/∂(h*h)
    X = np.array([[1, -2, 0.5], [0.3, 0.8, -1]])
    W = np.array([[0.2, -0.5, 0.1, 0.7], [0.4, 0.3, -0.2, 0.1], [-0.6, 0.2, 0.5, -0.3]])
    h = np.maximum(X @ W + [0.1, -0.1, 0.05, 0], 0)
    assert "fork: ∂loss/∂h += this (wire 2 of 2, all in), so far" in text
    db = (2 * h / 8 * (h > 0)).sum(axis=0)
    assert "= [" + ", ".join(f"{v:.6g}".rjust(5) for v in db) + "]" in text


def test_the_readmes_tensor_output_is_real(run, repo_dir, monkeypatch) -> None:
    """The README's two-layer net table is what the command prints (it cannot drift)."""
    readme = (repo_dir / "README.md").read_text(encoding="utf-8")
    marker = "<!-- tensor-output: COLUMNS=80 circuit backward circuits/two_layer_net.circ -->"
    shown = readme.split(marker, 1)[1].split("```", 2)[1].strip("\n")
    monkeypatch.chdir(repo_dir)
    monkeypatch.setenv("COLUMNS", "80")
    out = run("backward", "circuits/two_layer_net.circ")
    tail = out.stdout[out.stdout.index("Gradients of loss"):]
    assert [line.rstrip() for line in shown.splitlines()] == [
        line.rstrip() for line in tail.rstrip("\n").splitlines()]


def test_drawings_show_shapes_on_tensor_wires_and_numbers_where_small(run, repo_dir,
                                                                      monkeypatch) -> None:
    monkeypatch.chdir(repo_dir)
    out = run("draw", "circuits/affine_relu.circ", "--format", "dot")
    assert out.exit_code == 0, out.output
    assert ">(2, 3)</font>" in out.stdout  # X: a shape only
    assert "(4,) [ 0.27, 0, 0.2, 0.235]" in out.stdout  # b's gradient: small, so its numbers
    text = run("draw", "circuits/affine_relu.circ")
    assert "∂loss/∂h = (2, 4) + (2, 4) = (2, 4)" in text.stdout  # the fork of h
