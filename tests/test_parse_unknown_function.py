"""A call of a name that is no function says so, suggests the closest one, and lists the
functions there are (from the registry, ops.FUNCTIONS)."""

from __future__ import annotations

import re

import pytest

from circuit_backprop.core.ops import FUNCTIONS, OPS
from circuit_backprop.errors import SourceError
from circuit_backprop.lang import parse as parse_module


def listed_functions(details: list[str]) -> dict[str, int]:
    """name -> number of parameters, read back from the `functions: ...` line."""
    (line,) = [d for d in details if d.startswith("functions: ")]
    calls = re.findall(r"(\w+)\(([^)]*)\)", line.removeprefix("functions: "))
    return {name: len([p for p in params.split(",") if p.strip()]) for name, params in calls}


def registry_arities() -> dict[str, int]:
    """Wires a, b, then a function's integer arguments: `[axis]` (one, optional), `d1, ...`."""
    return {name: op.arity + min(op.params[1], 2) for name, op in FUNCTIONS.items()}


def parse_error(text: str) -> SourceError:
    with pytest.raises(SourceError) as e:
        parse_module.parse(text)
    return e.value


def test_ln_is_not_a_function_log_is(run) -> None:
    out = run("eval", "ln(x)", "--x", "2")
    assert out.exit_code == 2
    assert out.stdout == ""
    lines = out.stderr.splitlines()
    assert lines[0] == "error: unknown function 'ln': 'ln' is not a built-in function or a def"
    assert "1:1 (line 1, column 1)" in lines[1]
    assert lines[2].endswith("| ln(x)")
    caret = lines[3]
    assert caret.index("^") == lines[2].index("ln(x)")  # under the `l`
    assert "did you mean log?" in out.stderr
    assert listed_functions([line.strip() for line in lines]) == registry_arities()


def test_the_installed_command_exits_2_on_it(proc) -> None:
    out = proc("eval", "ln(x)", "--x", "2")
    assert out.exit_code == 2
    assert "'ln' is not a built-in function" in out.stderr and "did you mean log?" in out.stderr
    assert "Traceback" not in out.stderr


def test_the_error_points_at_the_call_with_its_own_line_and_column() -> None:
    e = parse_error("input x = 2\ny = x * 3\nf = y + sqr(y)\n")
    assert (e.position.line, e.position.column) == (3, 9)
    assert e.position.line_text == "f = y + sqr(y)"
    assert e.details[0] == "did you mean sqrt?"
    assert listed_functions(e.details) == registry_arities()


def test_a_name_close_to_no_function_gets_the_list_without_a_guess() -> None:
    e = parse_error("f = frobnicate(x)")
    assert e.message.startswith("unknown function 'frobnicate'")
    assert not any(d.startswith("did you mean") for d in e.details)
    assert listed_functions(e.details) == registry_arities()


def test_defs_are_suggested_and_listed_beside_the_functions() -> None:
    e = parse_error("def mix(p, q) = p * q\nf = mx(x, 2)")
    assert (e.position.line, e.position.column) == (2, 5)
    assert e.details[0] == "did you mean mix, max or amax?"
    assert e.details[-1] == "defs in this program: mix(p, q)"


def test_a_def_may_come_after_its_call() -> None:
    g = parse_module.parse("f = sq(x)\ndef sq(a) = a * a")  # not an unknown function
    assert g.ops == ["input", "sq"]


def test_the_list_is_the_registry(monkeypatch) -> None:
    monkeypatch.setitem(FUNCTIONS, "ln", OPS["log"])  # a registry with one more function
    assert parse_module.parse("f = ln(x)").ops == ["input", "log"]
    e = parse_error("f = lnn(x)")
    assert e.details[0] == "did you mean ln?"
    assert listed_functions(e.details) == registry_arities()
    assert "ln" in listed_functions(e.details)


def test_a_huge_unknown_name_is_compared_with_no_function(monkeypatch) -> None:
    """difflib's ratio is at most 2·min(len)/(sum of lens): a name of 100,000 letters can be
    close to no function, and none is compared with it (each comparison of a 5 MB name took
    seconds); a short one still gets its guess."""
    import difflib

    compared = []
    real = difflib.SequenceMatcher

    def counting(*args, **kw):
        compared.append(args[1:])
        return real(*args, **kw)

    monkeypatch.setattr(difflib, "SequenceMatcher", counting)
    error = parse_error("f = s" + "q" * 100_000 + "(x)")
    assert compared == []
    assert not any(d.startswith("did you mean") for d in error.details)
    assert "did you mean log?" in parse_error("f = ln(x)").details
    assert compared  # (the short name was compared: the count above could have seen one)
