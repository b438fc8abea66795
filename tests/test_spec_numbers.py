"""Spec: forward values and gradients (numbers computed by hand / with math)."""

from __future__ import annotations

import math

import pytest

REL = 1e-12


def approx(v):
    return pytest.approx(v, rel=REL, abs=1e-12)


def gate_named(data, name):
    found = [g for g in data["gates"] if g.get("name") == name]
    assert len(found) == 1, f"expected exactly one gate named {name!r}, got {found}"
    return found[0]


# ---------------------------------------------------------------- seed examples


def test_eval_seed_value(run_json):
    data = run_json("eval", "(x + 2*y)*z", "--x", "3", "--y", "-4", "--z", "19", "--json")
    assert data["value"] == -95.0
    assert data["inputs"] == {"x": 3.0, "y": -4.0, "z": 19.0}


def test_backward_seed(run_json):
    data = run_json(
        "backward", "q = x + 2*y; f = q*z", "--x", "3", "--y", "-4", "--z", "19", "--json"
    )
    assert data["output"] == "f"
    assert data["value"] == -95.0
    assert data["gradients"] == {"x": 19.0, "y": 38.0, "z": -5.0}
    q = gate_named(data, "q")
    assert q["value"] == -5.0
    assert q["grad"] == 19.0
    f = gate_named(data, "f")
    assert f["value"] == -95.0
    assert f["grad"] == 1.0


def test_backward_cs231n(run_json):
    data = run_json("backward", "(x+y)*z", "--x", "-2", "--y", "5", "--z", "-4", "--json")
    assert data["value"] == -12.0
    assert data["gradients"] == {"x": -4.0, "y": -4.0, "z": 3.0}


# ---------------------------------------------------------------- precedence


@pytest.mark.parametrize(
    "program, args, expected",
    [
        ("2^3^2", [], 512.0),
        ("2**3**2", [], 512.0),
        ("2^3*2", [], 16.0),
        ("-x^2", ["--x", "3"], -9.0),
        ("-2^2", [], -4.0),
        ("2^-1", [], 0.5),
        ("2^-x", ["--x", "2"], 0.25),
        ("10-3-2", [], 5.0),
        ("8/4/2", [], 1.0),
        ("2+3*4", [], 14.0),
        ("(2+3)*4", [], 20.0),
        ("2*-3", [], -6.0),
        ("1 - -x", ["--x", "2"], 3.0),
        ("+x*2", ["--x", "3"], 6.0),
        ("x - y - z", ["--x", "10", "--y", "3", "--z", "2"], 5.0),
        ("x / y / z", ["--x", "8", "--y", "4", "--z", "2"], 1.0),
        ("x ^ y ^ z", ["--x", "2", "--y", "3", "--z", "2"], 512.0),
        ("-x ** 2", ["--x", "3"], -9.0),
        ("(-x) ^ 2", ["--x", "3"], 9.0),
    ],
)
def test_precedence_and_associativity(run_json, program, args, expected):
    data = run_json("eval", program, *args, "--json")
    assert data["value"] == approx(expected)


def test_number_literals(run_json):
    data = run_json("eval", "x*.5 + 1e-3 + 2E2 + 3.5 + 3", "--x", "2", "--json")
    assert data["value"] == approx(1.0 + 0.001 + 200.0 + 3.5 + 3.0)


# ---------------------------------------------------------------- unary functions

S08 = 1.0 / (1.0 + math.exp(-0.8))
SM08 = 1.0 / (1.0 + math.exp(0.8))


@pytest.mark.parametrize(
    "program, x, value, grad",
    [
        ("exp(x)", 0.7, math.exp(0.7), math.exp(0.7)),
        ("log(x)", 2.5, math.log(2.5), 0.4),
        ("sqrt(x)", 6.25, 2.5, 0.2),
        ("sin(x)", 0.3, math.sin(0.3), math.cos(0.3)),
        ("cos(x)", 0.3, math.cos(0.3), -math.sin(0.3)),
        ("tan(x)", 0.4, math.tan(0.4), 1.0 / math.cos(0.4) ** 2),
        ("tanh(x)", 0.6, math.tanh(0.6), 1.0 - math.tanh(0.6) ** 2),
        ("sigmoid(x)", 0.8, S08, S08 * (1.0 - S08)),
        ("sigmoid(x)", -0.8, SM08, SM08 * (1.0 - SM08)),
        ("relu(x)", 1.5, 1.5, 1.0),
        ("relu(x)", -1.5, 0.0, 0.0),
        ("relu(x)", 0.0, 0.0, 0.0),
        ("abs(x)", -2.5, 2.5, -1.0),
        ("abs(x)", 2.5, 2.5, 1.0),
        ("abs(x)", 0.0, 0.0, 0.0),
        ("pow(x, 3)", 1.5, 3.375, 6.75),
        ("x^3", -2.0, -8.0, 12.0),
        ("x**2", 3.0, 9.0, 6.0),
        ("x*x", 3.0, 9.0, 6.0),
        ("-x", 4.0, -4.0, -1.0),
        ("x^0.5", 4.0, 2.0, 0.25),
        ("exp(-x)", 1.0, math.exp(-1.0), -math.exp(-1.0)),
        ("sin(x)^2 + cos(x)^2", 0.9, 1.0, 0.0),
        ("log(exp(x))", 1.7, 1.7, 1.0),
        ("pi*x", 2.0, 2.0 * math.pi, math.pi),
        ("e^x", 1.5, math.exp(1.5), math.exp(1.5)),
    ],
)
def test_unary_value_and_gradient(run_json, program, x, value, grad):
    data = run_json("backward", program, f"--x={x!r}", "--json")
    assert data["value"] == approx(value)
    assert data["gradients"]["x"] == approx(grad)


@pytest.mark.parametrize(
    "program, x, y, value, gx, gy",
    [
        ("max(x, y)", 3.0, 1.0, 3.0, 1.0, 0.0),
        ("max(x, y)", 1.0, 3.0, 3.0, 0.0, 1.0),
        ("max(x, y)", 2.0, 2.0, 2.0, 0.5, 0.5),
        ("min(x, y)", 3.0, 1.0, 1.0, 0.0, 1.0),
        ("min(x, y)", 2.0, 2.0, 2.0, 0.5, 0.5),
        ("pow(x, y)", 2.0, 3.0, 8.0, 12.0, 8.0 * math.log(2.0)),
        (
            "x^y",
            1.5,
            2.5,
            1.5**2.5,
            2.5 * 1.5**1.5,
            1.5**2.5 * math.log(1.5),
        ),
        ("x/y", 3.0, -4.0, -0.75, -0.25, -0.1875),
        ("x - y", 3.0, -4.0, 7.0, 1.0, -1.0),
        ("x + y", 3.0, -4.0, -1.0, 1.0, 1.0),
        ("x * y", 3.0, -4.0, -12.0, -4.0, 3.0),
    ],
)
def test_binary_value_and_gradient(run_json, program, x, y, value, gx, gy):
    data = run_json("backward", program, f"--x={x!r}", f"--y={y!r}", "--json")
    assert data["value"] == approx(value)
    assert data["gradients"]["x"] == approx(gx)
    assert data["gradients"]["y"] == approx(gy)


# ---------------------------------------------------------------- fan-out


def test_fanout_square(run_json):
    data = run_json("backward", "f = x*x", "--x", "3", "--json")
    assert data["value"] == 9.0
    assert data["gradients"] == {"x": 6.0}
    # x is one node, not two
    assert sum(1 for g in data["gates"] if g["op"] == "input") == 1


def test_fanout_two_paths(run_json):
    # f = xy(x+y); df/dx = 2xy + y^2; df/dy = x^2 + 2xy
    x, y = 3.0, -4.0
    data = run_json("backward", "a = x*y; b = x+y; f = a*b", "--x", "3", "--y", "-4", "--json")
    assert data["value"] == x * y * (x + y)  # 12
    assert data["gradients"]["x"] == 2 * x * y + y * y  # -8
    assert data["gradients"]["y"] == x * x + 2 * x * y  # -15
    assert gate_named(data, "a")["grad"] == x + y  # -1
    assert gate_named(data, "b")["grad"] == x * y  # -12


def test_fanout_through_named_gate(run_json):
    # h = x + 1 used three times: f = h*h*h -> 3h^2
    data = run_json("backward", "h = x + 1\nf = h*h*h", "--x", "1", "--json")
    assert data["value"] == 8.0
    assert data["gradients"]["x"] == 12.0
    assert gate_named(data, "h")["grad"] == 12.0


# ---------------------------------------------------------------- constants


def test_constant_e(run_json):
    data = run_json("eval", "e*2", "--json")
    assert data["value"] == approx(2 * math.e)


def test_constant_pi(run_json):
    data = run_json("eval", "sin(pi/2) + pi", "--json")
    assert data["value"] == approx(1.0 + math.pi)


def test_constant_e_shadowed_by_input(run_json):
    data = run_json("eval", "input e\nf = e*2", "--set", "e=2", "--json")
    assert data["value"] == 4.0


def test_constant_pi_shadowed_by_statement(run_json):
    data = run_json("backward", "pi = x + 1\nf = pi*2", "--x", "1", "--json")
    assert data["value"] == 4.0
    assert data["gradients"]["x"] == 2.0


def test_constant_is_not_an_input(run):
    # e is a constant unless declared: giving it a value is an unknown name
    out = run("eval", "e*x", "--x", "2", "--e", "3")
    assert out.exit_code == 2


# ---------------------------------------------------------------- pow corner cases


def test_constant_negative_base_square(run_json):
    data = run_json("eval", "(-2)^2", "--json")
    assert data["value"] == 4.0


def test_constant_negative_base_with_input(run_json):
    # constant-only wire: no gradient needed through the exponent
    data = run_json("backward", "(-2)^2 * x", "--x", "1.5", "--json")
    assert data["value"] == 6.0
    assert data["gradients"]["x"] == 4.0


def test_negative_base_input_exponent_eval_ok(run_json):
    data = run_json("eval", "(-2)^x", "--x", "2", "--json")
    assert data["value"] == 4.0


def test_negative_base_input_exponent_backward_fails(run):
    out = run("backward", "(-2)^x", "--x", "2")
    assert out.exit_code == 1
    assert "Traceback" not in out.stderr


def test_negative_input_base_input_exponent_backward_fails(run):
    out = run("backward", "x^y", "--x", "-2", "--y", "2")
    assert out.exit_code == 1


def test_negative_input_base_constant_exponent_backward_ok(run_json):
    data = run_json("backward", "x^2 + y", "--x", "-2", "--y", "2", "--json")
    assert data["value"] == 6.0
    assert data["gradients"] == {"x": -4.0, "y": 1.0}


def test_positive_base_input_exponent(run_json):
    data = run_json("backward", "2^x", "--x", "3", "--json")
    assert data["value"] == 8.0
    assert data["gradients"]["x"] == approx(8.0 * math.log(2.0))


def test_sqrt_zero_eval_ok(run_json):
    data = run_json("eval", "sqrt(x)", "--x", "0", "--json")
    assert data["value"] == 0.0


def test_sqrt_zero_backward_fails(run):
    out = run("backward", "sqrt(x)", "--x", "0")
    assert out.exit_code == 1


def test_float64_precision(run_json):
    # 0.1 + 0.2 in float64 is 0.30000000000000004, not 0.3 (float32 would differ more)
    data = run_json("eval", "x + y", "--x", "0.1", "--y", "0.2", "--json")
    assert data["value"] == 0.1 + 0.2
    data = run_json("eval", "x*y", "--x", "1e200", "--y", "1e100", "--json")
    assert data["value"] == 1e200 * 1e100
