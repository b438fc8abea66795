"""Issue 14, messages that quote huge user text: a 5 MB name or a 5-million-digit number
makes a message of a few lines, the caret still under its character."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

import circuit_backprop as cb
from circuit_backprop import errors
from tests.conftest import circuit_command


def _env() -> dict[str, str]:
    return {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}


def circuit(*args: str, stdin: Any = subprocess.DEVNULL, stdout: Any = subprocess.PIPE,
            stderr: Any = subprocess.PIPE, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(circuit_command() + list(args), stdin=stdin, stdout=stdout,
                          stderr=stderr, text=True, encoding="utf-8", env=_env(), timeout=120,
                          **kw)


# --- huge user text in messages -------------------------------------------------------------

NAME = "a" * 5_000_000
DIGITS = "1" * 5_000_000


def _excerpt(message: str) -> tuple[str, str]:
    """The quoted line and the caret line, their gutters taken off."""
    lines = message.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("  --> "))
    source, caret = lines[at + 1], lines[at + 2]
    gutter = source.index("| ") + 2
    return source[gutter:], caret[gutter:]


def test_a_5_mb_name_makes_a_short_message(tmp_path: Path) -> None:
    path = tmp_path / "name.circ"
    path.write_text(f"f = {NAME} * 2 + 1\n")
    p = circuit("backward", str(path), "--json")
    assert p.returncode == 2
    assert len(p.stderr.encode()) < 1000 and len(p.stdout.encode()) < 1000
    short = "a" * 39 + "…" + "a" * 38  # (the quote marks count in the 80 characters)
    assert p.stderr.startswith(f"error: missing value for input '{short}'")
    assert json.loads(p.stdout)["error"]["message"] == f"missing value for input '{short}'"


def test_a_5_million_digit_number_makes_a_short_message_with_the_caret_in_place(
        tmp_path: Path) -> None:
    path = tmp_path / "number.circ"
    path.write_text(f"f = x * {DIGITS}\n")
    p = circuit("backward", str(path), "--x", "1")
    assert p.returncode == 2 and len(p.stderr.encode()) < 1000
    assert f"  --> {path}:1:9\n" in p.stderr
    source, caret = _excerpt(p.stderr)
    assert source == "f = x * " + "1" * 72 + "…"
    assert caret == " " * 8 + "^"


def test_the_caret_stays_under_its_character_far_along_a_huge_line() -> None:
    with pytest.raises(cb.SourceError) as info:
        cb.Circuit(f"f = x * 1{DIGITS}$" + " + 1" * 100)
    err = info.value
    assert (err.line, err.column) == (1, 5_000_010)  # the true numbers
    assert len(str(err).encode()) < 1000
    source, caret = _excerpt(str(err))
    assert source.startswith("…") and source.endswith("…") and len(source) == 82
    assert caret.index("^") == source.index("$")


@pytest.mark.parametrize("program, values, code", [
    # an unknown function (named with q: for a name that shares its first letter with a
    # function, lang/parse.py's _suggest_function compares it with difflib, 5 s for 5 MB)
    (f"f = {'q' * 5_000_000}(2)", [], 2),
    (f"{NAME} = 1\n{NAME} = 2", [], 2),  # assigned twice
    (f"input {NAME} = -1\nf = log({NAME}) + 1", [], 1),  # a math error in a gate
    (f"f = x {NAME}", ["--x", "1"], 2),  # unexpected name
    (f"f = x + {DIGITS}", ["--x", "1"], 2),  # a number too large
])
def test_every_message_that_quotes_huge_text_is_short(tmp_path: Path, program: str,
                                                      values: list[str], code: int) -> None:
    path = tmp_path / "huge.circ"
    path.write_text(program + "\n")
    p = circuit("backward", str(path), *values, "--json")
    assert p.returncode == code
    assert len(p.stderr.encode()) < 1000, p.stderr[:2000]
    assert len(p.stdout.encode()) < 1000, p.stdout[:2000]
    assert "…" in p.stderr


def test_caret_window_cuts_both_sides_and_keeps_the_caret_under_its_character() -> None:
    line = "".join(chr(ord("a") + i % 26) for i in range(300))
    for column in (1, 30, 41, 150, 260, 300, 301):
        text, caret = errors.caret_window(line, column)
        assert len(text.strip("…")) == 80
        if column <= 300:
            assert text[caret - 1] == line[column - 1]
    assert errors.caret_window("short", 3) == ("short", 3)
    assert errors.caret_window(line, 1)[0] == line[:80] + "…"
    assert errors.caret_window(line, 301) == ("…" + line[220:], 82)


def test_shorten_keeps_both_ends() -> None:
    assert errors.shorten("x" * 10 + "y" * 100 + "z" * 10, 21) == "x" * 10 + "…" + "z" * 10
    assert errors.shorten("short", 80) == "short"
