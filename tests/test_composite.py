"""Composite gates (def) and --expand: one gate or many, the same gradient."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from circuit_backprop.core import engine
from circuit_backprop.lang.expand import expand
from circuit_backprop.lang.parse import parse

PROGRAM = """
def sig(a) = 1 / (1 + exp(-a))
def lin(p, q, r) = p*q + r
def swish(a) = a * sig(a)
def soft(a, b) = log(exp(a) + exp(b))
h = sig(lin(w, x, b))
g = swish(h * v) + sigmoid(x - v)
f = soft(g, h) * max(w, 0.5) + tanh(v)
"""

finite = st.floats(-5, 5, allow_nan=False)


def gradients(graph, inputs):
    trace = engine.run(graph, inputs)
    return trace.output_value, {n: trace.grads[i] for n, i in graph.inputs.items()}


@settings(max_examples=200, deadline=None)
@given(w=finite, x=finite, b=finite, v=finite)
def test_composite_and_expanded_agree(w, x, b, v):
    inputs = {"w": w, "x": x, "b": b, "v": v}
    graph = parse(PROGRAM)
    value, grads = gradients(graph, inputs)
    value_x, grads_x = gradients(expand(graph), inputs)
    assert math.isclose(value, value_x, rel_tol=1e-12, abs_tol=1e-15)
    for name in grads:
        assert math.isclose(grads[name], grads_x[name], rel_tol=1e-9, abs_tol=1e-15), name


def test_a_call_is_one_gate_and_expand_inlines_it():
    graph = parse(PROGRAM)
    assert {"sig", "lin", "swish", "soft"} <= set(graph.ops)
    flat = expand(graph)
    assert not {"sig", "lin", "swish", "soft", "sigmoid"} & set(flat.ops)
    assert len(flat) > len(graph)
    partial = expand(graph, ["swish"])
    assert "swish" not in partial.ops and "sig" in partial.ops and "sigmoid" in partial.ops


def gate_named(data, name):
    return next(g for g in data["gates"] if g["name"] == name)


def test_neuron_expanded_reproduces_cs231n(run_json, circuits_dir):
    data = run_json("backward", circuits_dir / "neuron.circ", "--expand", "--json")
    ops = [g["op"] for g in data["gates"]]
    tail = [g for g in data["gates"] if g["op"] in ("neg", "exp", "add", "div")][-4:]
    assert [g["op"] for g in tail] == ["neg", "exp", "add", "div"]
    assert "sigmoid" not in ops
    neg, ex, plus1, recip = tail
    assert round(neg["value"], 2) == -1.0
    assert round(ex["value"], 2) == 0.37
    assert round(plus1["value"], 2) == 1.37
    assert round(recip["value"], 2) == 0.73 and recip["name"] == "f"
    # cs231n's backward numbers on the same wires
    assert round(plus1["grad"], 2) == -0.53
    assert round(ex["grad"], 2) == -0.53
    assert round(neg["grad"], 2) == -0.20
    grads = {k: round(v, 2) for k, v in data["gradients"].items()}
    assert grads == {"w0": -0.2, "x0": 0.39, "w1": -0.39, "x1": -0.59, "w2": 0.2}


def test_builtin_sigmoid_is_one_gate_with_sigma_one_minus_sigma(run_json, circuits_dir):
    data = run_json("backward", circuits_dir / "neuron.circ", "--json")
    f = gate_named(data, "f")
    assert f["op"] == "sigmoid"
    s = f["value"]
    assert f["local"] == [pytest.approx(s * (1 - s))]
    expanded = run_json("backward", circuits_dir / "neuron.circ", "--expand=sigmoid", "--json")
    for name, g in data["gradients"].items():
        assert expanded["gradients"][name] == pytest.approx(g, rel=1e-12)


def test_composite_table_shows_the_definition(run):
    out = run("backward", "def sig(a) = 1 / (1 + exp(-a)); f = sig(w*x + b)",
              "--w", "2", "--x", "-1", "--b", "-3")
    assert out.exit_code == 0, out.stderr
    assert "∂/∂a of 1 / (1 + exp(-a))" in out.stdout


def test_example_composite_circ_runs_as_is(run_json, circuits_dir):
    data = run_json("backward", circuits_dir / "composite.circ", "--json")
    flat = run_json("backward", circuits_dir / "composite.circ", "--expand", "--json")
    assert len(flat["gates"]) > len(data["gates"])
    for name, g in data["gradients"].items():
        assert flat["gradients"][name] == pytest.approx(g, rel=1e-12, abs=1e-15)


def test_def_may_be_used_before_it_is_defined_and_use_constants(run_json):
    data = run_json("backward", "f = circle(r)\ndef circle(a) = pi * a^2", "--r", "2", "--json")
    assert data["value"] == pytest.approx(4 * math.pi)
    assert data["gradients"]["r"] == pytest.approx(4 * math.pi)


def test_expand_before_source_and_unknown_name(run):
    ok = run("eval", "--expand", "def d(a) = 2*a; f = d(x)", "--x", "3")
    assert ok.exit_code == 0, ok.stderr
    bad = run("eval", "def d(a) = 2*a; f = d(x)", "--x", "3", "--expand=nope")
    assert bad.exit_code == 2
    assert "nope" in bad.stderr and "d" in bad.stderr


def test_error_inside_a_body_names_the_def(run):
    out = run("eval", "def l(a) = log(a); f = l(x)", "--x", "-1")
    assert out.exit_code == 1
    assert "body of l" in out.stderr and "log" in out.stderr


@pytest.mark.parametrize(
    ("program", "message", "column"),
    [
        ("def s(a) = s(a)\nf = s(x)", "calls itself", 12),
        ("def s(a) = t(a)\ndef t(a) = s(a)\nf = s(x)", "cycle: s → t → s", 12),
        ("def s(a) = a\nf = s(x, y)", "takes 1 argument, got 2", 5),
        ("def s(a, a) = a\nf = s(x, x)", "parameter 'a' is used twice", 10),
        ("def exp(a) = a\nf = exp(x)", "shadow the built-in", 5),
        ("def sig(a) = 1 / (1 + exp(-x))\nf = sig(y)", "not a parameter of sig", 28),
        ("def s(a) = a\ndef s(b) = b\nf = s(x)", "defined twice", 5),
        ("f = nothere(x)", "unknown function 'nothere'", 5),
    ],
)
def test_def_errors_point_at_line_and_column(run, program, message, column):
    out = run("eval", program, "--x", "1", "--y", "1")
    assert out.exit_code == 2, out.output
    assert message in out.stderr
    assert f", column {column}" in out.stderr or f":{column}" in out.stderr
    assert "^" in out.stderr and "Traceback" not in out.output


def test_deeply_nested_defs_are_refused_not_a_crash(run):
    lines = ["def d0(a) = a + 1"] + [f"def d{k}(a) = d{k-1}(a) * 1" for k in range(1, 60)]
    out = run("eval", "\n".join(lines + ["f = d59(x)"]), "--x", "1")
    assert out.exit_code == 2 and "levels deep" in out.stderr
