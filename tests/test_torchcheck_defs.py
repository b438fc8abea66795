"""--check-torch (and --requires-grad) on defs: a body that is a number, a bare parameter, one
that leaves parameters out, a parameter named like a def, tensor defs.

Every program is checked twice: torch agrees with the engine (`--check-torch --json` exits 0,
ok true, every gate's gradient compared), and the engine's gradients equal closed forms written
by hand, so an agreement on a wrong number cannot pass.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import circuit_backprop as cb

PI = math.pi

# (program, inputs, f, {name or gate id: ∂f/∂it}), the gradients worked out by hand
PROGRAMS: list[tuple[str, list[str], object, dict[str | int, object]]] = [
    # a def whose body is a number: f = 5x; the gate k(x) (#1) gets ∂f/∂k = x
    ("def k(a) = 5; f = k(x) * x", ["--x", "2"], 10.0, {"x": 5.0, 1: 2.0, "f": 1.0}),
    # the output computed from no input through autograd: every gradient but the seed is 0
    ("def k(a) = 5; f = k(x)", ["--x", "2"], 5.0, {"x": 0.0, "f": 1.0}),
    # a body that is its parameter: g = x, f = g·x: ∂f/∂g = x = 2, ∂f/∂x = 2x = 4
    ("def k(a) = a; g = k(x); f = g * x", ["--x", "2"], 4.0, {"g": 2.0, "x": 4.0}),
    # a body that is its second parameter, called with x twice: g = x, f = g²
    ("def z(a, b) = b; g = z(x, x); f = g * g", ["--x", "2"], 4.0, {"g": 4.0, "x": 4.0}),
    # a parameter named like a def: f = (x + 1)², ∂f/∂x = 2(x + 1)
    ("def h(k) = k*k; def k(a) = a+1; f = h(k(x))", ["--x", "2"], 9.0, {"x": 6.0}),
    # ... and one that calls the def it is named like: h(x) = 3x·x, ∂f/∂x = 6x
    ("def k(a) = a*3; def h(k) = k(k)*k; f = h(x)", ["--x", "2"], 12.0, {"x": 12.0}),
    # a def that leaves b out: g = 3x, f = g·y: ∂f/∂g = y, ∂f/∂x = 3y, ∂f/∂y = g
    ("def k(a, b) = a * 3; g = k(x, y); f = g * y", ["--x", "2", "--y", "5"], 30.0,
     {"g": 5.0, "x": 15.0, "y": 6.0}),
    # a def ignoring both inputs: g = 7, f = g·x + y: ∂f/∂g = x, ∂f/∂x = g = 7, ∂f/∂y = 1
    ("def k(a, b) = 7; g = k(x, y); f = g * x + y", ["--x", "2", "--y", "5"], 19.0,
     {"g": 2.0, "x": 7.0, "y": 1.0}),
    # a def calling one defined after it, whose body is a number: f = 10 + x
    ("def h(b) = k(b) * 2; def k(a) = 5; f = h(x) + x", ["--x", "2"], 12.0, {"x": 1.0}),
    # g = π·y, f = g + 2: ∂f/∂x = 0, ∂f/∂y = π
    ("def k(a) = pi; def z(a, b) = b; g = k(x) * z(x, y); f = g + z(y, 2)",
     ["--x", "0.5", "--y", "-3"], 2 - 3 * PI, {"g": 1.0, "x": 0.0, "y": PI}),
    # tensor defs: f = Σ x², ∂f/∂x = 2x
    ("def k(a, b) = a; f = sum(k(x, 2) * x)", ["--x", "[1, 2, 3]"], 14.0,
     {"x": [2.0, 4.0, 6.0]}),
    # g = w (a copy), f = Σ g·w: ∂f/∂g = w, ∂f/∂w = 2w
    ("def k(a) = a; g = k(w); f = sum(g * w)", ["--w", "[[1, 2], [3, 4]]"], 30.0,
     {"g": [[1.0, 2.0], [3.0, 4.0]], "w": [[2.0, 4.0], [6.0, 8.0]]}),
    # f = S·T, S = Σ x² = 14, T = Σ (x² + x) = 16: ∂f/∂x = 2x·T + S·(2x + 1) = 60x + 14
    ("def k(a) = sum(a * a); def sq(a) = a * a; f = k(x) * sum(sq(x) + x)",
     ["--x", "[1, -2, 3]"], 224.0, {"x": [74.0, -106.0, 194.0]}),
    # a number-bodied def on an array: f = Σ 5x, ∂f/∂x = 5, the gate k(x) (#1) gets Σ x
    ("def k(a) = 5; f = sum(k(x) * x)", ["--x", "[1, 2]"], 15.0, {"x": [5.0, 5.0], 1: 3.0}),
]


@pytest.mark.parametrize(("source", "values", "value", "grads"), PROGRAMS)
def test_check_torch_agrees_on_defs_and_the_gradients_are_the_closed_forms(
        run, source: str, values: list[str], value: object,
        grads: dict[str | int, object]) -> None:
    out = run("backward", source, *values, "--check-torch", "--json")
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    torch = doc["torch"]
    assert torch["ok"] is True and torch["disagree"] == []
    assert torch["compared"] == "values and gradients" and torch["note"] is None
    assert all(g["value_ok"] and g["grad_ok"] for g in torch["gates"])
    assert doc["value"] == pytest.approx(value, rel=1e-12)
    gates = doc["gates"]
    by_name = {g["name"]: g for g in gates if g["name"]}
    for key, want in grads.items():
        gate = gates[key] if isinstance(key, int) else by_name[key]
        np.testing.assert_allclose(gate["grad"], want, rtol=1e-12, atol=1e-15, err_msg=str(key))
        # torch's own .grad of the gate (None: nothing flowed back, which is 0)
        theirs = torch["gates"][gate["id"]]["grad"]
        np.testing.assert_allclose(0.0 if theirs is None else theirs, want, rtol=1e-12,
                                   atol=1e-15, err_msg=str(key))


def test_the_api_check_torch_on_a_def_returning_its_parameter() -> None:
    report = cb.Circuit("def k(a) = a; g = k(x); f = g * x").backward(x=2).check_torch()
    assert report.ok
    assert report.grads["g"] == 2.0 and report.grads["x"] == 4.0


def test_the_api_check_torch_on_a_def_whose_body_is_a_number() -> None:
    result = cb.Circuit("def k(a) = 5; f = k(x) * x").backward(x=2)
    report = result.check_torch()
    assert report.ok and report.disagree == []
    assert report.gates[1].grad == 2.0  # ∂f/∂k(x) = x
    assert report.grads["x"] == 5.0


def test_requires_grad_through_a_def_that_leaves_a_parameter_out() -> None:
    # g = 3x does not use y: autograd never reaches y, its .grad stays None; x.grad = 6x
    c = cb.Circuit("def k(a, b) = a * 3; g = k(x, y); f = g * x")
    report = c.backward(x=2, y=3).autograd(requires_grad=["x", "y"])
    assert report.ok
    assert report.grads["x"] == 12.0 and report.grads["y"] is None


def test_requires_grad_through_a_def_whose_body_is_a_number() -> None:
    # g = 5 requires no grad in torch (its call has an input, its body uses none): x.grad = g
    report = cb.Circuit("def k(a) = 5; g = k(x); f = g * x").backward(x=2).autograd(
        requires_grad=["x"])
    assert report.ok
    assert report.grads["x"] == 5.0 and report.grads["g"] is None
    g = next(n for n in report.run.behaviour.nodes if n.node == 1)
    assert g.requires_grad is False and g.is_leaf is True and g.why == "does not require grad"
