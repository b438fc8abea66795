"""Spec: command-line interface (input values, options, help/version, exit codes)."""

from __future__ import annotations

import subprocess
import sys

import pytest

SEED = "q = x + 2*y; f = q*z"


# ---------------------------------------------------------------- input value forms


@pytest.mark.parametrize(
    "value_args",
    [
        ["--x", "3", "--y", "-4", "--z", "19"],
        ["--x=3", "--y=-4", "--z=19"],
        ["--set", "x=3", "--set", "y=-4", "--set", "z=19"],
        ["--x", "3.0", "--set", "y=-4e0", "--z=1.9e1"],
        ["--x", "+3", "--y", "-4.", "--z", "19"],
    ],
)
def test_input_value_forms(run_json, value_args):
    data = run_json("backward", SEED, *value_args, "--json")
    assert data["value"] == -95.0
    assert data["inputs"] == {"x": 3.0, "y": -4.0, "z": 19.0}
    assert data["gradients"] == {"x": 19.0, "y": 38.0, "z": -5.0}


def test_negative_small_value_with_equals(run_json):
    data = run_json("backward", "x*y", "--x", "2", "--y=-1e-3", "--json")
    assert data["value"] == -0.002
    assert data["gradients"] == {"x": -0.001, "y": 2.0}


def test_program_starting_with_dash(run_json):
    data = run_json("eval", "-x^2", "--x", "3", "--json")
    assert data["value"] == -9.0


def test_program_starting_with_dash_table(run):
    out = run("eval", "-x^2", "--x", "3")
    assert out.exit_code == 0, out.stderr
    assert "-9" in out.stdout


def test_program_starting_with_dash_subprocess(proc, parse):
    out = proc("backward", "-x^2 + y", "--x", "3", "--y", "-1", "--json")
    assert out.exit_code == 0, out.stderr
    data = parse(out.stdout)
    assert data["value"] == -10.0
    assert data["gradients"] == {"x": -6.0, "y": 1.0}


# ---------------------------------------------------------------- bad input values (exit 2)


@pytest.mark.parametrize(
    "value_args",
    [
        ["--x", "nan"],
        ["--x", "NaN"],
        ["--x", "inf"],
        ["--x=-inf"],
        ["--x", "Infinity"],
        ["--set", "x=nan"],
        ["--x", "1e999"],
    ],
)
def test_non_finite_values_rejected(run, value_args):
    out = run("eval", "x*2", *value_args)
    assert out.exit_code == 2, (value_args, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    "value_args",
    [
        ["--x", "3", "--x", "4"],
        ["--x", "3", "--set", "x=3"],
        ["--set", "x=1", "--set", "x=2"],
        ["--x=1", "--x", "1"],
    ],
)
def test_name_given_twice_rejected(run, value_args):
    out = run("eval", "x*2", *value_args)
    assert out.exit_code == 2, (value_args, out.stdout, out.stderr)
    assert "x" in out.stderr


def test_unknown_name_lists_inputs(run):
    out = run("eval", "alpha*beta", "--alpha", "1", "--beta", "2", "--gamma", "3")
    assert out.exit_code == 2
    assert "gamma" in out.stderr
    assert "alpha" in out.stderr
    assert "beta" in out.stderr


def test_unknown_name_via_set(run):
    out = run("eval", "alpha*beta", "--alpha", "1", "--beta", "2", "--set", "gamma=3")
    assert out.exit_code == 2
    assert "gamma" in out.stderr


def test_value_for_gate_name_is_not_an_input(run):
    # q is a gate, not an input
    out = run("eval", SEED, "--x", "3", "--y", "-4", "--z", "19", "--q", "1")
    assert out.exit_code == 2


def test_missing_values_named(run):
    out = run("eval", "alpha*beta*gam", "--alpha", "1")
    assert out.exit_code == 2
    assert "beta" in out.stderr
    assert "gam" in out.stderr


def test_missing_values_subprocess(proc):
    out = proc("backward", "alpha*beta*gam + delta", "--beta", "1")
    assert out.exit_code == 2
    for name in ("alpha", "gam", "delta"):
        assert name in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    "value_args",
    [
        ["--x", "abc"],
        ["--x", "1..2"],
        ["--x", "3x"],
        ["--x="],
        ["--set", "x=abc"],
        ["--set", "x"],
        ["--set", "=3"],
    ],
)
def test_non_number_values_rejected(run, value_args):
    out = run("eval", "x*2", *value_args)
    assert out.exit_code == 2, (value_args, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr


def test_option_missing_value_at_end(run):
    out = run("eval", "x*2", "--x")
    assert out.exit_code == 2


# ---------------------------------------------------------------- unknown options


def test_unknown_option_suggests_json(run):
    out = run("eval", "x*2", "--x", "3", "--jsn")
    assert out.exit_code == 2
    assert "--json" in out.stderr, out.stderr


def test_unknown_option_before_source_does_not_swallow_it(run):
    out = run("eval", "--jsn", "x*2", "--x", "3")
    assert out.exit_code == 2
    assert "jsn" in out.stderr
    assert "--json" in out.stderr, out.stderr


def test_unknown_option_subprocess(proc):
    out = proc("backward", "--jsn", "x*2", "--x", "3")
    assert out.exit_code == 2
    assert "--json" in out.stderr
    assert "Traceback" not in out.stderr
    assert out.stdout.strip() == ""


def test_unknown_option_suggests_precision(run):
    out = run("eval", "x*2", "--x", "3", "--precison", "3")
    assert out.exit_code == 2
    assert "--precision" in out.stderr, out.stderr


# ---------------------------------------------------------------- output formats


def test_json_is_exactly_one_object_subprocess(proc, parse):
    for command in ("eval", "backward"):
        out = proc(command, SEED, "--x", "3", "--y", "-4", "--z", "19", "--json")
        assert out.exit_code == 0, out.stderr
        data = parse(out.stdout)  # json.loads rejects any extra text
        assert data["value"] == -95.0
        assert out.stdout.lstrip().startswith("{")


def test_table_output_contains_numbers(proc):
    out = proc("backward", SEED, "--x", "3", "--y", "-4", "--z", "19")
    assert out.exit_code == 0, out.stderr
    for number in ("-95", "38", "-5", "19"):
        assert number in out.stdout


@pytest.mark.parametrize(
    "precision, present, absent",
    [
        ("3", "0.333", "0.3333"),
        ("5", "0.33333", "0.333333"),
        ("8", "0.33333333", "0.333333333"),
    ],
)
def test_precision_significant_digits(run, precision, present, absent):
    out = run("backward", "x/3", "--x", "1", "--precision", precision)
    assert out.exit_code == 0, out.stderr
    assert present in out.stdout, out.stdout
    assert absent not in out.stdout, out.stdout


def test_precision_in_eval_table(run):
    out = run("eval", "x/3", "--x", "2", "--precision", "4")
    assert out.exit_code == 0, out.stderr
    assert "0.6667" in out.stdout
    assert "0.66667" not in out.stdout


def test_precision_does_not_change_json(run_json):
    data = run_json("eval", "x/3", "--x", "1", "--precision", "2", "--json")
    assert data["value"] == 1 / 3


# ---------------------------------------------------------------- help / version


def test_top_level_help_shows_examples(run):
    out = run("--help")
    assert out.exit_code == 0
    assert "eval" in out.stdout
    assert "backward" in out.stdout
    assert "example" in out.stdout.lower()
    assert "circuit eval" in out.stdout or "circuit backward" in out.stdout


@pytest.mark.parametrize("command", ["eval", "backward"])
def test_command_help(run, command):
    out = run(command, "--help")
    assert out.exit_code == 0
    assert "--json" in out.stdout
    assert "--precision" in out.stdout


def test_version(run):
    import circuit_backprop

    out = run("--version")
    assert out.exit_code == 0
    assert circuit_backprop.__version__ in out.stdout


def test_version_subprocess(proc):
    import circuit_backprop

    out = proc("--version")
    assert out.exit_code == 0
    assert circuit_backprop.__version__ in out.stdout


def test_python_dash_m(parse):
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "circuit_backprop",
            "eval",
            "(x+y)*z",
            "--x",
            "-2",
            "--y",
            "5",
            "--z",
            "-4",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    assert parse(p.stdout)["value"] == -12.0


def test_installed_command_seed(proc, parse):
    out = proc("backward", SEED, "--x", "3", "--y", "-4", "--z", "19", "--json")
    assert out.exit_code == 0, out.stderr
    data = parse(out.stdout)
    assert data["value"] == -95.0
    assert data["gradients"] == {"x": 19.0, "y": 38.0, "z": -5.0}
    assert "Traceback" not in out.stderr


def test_usage_error_exit_code_subprocess(proc):
    out = proc("eval", "x*2", "--x", "abc")
    assert out.exit_code == 2
    assert "abc" in out.stderr
    assert "Traceback" not in out.stderr
    assert out.stdout.strip() == ""


def test_no_command_is_usage_error_or_help(run):
    out = run()
    assert out.exit_code in (0, 2)


def test_unknown_flag_does_not_swallow_following_option(run):
    # --jsn must not take "--x" as its value; the error is about --jsn
    out = run("eval", "x*2", "--jsn", "--x", "3")
    assert out.exit_code == 2
    assert "--json" in out.stderr, out.stderr


def test_set_for_input_names_that_clash_with_options(run_json):
    data = run_json(
        "backward", "json*precision", "--set", "json=3", "--set", "precision=-2", "--json"
    )
    assert data["value"] == -6.0
    assert data["gradients"] == {"json": -2.0, "precision": 3.0}


def test_an_option_of_another_command_is_named_as_such(run):
    out = run("eval", "x*x", "--x", "1", "--passes", "2")
    assert out.exit_code == 2
    assert "--passes is not an option of `circuit eval`" in out.stderr
    assert "circuit backward" in out.stderr
    out = run("torch", "x*x", "--x", "1", "--json")
    assert out.exit_code == 2
    assert "--json is not an option of `circuit torch`" in out.stderr


def test_a_word_that_names_a_folder_gets_a_hint(run, tmp_path, monkeypatch):
    (tmp_path / "circuits").mkdir()
    monkeypatch.chdir(tmp_path)
    out = run("eval", "circuits")
    assert out.exit_code == 2
    assert "write ./circuits" in out.stderr
