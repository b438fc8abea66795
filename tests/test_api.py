"""The Python API (issue 10): the documented example, and that the CLI is this API plus printing.

Numbers are checked against closed forms; the CLI's output against the API's own objects.
"""

from __future__ import annotations

import io
import json
import math

import pytest
from rich.console import Console

import circuit_backprop as cb
from tests.conftest import CIRCUITS, _invoke, parse_json


def sigmoid(t: float) -> float:
    return 1.0 / (1.0 + math.exp(-t))


@pytest.fixture
def staged() -> cb.Result:
    return cb.Circuit("q = x + 2*y; f = q*z").backward(x=3, y=-4, z=19)


def test_the_documented_example(staged):
    assert staged.value == -95.0
    assert (staged.grad["x"], staged.grad["q"]) == (19.0, 19.0)
    # every input and every named gate: ∂f/∂y = 2z, ∂f/∂z = x + 2y, ∂f/∂f = 1
    assert staged.grad == {"x": 19.0, "y": 38.0, "z": -5.0, "q": 19.0, "f": 1.0}
    assert staged.values == {"x": 3.0, "y": -4.0, "z": 19.0, "q": -5.0, "f": -95.0}
    assert cb.Circuit("q = x + 2*y; f = q*z").eval(x=3, y=-4, z=19).value == -95.0


def test_defaults_apply_and_given_values_override():
    c = cb.Circuit.load(CIRCUITS / "neuron.circ")  # w0=2, x0=-1, w1=-3, x1=-2, w2=-3
    assert c.inputs == {"w0": 2.0, "x0": -1.0, "w1": -3.0, "x1": -2.0, "w2": -3.0}
    r = c.backward()
    f = sigmoid(2 * -1 + -3 * -2 + -3)
    assert r.value == pytest.approx(f, rel=1e-15)
    assert r.grad["x0"] == pytest.approx(2 * f * (1 - f), rel=1e-14)  # w0·σ'(t)
    assert r.grad["w1"] == pytest.approx(-2 * f * (1 - f), rel=1e-14)  # x1·σ'(t)
    r2 = c.backward(w2=0.5)
    assert r2.value == pytest.approx(sigmoid(2 * -1 + -3 * -2 + 0.5), rel=1e-15)
    staged = cb.Circuit.load(CIRCUITS / "staged.circ")
    assert staged.backward(x=1).value == (1 + 2 * -4) * 19


def test_values_may_come_as_a_dict_for_names_python_cannot_take():
    c = cb.Circuit("f = lambda * 2 + x")
    assert c.backward({"lambda": 3}, x=1).value == 7.0


def test_gates_are_one_record_per_node_matching_the_json(staged):
    doc = staged.to_json()
    assert len(staged.gates) == len(doc["gates"]) == 7
    for gate, entry in zip(staged.gates, doc["gates"], strict=True):
        assert gate.id == entry["id"] and gate.name == entry["name"] and gate.op == entry["op"]
        assert list(gate.inputs) == entry["inputs"]
        assert gate.value == entry["value"] and gate.grad == entry["grad"]
        assert list(gate.local) == entry["local"]
        assert list(gate.downstream) == entry["downstream"]
        assert (gate.source, gate.line, gate.column) == (
            entry["source"], entry["line"], entry["column"])
    f = staged.gates[-1]
    assert (f.label, f.op, f.input_labels, f.local, f.downstream) == (
        "f", "mul", ("q", "z"), (19.0, -5.0), (19.0, -5.0))


def test_to_json_is_exactly_what_the_cli_prints():
    cli = _invoke(["backward", CIRCUITS / "staged.circ", "--json"])
    assert cli.exit_code == 0
    assert parse_json(cli.stdout) == cb.Circuit.load(CIRCUITS / "staged.circ").backward().to_json()
    cli = _invoke(["eval", CIRCUITS / "fork.circ", "--json"])
    assert parse_json(cli.stdout) == cb.Circuit.load(CIRCUITS / "fork.circ").eval().to_json()


def test_check_torch_gives_the_cli_verdicts_as_an_object(staged):
    report = staged.check_torch()
    assert report.ok and report.disagree == [] and report.max_rel_error == 0.0
    assert report.version.startswith("2.13.0")
    assert report.grads == {"x": 19.0, "y": 38.0, "z": -5.0, "q": 19.0, "f": 1.0}
    cli = _invoke(["backward", "q = x + 2*y; f = q*z", "--x", "3", "--y", "-4", "--z", "19",
                   "--check-torch", "--json"])
    assert parse_json(cli.stdout)["torch"] == report.to_json()["torch"]


def test_autograd_without_resetting_grads_accumulates(staged):
    twice = staged.autograd(passes=2)
    assert twice.ok
    assert (twice.grads["x"], twice.grads["y"], twice.grads["z"]) == (38.0, 76.0, -10.0)
    reset = staged.autograd(passes=2, zero_grad=True)
    assert (reset.grads["x"], reset.grads["y"], reset.grads["z"]) == (19.0, 38.0, -5.0)
    on_q = staged.autograd(requires_grad=["q"])
    assert on_q.grads == {"x": None, "y": None, "z": None, "q": 19.0, "f": None}


def test_check_numeric(staged):
    report = staged.check_numeric()
    assert report.ok
    for name, expected in staged.grad.items():
        assert report.numeric[name] == pytest.approx(expected, rel=1e-6)
    wrong = cb.Circuit("f = x * x").eval(x=3).check_numeric()  # eval: backward is run for it
    assert wrong.numeric["x"] == pytest.approx(6.0, rel=1e-8)


def test_nothing_is_printed_as_a_side_effect(capsys):
    c = cb.Circuit.load(CIRCUITS / "staged_sigmoid.circ")
    r = c.backward()
    r.check_torch()
    r.check_numeric()
    assert len(r.gates) == len(c)
    r.to_json()
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def _plain(renderable, width: int = 140) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None, highlight=False,
                      emoji=False)
    console.print(renderable)
    return console.file.getvalue()


def test_rich_shows_the_same_tables_as_the_cli(staged):
    cli = _invoke(["backward", "q = x + 2*y; f = q*z", "--x", "3", "--y", "-4", "--z", "19"])
    assert _plain(staged) == cli.stdout
    report = staged.check_torch()
    cli = _invoke(["backward", "q = x + 2*y; f = q*z", "--x", "3", "--y", "-4", "--z", "19",
                   "--check-torch"])
    assert _plain(report) == cli.stdout


def test_jupyter_display_is_html_of_the_tables(staged):
    html = staged._repr_html_()
    assert html.lstrip().startswith("<!DOCTYPE html>") or "<pre" in html
    for text in ("Forward pass", "Backward pass", "Gradients of f", "-95", "38"):
        assert text in html
    assert "torch" in staged.check_torch()._repr_html_()
    assert "numeric" in staged.check_numeric()._repr_html_()


def test_draw_is_an_svg_object():
    drawing = cb.Circuit("q = x + 2*y; f = q*z").draw(x=3, y=-4, z=19)
    svg = drawing._repr_svg_()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert ">-95<" in svg.replace(" ", "") or "-95" in svg
    assert "∂f/∂x = 19" in _plain(drawing)


def test_steps_walk_through_both_passes(staged):
    text = str(staged.steps())
    assert "q = x + 2*y = 3 + 2·(-4) = -5" in text
    assert "sends 19 × 2 = 38 to y" in text


def test_source_errors_are_exceptions_with_line_column_and_caret():
    with pytest.raises(cb.SourceError) as info:
        cb.Circuit("q = x + 2*y\nf = q *")
    err = info.value
    assert (err.line, err.column) == (2, 8)
    lines = str(err).splitlines()
    assert lines[0].startswith("syntax error")
    assert lines[2:4] == ["  2 | f = q *", "    |        ^"]
    cli = _invoke(["eval", "q = x + 2*y\nf = q *", "--x", "1", "--y", "2"])
    assert cli.exit_code == 2 and cli.stderr == "error: " + str(err) + "\n"


def test_eval_errors_name_the_gate_its_source_and_inputs():
    with pytest.raises(cb.EvalError) as info:
        cb.Circuit("d = x - y; f = log(d)").backward(x=1, y=3)
    err = info.value
    assert err.gate == "f" and err.source == "log(d)" and err.inputs == [("d", -2.0)]
    assert err.exit_code == 1
    doc = err.to_json()["error"]
    assert (doc["kind"], doc["line"], doc["column"]) == ("math", 1, 16)


def test_usage_errors_for_inputs():
    c = cb.Circuit("f = x * y")
    with pytest.raises(cb.UsageError, match="missing value for input 'y'"):
        c.backward(x=1)
    with pytest.raises(cb.UsageError, match="unknown input 'xx'") as info:
        c.backward(x=1, y=2, xx=3)
    assert "xx: did you mean x?" in str(info.value)
    with pytest.raises(cb.UsageError, match="finite"):
        c.backward(x=math.inf, y=1)
    with pytest.raises(cb.UsageError, match="no gradients after eval"):
        _ = c.eval(x=1, y=2).grad
    assert issubclass(cb.UsageError, cb.CircuitError)


def test_a_graph_built_in_python_needs_no_source_text():
    from circuit_backprop.core.graph import Graph

    g = Graph("")
    x = g.add_node("input", (), 0, 0)
    y = g.add_node("input", (), 0, 0)
    g.names[x], g.names[y] = "x", "y"
    g.inputs.update(x=x, y=y)
    m = g.add_node("mul", (x, y), 0, 0)
    g.output = g.add_node("sin", (m,), 0, 0)
    g.names[g.output] = "f"
    r = cb.Circuit(g).backward(x=2, y=3)
    assert r.value == math.sin(6)
    assert r.grad["x"] == pytest.approx(3 * math.cos(6), rel=1e-15)
    assert r.grad["y"] == pytest.approx(2 * math.cos(6), rel=1e-15)


def test_the_json_error_object_has_the_same_exit_code_as_without_json():
    cases = [
        (["eval", "f = x +", "--x", "1"], "syntax", 2),
        (["eval", "f = x", "--x", "1", "--y", "2"], "usage", 2),
        (["backward", "f = log(x)", "--x", "-1"], "math", 1),
    ]
    for args, kind, code in cases:
        plain = _invoke(args)
        with_json = _invoke([*args, "--json"])
        assert plain.exit_code == with_json.exit_code == code
        doc = json.loads(with_json.stdout)
        assert doc["schema"] == 1 and doc["error"]["kind"] == kind
        assert doc["error"]["message"] in plain.stderr
        assert plain.stdout == ""


def test_dash_h_is_help_everywhere():
    for command in ("eval", "backward", "draw", "torch", "plot"):
        out = _invoke([command, "-h"])
        assert out.exit_code == 0 and "Usage:" in out.stdout
    assert _invoke(["-h"]).exit_code == 0
