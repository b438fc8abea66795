"""Shared fixtures for the black-box spec tests (tests/test_spec_*.py).

Everything here drives the CLI from the outside: either in-process through
``typer.testing.CliRunner`` against ``circuit_backprop.cli:app`` or as a real
subprocess running the installed ``circuit`` command.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

# Gradient rules are compiled by the language's parser, which lang/parse.py hands to core/rules.py
# when it is imported (every Circuit does): tests that build a graph by hand import it here.
import circuit_backprop.lang.parse  # noqa: F401

REPO = Path(__file__).resolve().parent.parent
CIRCUITS = REPO / "circuits"

# The tests see one terminal wherever they run. A CI runner's or a developer's settings (a
# COLUMNS of 80, TERM=dumb, FORCE_COLOR) would otherwise change the width and colour of every
# table drawn in-process and in the commands the tests start: a test that sets one sets it itself.
TERMINAL_SETTINGS = ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE",
                     "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLORTERM", "JUPYTER_COLUMNS",
                     "JUPYTER_LINES")
for _setting in TERMINAL_SETTINGS:
    os.environ.pop(_setting, None)
os.environ["TERM"] = "xterm-256color"


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None = None

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def _reject_constant(name: str):
    raise ValueError(f"invalid JSON constant {name!r} (NaN/Infinity are not JSON)")


def parse_json(text: str) -> dict:
    """Parse stdout strictly: exactly one JSON object, no NaN/Infinity."""
    data = json.loads(text, parse_constant=_reject_constant)
    assert isinstance(data, dict), f"expected one JSON object, got {type(data).__name__}"
    return data


def circuit_command() -> list[str]:
    candidate = Path(sys.executable).parent / "circuit"
    if candidate.exists():
        return [str(candidate)]
    found = shutil.which("circuit")
    if found:
        return [found]
    return [sys.executable, "-m", "circuit_backprop"]


def _invoke(args, input=None) -> Outcome:
    from typer.testing import CliRunner

    from circuit_backprop.cli import app

    runner = CliRunner()
    result = runner.invoke(app, [str(a) for a in args], input=input)
    exc = result.exception
    if exc is not None and not isinstance(exc, SystemExit):
        import traceback

        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        pytest.fail(
            f"circuit {list(args)!r} raised an uncaught exception:\n{tb}\n"
            f"stdout: {result.stdout!r}\nstderr: {result.stderr!r}"
        )
    stderr = getattr(result, "stderr", "")
    try:
        stdout = result.stdout
    except ValueError:  # very old click without separate streams
        stdout = result.output
    return Outcome(result.exit_code, stdout, stderr, exc)


def _proc(args, input=None, cwd=None, timeout=300) -> Outcome:
    env = dict(os.environ)
    env.setdefault("NO_COLOR", "1")
    env["COLUMNS"] = "200"
    p = subprocess.run(
        circuit_command() + [str(a) for a in args],
        input=input,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        cwd=cwd,
        env=env,
        timeout=timeout,
    )
    return Outcome(p.returncode, p.stdout, p.stderr, None)


@pytest.fixture
def run():
    """run(*args, input=None) -> Outcome, via CliRunner (in-process)."""

    def _run(*args, input=None):
        return _invoke(args, input=input)

    return _run


@pytest.fixture
def run_json():
    """run_json(*args) -> dict; asserts exit 0 and a single JSON object on stdout."""

    def _run_json(*args, input=None):
        out = _invoke(args, input=input)
        assert out.exit_code == 0, (
            f"exit {out.exit_code}; stdout={out.stdout!r} stderr={out.stderr!r}"
        )
        return parse_json(out.stdout)

    return _run_json


@pytest.fixture
def proc():
    """proc(*args, input=None, cwd=None, timeout=300) -> Outcome, via subprocess."""

    def _run(*args, input=None, cwd=None, timeout=300):
        return _proc(args, input=input, cwd=cwd, timeout=timeout)

    return _run


@pytest.fixture
def circuits_dir() -> Path:
    return CIRCUITS


@pytest.fixture
def repo_dir() -> Path:
    return REPO


@pytest.fixture
def parse():
    """parse(stdout) -> dict; strict single-JSON-object parse."""
    return parse_json


# --- short test ids ----------------------------------------------------------------------------
# A test parametrized with a huge program (a 5 MB name) would otherwise be named by all of it:
# pytest puts a running test's name in the environment (PYTEST_CURRENT_TEST), and every command
# the test then starts failed with "Argument list too long" (E2BIG) under pytest 9.1.

LONGEST_ID = 40


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    if isinstance(val, str) and len(val) > LONGEST_ID:
        return f"{val[:LONGEST_ID - 10]!r}...({len(val):,} chars)"
    return None


# --- the failed tests' names, after pytest's own last line -----------------------------------
# (a CI log is often read from its end: "5 failed, 1089 passed" alone does not say which)

_FAILED: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed and report.nodeid not in _FAILED:
        _FAILED.append(report.nodeid)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _FAILED:
        shown = ", ".join(_FAILED[:20]) + (f" and {len(_FAILED) - 20} more" if len(_FAILED) > 20
                                            else "")
        sys.__stdout__.write(f"failed ({len(_FAILED)}): {shown}\n")
        sys.__stdout__.flush()
