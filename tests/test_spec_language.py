"""Spec: the circuit language (statements, names, inputs, outputs, reserved words)."""

from __future__ import annotations

import re

import pytest


def gate_named(data, name):
    found = [g for g in data["gates"] if g.get("name") == name]
    assert len(found) == 1, f"expected exactly one gate named {name!r}, got {found}"
    return found[0]


def has_number(text: str, n: int) -> bool:
    return re.search(rf"(?<![\d.]){n}(?![\d.])", text) is not None


# ---------------------------------------------------------------- statements


def test_semicolons_and_newlines_mix(run_json):
    data = run_json("backward", "a = x; b = a*2\nf = b + 1", "--x", "3", "--json")
    assert data["value"] == 7.0
    assert data["gradients"] == {"x": 2.0}
    assert data["output"] == "f"


def test_comments_blank_lines_tabs(run_json):
    program = (
        "# staged example\n\nq = x + 2*y   # the sum\n   \n\t# indented comment\nf\t=\tq * z\n\n"
    )
    data = run_json("backward", program, "--x", "3", "--y", "-4", "--z", "19", "--json")
    assert data["value"] == -95.0
    assert data["gradients"] == {"x": 19.0, "y": 38.0, "z": -5.0}


def test_crlf_file(run_json, tmp_path):
    path = tmp_path / "crlf.circ"
    path.write_bytes(b"# crlf\r\nq = x + 2*y\r\n\r\nf = q*z  # end\r\n")
    data = run_json("backward", str(path), "--x", "3", "--y", "-4", "--z", "19", "--json")
    assert data["value"] == -95.0
    assert data["gradients"] == {"x": 19.0, "y": 38.0, "z": -5.0}
    assert gate_named(data, "q")["grad"] == 19.0


def test_identifier_names(run_json):
    data = run_json("backward", "x_1 * y2 + 1", "--x_1", "2", "--y2", "3", "--json")
    assert data["value"] == 7.0
    assert data["gradients"] == {"x_1": 3.0, "y2": 2.0}


def test_reassignment_is_error_naming_both_lines(run):
    program = "p = x\nr = p*2\nu = x + 2\n# comment\n\nu = y\nf = u*r"
    out = run("eval", program, "--x", "1", "--y", "2")
    assert out.exit_code == 2
    assert "u" in out.stderr
    assert has_number(out.stderr, 3), out.stderr
    assert has_number(out.stderr, 6), out.stderr
    assert "Traceback" not in out.stderr


def test_use_before_assignment_is_error(run):
    out = run("eval", "f = a*2\na = x + 1", "--x", "1")
    assert out.exit_code == 2
    assert "Traceback" not in out.stderr


def test_use_before_assignment_same_statement(run):
    out = run("eval", "a = a + x", "--x", "1")
    assert out.exit_code == 2


@pytest.mark.parametrize("program", ["", "   ", "# only\n# comments\n", "\n\n\n"])
def test_empty_program_is_error(run, program):
    out = run("eval", program)
    assert out.exit_code == 2
    assert "Traceback" not in out.stderr


def test_empty_file_is_error(run, tmp_path):
    path = tmp_path / "empty.circ"
    path.write_text("")
    out = run("backward", str(path))
    assert out.exit_code == 2


@pytest.mark.parametrize(
    "program",
    [
        "input = x + 1",
        "output = x + 1",
        "def = x + 1",
        "f = x + input",
        "f = output * x",
        "f = def * x",
        "def + x",
    ],
)
def test_reserved_words(run, program):
    out = run("eval", program, "--x", "1")
    assert out.exit_code == 2
    assert "Traceback" not in out.stderr


# ---------------------------------------------------------------- inputs


def test_input_declarations_with_defaults(run_json):
    program = "input x\ninput y = -4\nf = x*y"
    data = run_json("backward", program, "--x", "3", "--json")
    assert data["value"] == -12.0
    assert data["inputs"] == {"x": 3.0, "y": -4.0}
    assert data["gradients"] == {"x": -4.0, "y": 3.0}


def test_cli_value_overrides_default(run_json):
    program = "input x\ninput y = -4\nf = x*y"
    data = run_json("eval", program, "--x", "3", "--y", "2", "--json")
    assert data["value"] == 6.0
    assert data["inputs"]["y"] == 2.0


def test_defaults_only_need_no_cli_values(run_json):
    data = run_json("eval", "input a = 2.5\ninput b = -3e-1\na*b", "--json")
    assert data["value"] == pytest.approx(-0.75, rel=1e-12)


def test_declared_input_with_default_used_later(run_json):
    data = run_json(
        "backward", "input x = 3; input y = -4; input z = 19; q = x + 2*y; f = q*z", "--json"
    )
    assert data["value"] == -95.0
    assert data["gradients"] == {"x": 19.0, "y": 38.0, "z": -5.0}


def test_unused_declared_input_has_zero_gradient(run_json):
    data = run_json("backward", "input w = 1\nf = x*2", "--x", "3", "--json")
    assert data["value"] == 6.0
    assert data["gradients"]["x"] == 2.0
    assert data["gradients"]["w"] == 0.0


def test_input_missing_value_without_default(run):
    out = run("eval", "input x\ninput y = 1\nf = x + y")
    assert out.exit_code == 2
    assert "x" in out.stderr


# ---------------------------------------------------------------- outputs


def test_output_statement_selects_output(run_json):
    program = "a = x*2\nb = x*3\noutput a"
    data = run_json("backward", program, "--x", "5", "--json")
    assert data["output"] == "a"
    assert data["value"] == 10.0
    assert data["gradients"] == {"x": 2.0}
    b = gate_named(data, "b")
    assert b["value"] == 15.0  # still evaluated
    assert b["grad"] == 0.0


def test_default_output_is_last_statement(run_json):
    data = run_json("eval", "a = x*2\nb = x*3", "--x", "5", "--json")
    assert data["output"] == "b"
    assert data["value"] == 15.0


def test_bare_expression_output_named_f(run_json):
    data = run_json("eval", "a = x*2\na + 1", "--x", "5", "--json")
    assert data["output"] == "f"
    assert data["value"] == 11.0


def test_bare_expression_output_name_when_f_taken(run_json):
    data = run_json("backward", "f = x + 1\nf * 2", "--x", "1", "--json")
    assert data["value"] == 4.0
    assert data["gradients"] == {"x": 2.0}
    assert isinstance(data["output"], str) and data["output"] != "f"
    assert gate_named(data, "f")["value"] == 2.0
    assert gate_named(data, "f")["grad"] == 2.0


def test_bare_expression_output_name_when_f_is_input(run_json):
    data = run_json("backward", "f * 2", "--f", "3", "--json")
    assert data["value"] == 6.0
    assert data["gradients"] == {"f": 2.0}
    assert isinstance(data["output"], str) and data["output"] != "f"


def test_identity_gate(run_json):
    data = run_json("backward", "q = x\nf = q*2", "--x", "5", "--json")
    q = gate_named(data, "q")
    assert q["op"] == "id"
    assert q["value"] == 5.0
    assert q["grad"] == 2.0
    assert data["gradients"] == {"x": 2.0}
    x = gate_named(data, "x")
    assert x["op"] == "input"
    assert q["inputs"] == [x["id"]]


def test_unused_gates_evaluated_with_zero_grad(run_json):
    data = run_json("backward", "b = x*3\nc = b + 1\nf = x + 1", "--x", "2", "--json")
    assert data["value"] == 3.0
    assert data["gradients"] == {"x": 1.0}
    assert gate_named(data, "b")["value"] == 6.0
    assert gate_named(data, "b")["grad"] == 0.0
    assert gate_named(data, "c")["value"] == 7.0
    assert gate_named(data, "c")["grad"] == 0.0


def test_name_used_twice_is_one_node(run_json):
    data = run_json("backward", "a = x + y\nf = a*a + a", "--x", "1", "--y", "2", "--json")
    # a = 3, f = 9 + 3 = 12, df/da = 2a + 1 = 7
    assert data["value"] == 12.0
    assert gate_named(data, "a")["grad"] == 7.0
    assert data["gradients"] == {"x": 7.0, "y": 7.0}
    assert sum(1 for g in data["gates"] if g.get("name") == "x") == 1


def test_names_containing_reserved_words_are_fine(run_json):
    # only the exact words input/output/def are reserved
    program = "inputs = x*2\noutputs = inputs + 1\ndefault = outputs*3\nundef = default"
    data = run_json("backward", program, "--x", "1", "--json")
    assert data["output"] == "undef"
    assert data["value"] == 9.0
    assert data["gradients"] == {"x": 6.0}
