"""Spec: error handling -- math errors exit 1, usage/source errors exit 2, never a traceback."""

from __future__ import annotations

import re

import pytest


def has_location(text: str, line: int, col: int) -> bool:
    """Accept the compact ``L:C`` form or the spelled-out ``line L, column C`` form."""
    compact = re.search(rf"(?<!\d){line}:{col}(?!\d)", text)
    spelled = re.search(rf"line {line},? col(?:umn)? {col}(?!\d)", text)
    return bool(compact or spelled)


def location_of(needle: str):
    m = re.fullmatch(r"(\d+):(\d+)", needle)
    return (int(m.group(1)), int(m.group(2))) if m else None


# ---------------------------------------------------------------- math errors (exit 1)

# (command, program, args, substrings that must appear on stderr)
MATH_ERRORS = [
    pytest.param(
        "eval",
        "a = x + 1\nf = log(a - 5)",
        ["--x", "2"],
        ["log(a - 5)", "2:5", "-2"],
        id="log-negative",
    ),
    pytest.param("eval", "f = log(x)", ["--x", "0"], ["log(x)", "1:5"], id="log-zero"),
    pytest.param(
        "eval", "f = sqrt(x)", ["--x", "-2.25"], ["sqrt(x)", "1:5", "-2.25"], id="sqrt-negative"
    ),
    pytest.param(
        "eval", "f = x / y", ["--x", "1.5", "--y", "0"], ["x / y", "1:5", "1.5"], id="div-zero"
    ),
    pytest.param(
        "eval", "f = exp(x)", ["--x", "1000.5"], ["exp(x)", "1:5", "1000.5"], id="exp-overflow"
    ),
    pytest.param(
        "eval", "f = x^y", ["--x", "0", "--y", "-1.5"], ["x^y", "1:5", "-1.5"], id="zero-neg-pow"
    ),
    pytest.param(
        "eval",
        "f = x^y",
        ["--x", "-2.5", "--y", "0.5"],
        ["x^y", "1:5", "-2.5", "0.5"],
        id="neg-base-frac-pow",
    ),
    pytest.param(
        "backward", "f = sqrt(x)", ["--x", "0"], ["sqrt(x)", "1:5"], id="sqrt-grad-at-zero"
    ),
    pytest.param("backward", "(-2)^x", ["--x", "2"], ["(-2)^x", "1:1"], id="neg-base-grad-exp"),
    pytest.param("eval", "log(x)", ["--x", "-1.25"], ["log(x)", "1:1", "-1.25"], id="bare-expr"),
    pytest.param(
        "backward",
        "q = x + 1\n\n  r = q * 2 + exp(q)\nf = r",
        ["--x", "999.5"],
        ["exp(q)", "3:15", "1000.5"],
        id="exp-overflow-line3",
    ),
    pytest.param(
        "backward",
        "q = x + 2*y; f = q / (z - 19)",
        ["--x", "3", "--y", "-4", "--z", "19"],
        ["q / (z - 19)", "1:18"],
        id="div-zero-after-semicolon",
    ),
]


@pytest.mark.parametrize("command, program, args, needles", MATH_ERRORS)
def test_math_error_exit_1_with_location(run, command, program, args, needles):
    out = run(command, program, *args)
    assert out.exit_code == 1, (out.exit_code, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    flat = " ".join(out.stderr.split())  # tolerate terminal line wrapping
    for needle in needles:
        loc = location_of(needle)
        if loc:
            assert has_location(flat, *loc), f"no location {needle} in: {out.stderr!r}"
        else:
            assert needle in flat, f"{needle!r} not in stderr: {out.stderr!r}"


def test_math_error_location_is_literal_line_colon_column(run):
    # the spec says the message names "line:column"; this checks the literal L:C notation
    out = run("eval", "a = x + 1\nf = log(a - 5)", "--x", "2")
    assert out.exit_code == 1
    assert "2:5" in out.stderr, out.stderr


@pytest.mark.parametrize("command", ["eval", "backward"])
def test_math_error_in_both_commands(run, command):
    out = run(command, "log(x)", "--x", "-1")
    assert out.exit_code == 1


def test_math_error_with_json_flag_still_exit_1(run):
    out = run("backward", "f = log(x)", "--x", "-1", "--json")
    assert out.exit_code == 1
    assert "log(x)" in out.stderr


def test_math_error_subprocess_stderr(proc):
    out = proc("eval", "f = x / y", "--x", "1.5", "--y", "0")
    assert out.exit_code == 1
    assert "x / y" in out.stderr
    assert has_location(out.stderr, 1, 5), out.stderr
    assert "Traceback" not in out.stderr
    assert "Traceback" not in out.stdout


def test_overflow_in_backward_subprocess(proc):
    out = proc("backward", "exp(x)", "--x", "1000")
    assert out.exit_code == 1
    assert "exp(x)" in out.stderr
    assert "Traceback" not in out.stderr


# ---------------------------------------------------------------- syntax errors (exit 2)


def test_syntax_error_location_caret_expected(run):
    out = run("eval", "a = x + 1\nf = a + )", "--x", "1")
    assert out.exit_code == 2
    err = out.stderr
    assert has_location(err, 2, 9), err
    assert "f = a + )" in err, err
    assert "^" in err, err
    assert "expected" in err.lower(), err
    assert "Traceback" not in err


def test_syntax_error_location_is_literal_line_colon_column(run):
    # the spec says syntax errors "say line:column"; this checks the literal L:C notation
    out = run("eval", "a = x + 1\nf = a + )", "--x", "1")
    assert out.exit_code == 2
    assert "2:9" in out.stderr, out.stderr


def test_syntax_error_caret_is_under_the_column(run):
    out = run("eval", "a = x + 1\nf = a + )", "--x", "1")
    assert out.exit_code == 2
    lines = out.stderr.splitlines()
    idx = next(i for i, line in enumerate(lines) if "f = a + )" in line)
    start = lines[idx].index("f = a + )")
    caret_lines = [line for line in lines[idx + 1 : idx + 3] if "^" in line]
    assert caret_lines, out.stderr
    assert caret_lines[0].index("^") - start == 8, out.stderr


def test_syntax_error_subprocess(proc):
    out = proc("eval", "q = x +* 2", "--x", "1")
    assert out.exit_code == 2
    assert has_location(out.stderr, 1, 8), out.stderr
    assert "^" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    "program, args",
    [
        ("(x + 1", ["--x", "1"]),
        ("x + 1)", ["--x", "1"]),
        ("x +", ["--x", "1"]),
        ("f = ", []),
        ("= x", ["--x", "1"]),
        ("x y", ["--x", "1", "--y", "1"]),
        ("x $ y", ["--x", "1", "--y", "1"]),
        ("3 4", []),
        ("f = x,", ["--x", "1"]),
        ("max(x,)", ["--x", "1"]),
        ("x = = 2", []),
        ("input", []),
        ("output", []),
        ("input y = z", ["--y", "1", "--z", "1"]),
        ("output 3", []),
        ("q = x\noutput r", ["--x", "1"]),
        ("1.2.3 + x", ["--x", "1"]),
        ("x @ 2", ["--x", "1"]),
        ("f = (x", ["--x", "1"]),
        ("f = x +\ng = 2", ["--x", "1"]),
    ],
)
def test_malformed_programs_exit_2(run, program, args):
    out = run("eval", program, *args)
    assert out.exit_code == 2, (program, out.exit_code, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr


def test_unknown_function(run):
    out = run("eval", "f = foo(x)", "--x", "1")
    assert out.exit_code == 2
    assert "foo" in out.stderr


@pytest.mark.parametrize(
    "program",
    ["max(x)", "min(x, x, x)", "sin(x, x)", "pow(x)", "exp()", "relu(x, 1)", "log()"],
)
def test_arity_errors(run, program):
    out = run("eval", program, "--x", "1")
    assert out.exit_code == 2, (program, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr


def test_calling_a_non_function_name(run):
    out = run("eval", "a = x + 1\nf = a(2)", "--x", "1")
    assert out.exit_code == 2


# ---------------------------------------------------------------- errors go to stderr


def test_source_error_goes_to_stderr_and_without_json_nothing_to_stdout(proc):
    out = proc("eval", "x +")
    assert out.exit_code == 2
    assert "error: syntax error" in out.stderr and "Traceback" not in out.stderr
    assert out.stdout.strip() == ""


def test_with_json_an_error_is_also_an_error_object_on_stdout(proc, parse):
    out = proc("eval", "x +", "--json")
    assert out.exit_code == 2
    assert "error: syntax error" in out.stderr and "Traceback" not in out.stderr
    doc = parse(out.stdout)
    assert doc["schema"] == 1
    assert doc["error"]["kind"] == "syntax"
    assert (doc["error"]["line"], doc["error"]["column"]) == (1, 4)
    assert doc["error"]["message"] in out.stderr


# ---------------------------------------------------------------- overflow in the backward pass

# forward is finite (x*y = 1e-290, f = 1e10) but df/dy = 1e300 * x = 1e310 overflows float64


def test_gradient_overflow_json_is_math_error_not_traceback(proc):
    out = proc("backward", "x*y*1e300", "--x", "1e10", "--y", "1e-300", "--json")
    assert "Traceback" not in out.stderr
    assert out.exit_code == 1, (out.exit_code, out.stdout[:200], out.stderr[-500:])


def test_gradient_overflow_table_is_math_error(run):
    out = run("backward", "x*y*1e300", "--x", "1e10", "--y", "1e-300")
    assert out.exit_code == 1, (out.exit_code, out.stdout[-300:])


def test_forward_overflow_in_mul_and_add(run):
    for program, args in [
        ("x*y", ["--x", "1e200", "--y", "1e200"]),
        ("x+y", ["--x", "1e308", "--y", "1e308"]),
    ]:
        out = run("eval", program, *args, "--json")
        assert out.exit_code == 1, (program, out.stdout, out.stderr)
        assert "Traceback" not in out.stderr


# ---------------------------------------------------------------- non-finite numbers in the source


@pytest.mark.parametrize(
    "program",
    ["1e999", "input x = 1e999\noutput x", "input x = -1e999\nf = x"],
)
@pytest.mark.parametrize("command", ["eval", "backward"])
def test_overflowing_number_in_source_json_is_an_error(proc, command, program):
    # 1e999 is not a finite float64; --json must never print Infinity or crash
    out = proc(command, program, "--json")
    assert "Traceback" not in out.stderr
    assert out.exit_code in (1, 2), (out.exit_code, out.stdout[:200])


def test_overflowing_number_literal_table_is_an_error(run):
    out = run("eval", "1e999")
    assert out.exit_code in (1, 2), (out.exit_code, out.stdout[-200:])
