"""Issue 14, input and output: a cap on the size of every source, output that cannot be written
(/dev/full, a closed descriptor, a broken pipe, EIO), closed standard input, messages that quote
huge user text, numbers on the command line in ASCII digits only, running out of memory and
Ctrl-C. The streams are the real descriptors of the real `circuit` command, except EIO (no
device gives it on demand), which main() meets in-process; messages and numbers are also
checked in-process (the API, CliRunner)."""

from __future__ import annotations

import errno
import io
import json
import os
import resource
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import circuit_backprop as cb
from circuit_backprop import api, cli, errors
from tests.conftest import CIRCUITS, circuit_command

STAGED = str(CIRCUITS / "staged.circ")
EXERCISE = CIRCUITS.parent / "exercises" / "seed"


def _env() -> dict[str, str]:
    return {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}


def circuit(*args: str, stdin: Any = subprocess.DEVNULL, stdout: Any = subprocess.PIPE,
            stderr: Any = subprocess.PIPE, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(circuit_command() + list(args), stdin=stdin, stdout=stdout,
                          stderr=stderr, text=True, encoding="utf-8", env=_env(), timeout=120,
                          **kw)


def circuit_in_shell(redirect: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`circuit ARGS` with a shell redirection such as `<&-` or `>&-` (a closed descriptor)."""
    command = ["sh", "-c", f'exec "$@" {redirect}', "sh", *circuit_command(), *args]
    return subprocess.run(command, capture_output=True, text=True, encoding="utf-8", env=_env(),
                          timeout=120)


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
    # an unknown function (test_parse_unknown_function.py holds that no function is compared
    # with a name this long)
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
    writer = subprocess.Popen(["sh", "-c", f"exec yes 'f = 1' > {shlex.quote(str(fifo))}"],
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


# --- output that cannot be written ----------------------------------------------------------

FULL_DISK = "error: cannot write to standard output: No space left on device\n"
CLOSED = "error: cannot write to standard output: it is closed\n"

WRITERS = [
    ["backward", STAGED], ["backward", STAGED, "--json"], ["eval", STAGED, "--steps"],
    ["torch", STAGED], ["draw", STAGED, "--format", "dot"], ["draw", STAGED],
    ["lesson", STAGED], ["plot", STAGED, "--wrt", "x"], ["--version"], ["--help"],
    ["backward", "--help"], ["grade", str(EXERCISE / "circuit.circ"),
                             str(EXERCISE / "answer.circ")],
]


@pytest.mark.parametrize("args", WRITERS, ids=" ".join)
def test_a_full_disk_on_standard_output_is_one_line_on_stderr_and_exit_1(
        args: list[str]) -> None:
    with open("/dev/full", "w") as full:
        p = circuit(*args, stdout=full)
    assert (p.returncode, p.stderr) == (1, FULL_DISK)


@pytest.mark.parametrize("args", [["backward", STAGED], ["backward", STAGED, "--json"],
                                  ["torch", STAGED], ["--version"], ["--help"]], ids=" ".join)
def test_a_closed_standard_output_is_one_line_on_stderr_and_exit_1(args: list[str]) -> None:
    p = circuit_in_shell(">&-", *args)
    assert (p.returncode, p.stderr) == (1, CLOSED)


def test_a_closed_standard_output_is_no_error_for_a_command_that_writes_a_file(
        tmp_path: Path) -> None:
    out = tmp_path / "staged.dot"
    p = circuit_in_shell(">&-", "draw", STAGED, "-o", str(out))
    assert (p.returncode, p.stderr) == (0, "")
    assert out.read_text().startswith("digraph")


def test_closed_standard_input_for_dash_is_a_usage_error() -> None:
    p = circuit_in_shell("<&-", "backward", "-")
    assert p.returncode == 2
    assert p.stderr == ("error: standard input is closed: there is no program to read for "
                        "SOURCE '-'\n  give a .circ file or the program text instead, or pipe "
                        "one in\n")


def test_closed_standard_input_does_not_matter_to_a_command_that_does_not_read_it() -> None:
    p = circuit_in_shell("<&-", "backward", STAGED, "--steps", "--pause")
    assert (p.returncode, p.stderr) == (0, "")
    assert p.stdout.endswith("f = -95\n∇f = [∂f/∂x, ∂f/∂y, ∂f/∂z] = [19, 38, -5]\n")


SYNTAX_ERROR = "f = x +"


@pytest.mark.parametrize("redirect", ["2>/dev/full", "2>&-"])
def test_the_exit_code_does_not_depend_on_whether_stderr_could_be_written(
        redirect: str) -> None:
    assert circuit_in_shell(redirect, "eval", SYNTAX_ERROR).returncode == 2
    assert circuit_in_shell(redirect, "eval", "f = log(x)", "--x", "-1").returncode == 1
    assert circuit_in_shell(redirect, "eval", "f = x", "--precision", "99").returncode == 2
    with_json = circuit_in_shell(redirect, "eval", SYNTAX_ERROR, "--json")
    assert with_json.returncode == 2
    assert json.loads(with_json.stdout)["error"]["kind"] == "syntax"


@pytest.mark.parametrize("redirect", [">/dev/full", ">&-", ">/dev/full 2>/dev/full", ">&- 2>&-"])
def test_an_error_stays_the_error_when_its_json_object_cannot_be_written(
        redirect: str) -> None:
    p = circuit_in_shell(redirect, "eval", SYNTAX_ERROR, "--json")
    assert p.returncode == 2
    assert "Traceback" not in p.stderr and "cannot write" not in p.stderr
    if "2>" not in redirect:
        assert p.stderr.startswith("error: syntax error: ")


def _big_circuit(tmp_path: Path, gates: int) -> Path:
    path = tmp_path / "big.circ"
    path.write_text("input x = 0.5\n" + "".join(f"g{i} = x * {i}\n" for i in range(gates))
                    + "f = g1 + g2\n")
    return path


@pytest.mark.parametrize("extra", [["--all"], ["--json"]])
def test_a_reader_that_leaves_early_is_no_traceback(tmp_path: Path, extra: list[str]) -> None:
    """`circuit backward big.circ --all | head -1`: the output (400 KB of table, 240 KB of
    JSON) is far more than the pipe holds, so the command is still writing when the reader
    goes: quiet, exit 1."""
    big = _big_circuit(tmp_path, 600)
    p = subprocess.Popen(circuit_command() + ["backward", str(big), *extra],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    first = p.stdout.read(100)  # (the JSON document is one line: all of it)
    p.stdout.close()
    stderr = p.stderr.read().decode()
    p.stderr.close()
    assert p.wait(timeout=120) == 1
    assert stderr == ""
    assert first.startswith(b"Forward pass" if extra == ["--all"] else b'{"schema": 1')


def test_head_in_a_shell_pipeline_prints_the_first_line_and_nothing_else(
        tmp_path: Path) -> None:
    big = _big_circuit(tmp_path, 600)
    command = shlex.join(circuit_command() + ["backward", str(big), "--all"]) + " | head -1"
    p = subprocess.run(["sh", "-c", command], capture_output=True, text=True, env=_env(),
                       timeout=120)
    assert (p.returncode, p.stderr) == (0, "")
    assert p.stdout.startswith("Forward pass (left to right)") and p.stdout.count("\n") == 1


class FailingStream(io.StringIO):
    """A terminal that went away: every write and flush fails with EIO."""

    def write(self, text: str) -> int:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    def flush(self) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))


def _main(monkeypatch: pytest.MonkeyPatch, args: list[str], stdout: Any,
          stderr: Any) -> int:
    monkeypatch.setattr(sys, "argv", ["circuit", *args])
    monkeypatch.setattr(sys, "stdout", stdout)
    monkeypatch.setattr(sys, "stderr", stderr)
    with pytest.raises(SystemExit) as done:
        cli.main()
    assert sys.stdout is stdout and sys.stderr is stderr  # main puts back what it replaced
    return done.value.code


@pytest.mark.parametrize("args", [["backward", STAGED], ["backward", STAGED, "--json"],
                                  ["--version"]], ids=" ".join)
def test_eio_on_standard_output_is_one_line_and_exit_1(
        monkeypatch: pytest.MonkeyPatch, args: list[str]) -> None:
    stderr = io.StringIO()
    assert _main(monkeypatch, args, FailingStream(), stderr) == 1
    assert stderr.getvalue() == "error: cannot write to standard output: Input/output error\n"


def test_eio_on_standard_error_keeps_the_exit_code(monkeypatch: pytest.MonkeyPatch) -> None:
    stdout = io.StringIO()
    assert _main(monkeypatch, ["eval", SYNTAX_ERROR, "--json"], stdout, FailingStream()) == 2
    assert json.loads(stdout.getvalue())["error"]["kind"] == "syntax"
    assert _main(monkeypatch, ["eval", "f = x", "--precision", "99"], io.StringIO(),
                 FailingStream()) == 2


# --- out of memory, and Ctrl-C --------------------------------------------------------------

TOO_LARGE = "input W[100000000, 100000000]; f = sum(W)"  # 80 PB of float64
OUT_OF_MEMORY = "error: out of memory: this circuit is too large for this machine's memory"


def _at_most_4_gb() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))


def test_a_circuit_too_large_for_the_memory_is_one_clear_message_and_exit_1() -> None:
    p = circuit("eval", TOO_LARGE, "--random", "0", preexec_fn=_at_most_4_gb)
    no_traceback(p)
    assert p.returncode == 1
    assert p.stderr.splitlines()[0] == OUT_OF_MEMORY


def test_out_of_memory_with_json_is_also_the_error_object() -> None:
    p = circuit("backward", TOO_LARGE, "--random", "0", "--json", preexec_fn=_at_most_4_gb)
    assert p.returncode == 1
    assert p.stderr.splitlines()[0] == OUT_OF_MEMORY
    error = json.loads(p.stdout)["error"]
    assert (error["kind"], error["message"]) == (
        "memory", OUT_OF_MEMORY.removeprefix("error: "))


def test_a_memory_error_anywhere_in_a_command_is_no_traceback(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def no_memory(*args: Any, **kw: Any) -> Any:
        raise MemoryError

    monkeypatch.setattr(api.Circuit, "run", no_memory)
    stderr = io.StringIO()
    assert _main(monkeypatch, ["backward", STAGED], io.StringIO(), stderr) == 1
    assert stderr.getvalue().splitlines()[0] == OUT_OF_MEMORY
    monkeypatch.setattr(cli.CircuitCommand, "parse_args", no_memory)  # outside any command
    stderr = io.StringIO()
    assert _main(monkeypatch, ["backward", STAGED], io.StringIO(), stderr) == 1
    assert stderr.getvalue() == OUT_OF_MEMORY + "\n"


def test_ctrl_c_is_a_quiet_exit_130(tmp_path: Path) -> None:
    """The source is a FIFO: once the test has opened it for writing, circuit is reading it
    (well past start-up), and waits there for the interrupt."""
    fifo = tmp_path / "waiting.circ"
    os.mkfifo(fifo)
    # (SIGINT back to its default in the child: a shell's background job, as CI may run us,
    # inherits it ignored, and Python then never raises KeyboardInterrupt)
    p = subprocess.Popen(circuit_command() + ["backward", str(fifo)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=_env(),
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    with open(fifo, "w") as writer:
        writer.write("f = 2 *")
        writer.flush()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=120)
    assert (p.returncode, out, err) == (130, b"", b"")


# --- numbers on the command line: ASCII digits only -----------------------------------------

NOT_ASCII = "is not ASCII: numbers are written with the digits 0-9, '.', '+', '-' and 'e'"


@pytest.mark.parametrize("args, shown, hint", [
    (["--x", "٣"], "'٣'", f"'٣' (ARABIC-INDIC DIGIT THREE) {NOT_ASCII}"),
    (["--x", "１２"], "'１２'", f"'１' (FULLWIDTH DIGIT ONE) {NOT_ASCII}"),
    (["--x=٣"], "'٣'", f"'٣' (ARABIC-INDIC DIGIT THREE) {NOT_ASCII}"),
    (["--set", "x=١"], "'١'", f"'١' (ARABIC-INDIC DIGIT ONE) {NOT_ASCII}"),
    (["--x", "1٣"], "'1٣'", f"'٣' (ARABIC-INDIC DIGIT THREE) {NOT_ASCII}"),
    (["--x", "−3"], "'−3'", f"'−' (MINUS SIGN) {NOT_ASCII}"),
    (["--x", "1_000"], "'1_000'", "numbers are written without underscores: 1000, not 1_000"),
    (["--x=1_000"], "'1_000'", "numbers are written without underscores: 1000, not 1_000"),
])
def test_a_number_on_the_command_line_is_ascii_digits_only(
        run: Any, args: list[str], shown: str, hint: str) -> None:
    out = run("eval", "x * 2", *args)
    assert out.exit_code == 2
    assert out.stderr == f"error: the value for 'x' is not a number: {shown}\n  {hint}\n"


def test_an_array_on_the_command_line_is_ascii_digits_only(run: Any) -> None:
    out = run("eval", "f = sum(W)", "--W", "[١, 2]")
    assert out.exit_code == 2
    assert out.stderr == ("error: the value for 'W' is not an array: unexpected character "
                          f"'١' (at character 2)\n  '١' (ARABIC-INDIC DIGIT ONE) {NOT_ASCII}\n")


@pytest.mark.parametrize("content, message, hint", [
    ('[1, "٣"]', 'it holds "٣", not a number', f"'٣' (ARABIC-INDIC DIGIT THREE) {NOT_ASCII}"),
    ('[1, "3"]', 'it holds "3", not a number', None),
    ("[1, true]", "it holds true, not a number", None),
    ("[[1, 2], [3, null]]", "it holds null, not a number", None),
])
def test_a_json_array_file_holds_json_numbers_only(run: Any, tmp_path: Path, content: str,
                                                  message: str, hint: str | None) -> None:
    path = tmp_path / "w.json"
    path.write_text(content, encoding="utf-8")
    out = run("eval", "f = sum(W)", "--W", f"@{path}")
    assert out.exit_code == 2
    expected = f"error: cannot read an array for 'W' from {path}: {message}\n"
    assert out.stderr == expected + (f"  {hint}\n" if hint else "")


@pytest.mark.parametrize("content, where, hint", [
    ("1,2\n3,٣\n", "line 2, column 3", f"'٣' (ARABIC-INDIC DIGIT THREE) {NOT_ASCII}"),
    ("１２,1\n", "line 1, column 1", f"'１' (FULLWIDTH DIGIT ONE) {NOT_ASCII}"),
])
def test_a_csv_array_file_is_ascii_numbers_only(run: Any, tmp_path: Path, content: str,
                                                where: str, hint: str) -> None:
    path = tmp_path / "w.csv"
    path.write_text(content, encoding="utf-8")
    out = run("eval", "f = sum(W)", "--W", f"@{path}")
    assert out.exit_code == 2
    assert out.stderr == (f"error: cannot read an array for 'W' from {path}: {where} is not "
                          f"ASCII\n  {hint}\n")


def test_a_csv_number_with_an_underscore_is_refused(run: Any, tmp_path: Path) -> None:
    path = tmp_path / "w.csv"
    path.write_text("1,1_000\n")
    out = run("eval", "f = sum(W)", "--W", f"@{path}")
    assert out.exit_code == 2
    assert out.stderr.startswith(f"error: cannot read an array for 'W' from {path}: ")
    assert "1_000" in out.stderr


def test_ascii_numbers_and_arrays_still_read(run_json: Any, tmp_path: Path) -> None:
    (tmp_path / "w.csv").write_text("\ufeff1,2.5\n-3,4e1\n")  # (a BOM, as spreadsheets write)
    (tmp_path / "w.json").write_text("[[1, 2.5], [-3, 4e1]]")
    for value in ("[[1, 2.5], [-3, 4e1]]", f"@{tmp_path / 'w.csv'}", f"@{tmp_path / 'w.json'}"):
        assert run_json("eval", "f = sum(W)", "--W", value, "--json")["value"] == 40.5
    doc = run_json("eval", "x + y + z", "--x", "-1.5", "--y=+.5e1", "--set", "z= 3 ", "--json")
    assert doc["value"] == 6.5
