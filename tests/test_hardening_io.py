"""Issue 14, input and output: a cap on the size of every source (file, pipe, FIFO, standard
input), and messages that quote huge user text. Everything runs the real `circuit` command."""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

import circuit_backprop as cb
from circuit_backprop import api, errors
from tests.conftest import CIRCUITS, circuit_command

STAGED = str(CIRCUITS / "staged.circ")


def _env() -> dict[str, str]:
    return {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}


def circuit(*args: str, stdin: Any = subprocess.DEVNULL, stdout: Any = subprocess.PIPE,
            stderr: Any = subprocess.PIPE, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(circuit_command() + list(args), stdin=stdin, stdout=stdout,
                          stderr=stderr, text=True, encoding="utf-8", env=_env(), timeout=120,
                          **kw)


def no_traceback(p: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in p.stderr and "Exception ignored" not in p.stderr, p.stderr


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


# --- the size of a source -------------------------------------------------------------------

LIMIT_MESSAGE = "is larger than the source size limit"
LIMIT_HINT = "raise the limit: --max-source-bytes BYTES"


def test_dev_zero_as_a_source_file_is_refused_at_once_with_the_limit_and_the_option() -> None:
    p = circuit("backward", "/dev/zero")
    no_traceback(p)
    assert p.returncode == 2
    assert p.stderr.splitlines()[0] == (
        "error: /dev/zero is larger than the source size limit (256 MiB)")
    assert f"{LIMIT_HINT} (now {256 * 2**20})" in p.stderr
    assert p.stdout == ""


def test_dev_zero_on_standard_input_is_refused_at_once() -> None:
    with open("/dev/zero", "rb") as zero:
        p = circuit("backward", "-", stdin=zero)
    no_traceback(p)
    assert p.returncode == 2
    assert p.stderr.startswith("error: <stdin> is larger than the source size limit (256 MiB)")


def test_an_endless_pipe_on_standard_input_is_refused() -> None:
    endless = subprocess.Popen(["yes", "f = 1"], stdout=subprocess.PIPE)
    try:
        p = circuit("backward", "-", "--max-source-bytes", "100000", stdin=endless.stdout)
    finally:
        endless.stdout.close()
        endless.kill()
        endless.wait()
    assert p.returncode == 2
    assert p.stderr.startswith(
        "error: <stdin> is larger than the source size limit (100,000 bytes)")


def test_an_endless_fifo_as_the_source_file_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "endless.circ"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", f"exec yes 'f = 1' > '{fifo}'"],
                              stderr=subprocess.DEVNULL)
    try:
        p = circuit("eval", str(fifo), "--max-source-bytes", "4096")
    finally:
        writer.kill()
        writer.wait()
    assert p.returncode == 2
    assert p.stderr.startswith(f"error: {fifo} {LIMIT_MESSAGE} (4,096 bytes)")


@pytest.mark.parametrize("command", [
    ["eval", "/dev/zero"], ["backward", "/dev/zero"], ["draw", "/dev/zero"],
    ["torch", "/dev/zero"], ["plot", "/dev/zero", "--wrt", "x"], ["lesson", "/dev/zero"],
    ["grade", "/dev/zero", STAGED], ["grade", STAGED, "/dev/zero"],
])
def test_every_command_that_reads_a_source_has_the_limit_and_its_option(
        command: list[str]) -> None:
    p = circuit(*command, "--max-source-bytes", "1000")
    no_traceback(p)
    assert p.returncode == 2
    assert p.stderr.startswith(f"error: /dev/zero {LIMIT_MESSAGE} (1,000 bytes)")
    assert f"{LIMIT_HINT} (now 1000)" in p.stderr


def test_the_limit_is_exact_a_source_of_that_size_runs_one_byte_more_does_not(
        tmp_path: Path) -> None:
    program = tmp_path / "padded.circ"
    text = "f = 2 * 3  # " + "pad " * 30
    program.write_text(text + "\n")
    size = program.stat().st_size
    fits = circuit("eval", str(program), "--max-source-bytes", str(size), "--json")
    assert fits.returncode == 0, fits.stderr
    assert json.loads(fits.stdout)["value"] == 6.0
    refused = circuit("eval", str(program), "--max-source-bytes", str(size - 1))
    assert refused.returncode == 2
    assert refused.stderr.startswith(f"error: {program} {LIMIT_MESSAGE} ({size - 1} bytes)")


def test_a_regular_file_over_the_limit_is_refused_by_its_size_without_reading(
        tmp_path: Path) -> None:
    sparse = tmp_path / "huge.circ"  # 300 MiB that take no disk space
    with open(sparse, "wb") as f:
        f.truncate(300 * 2**20)
    with pytest.raises(errors.SourceTooLarge) as info:
        cb.Circuit.load(sparse)  # the API reads through read_file, with the default limit
    assert str(info.value).splitlines()[0] == f"{sparse} {LIMIT_MESSAGE} (256 MiB)"
    assert info.value.exit_code == 2


class EndlessZeros(io.RawIOBase):
    """A stream that never ends, counting what it was asked to read."""

    def __init__(self) -> None:
        self.given = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        assert size > 0, "an unbounded read"
        self.given += size
        return b"0" * size


def test_read_file_reads_a_stream_to_the_limit_and_one_byte_no_further() -> None:
    stream = EndlessZeros()
    with pytest.raises(errors.SourceTooLarge):
        api.read_file(stream, max_bytes=3 * 2**20 + 5, origin="<pipe>")
    assert stream.given == 3 * 2**20 + 6


def test_a_json_array_file_has_the_same_limit(tmp_path: Path) -> None:
    values = tmp_path / "w.json"
    values.write_text(json.dumps([1.5] * 1000))
    p = circuit("eval", "f = sum(W)", "--W", f"@{values}", "--max-source-bytes", "100")
    assert p.returncode == 2
    assert p.stderr.startswith(f"error: {values} {LIMIT_MESSAGE} (100 bytes) "
                               "(the value for 'W')")


def test_the_help_of_each_command_documents_the_limit() -> None:
    for command in ("eval", "backward", "draw", "torch", "plot", "lesson", "grade"):
        p = circuit(command, "--help")
        assert p.returncode == 0
        assert "--max-source-bytes" in p.stdout and "256 MiB" in p.stdout, command
