"""Running a case and judging it: the whole command line in-process (typer's CliRunner), or the
API alone (the long run's cheap tier), and what counts as a failure.

A run fails when an exception other than SystemExit escapes, the exit code is not 0, 1 or 2,
the output holds a traceback, or `--json` does not print exactly one JSON document (a result,
or `{"schema": 1, "error": {...}}` on failure). Known bugs that others are fixing are named in
KNOWN, so that a CI run stays green until their fixes land; remove an entry once it has.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fuzz.commands import Case, Info


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None = None
    traceback: str = ""


@dataclass(frozen=True)
class Problem:
    """A failed run: a one-line signature (for grouping) and the details."""

    signature: str
    detail: str


@dataclass(frozen=True)
class Known:
    """A bug being fixed elsewhere: an exception of this type raised in this file."""

    exception: str
    file: str
    note: str


KNOWN: tuple[Known, ...] = ()
# (emptied once their fixes landed: KeyError in views/torchscript.py, `circuit torch 'def k(a) =
# 5; f = k(x) * x'`; IndexError in views/plot.py, `circuit plot 'x*x' --x 3 --wrt x --range 0:1`)


@contextlib.contextmanager
def working_directory(path: Path) -> Iterator[None]:
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def clear(path: Path) -> None:
    """Empty the working directory between cases (outputs and inputs of the last one)."""
    for entry in os.listdir(path):
        full = path / entry
        if full.is_dir() and not full.is_symlink():
            shutil.rmtree(full, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                full.unlink()


def write_files(case: Case, path: Path) -> None:
    for name, data in case.files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            target.write_bytes(data)
        else:
            target.write_bytes(data.encode("utf-8", "surrogatepass"))


def run_cli(case: Case, workdir: Path, env: dict[str, str] | None = None) -> Outcome:
    """The command line, in-process, in `workdir` (emptied first, then given the case's files)."""
    from typer.testing import CliRunner

    from circuit_backprop.cli import app

    clear(workdir)
    write_files(case, workdir)
    with working_directory(workdir):
        result = CliRunner().invoke(app, case.args, input=case.stdin,
                                    env={"COLUMNS": str(case.columns), **(env or {})})
    exc = result.exception
    tb = ""
    if exc is not None and not isinstance(exc, SystemExit):
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return Outcome(result.exit_code, _stream(result, "stdout"), _stream(result, "stderr"),
                   exc, tb)


def _stream(result: Any, name: str) -> str:
    try:
        return getattr(result, name)
    except ValueError:  # (a click without separate streams)
        return result.output if name == "stdout" else ""


def known(outcome: Outcome) -> Known | None:
    """The known bug this exception is, if it is one."""
    exc = outcome.exception
    if exc is None:
        return None
    files = [f.filename.replace(os.sep, "/")
             for f in traceback.extract_tb(exc.__traceback__)]
    for k in KNOWN:
        if type(exc).__name__ == k.exception and any(f.endswith(k.file) for f in files):
            return k
    return None


def judge(case: Case, outcome: Outcome) -> Problem | None:
    """What is wrong with this run, or None (a known bug counts as nothing wrong)."""
    exc = outcome.exception
    if exc is not None and not isinstance(exc, SystemExit):
        if known(outcome):
            return None
        return Problem(exception_signature(exc), outcome.traceback)
    if outcome.exit_code not in (0, 1, 2):
        return Problem(f"exit code {outcome.exit_code}", outcome.stderr[-2000:])
    for stream in (outcome.stdout, outcome.stderr):
        if "Traceback (most recent call last)" in stream:
            return Problem("traceback in the output", stream[-3000:])
    if wants_json(case):
        return json_problem(case, outcome)
    return None


def wants_json(case: Case) -> bool:
    """--json given to a command that has it (for another, `--json 1` is an input's value)."""
    from fuzz.commands import click_commands

    command = click_commands().get(case.command)
    has = command is not None and any("--json" in p.opts for p in command.params)
    return has and "--json" in case.args and not {"--help", "-h"} & set(case.args)


def json_problem(case: Case, outcome: Outcome) -> Problem | None:
    """--json: exactly one JSON object on stdout, never NaN or Infinity; an error object
    (schema 1, kind, message) where the run failed with exit 2."""

    def reject(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    try:
        doc = json.loads(outcome.stdout, parse_constant=reject)
    except ValueError as err:
        return Problem(f"--json: stdout is not one JSON document (exit {outcome.exit_code})",
                       f"{err}\nstdout: {outcome.stdout[:2000]!r}\nstderr: "
                       f"{outcome.stderr[:2000]!r}")
    if not isinstance(doc, dict):
        return Problem("--json: not an object", outcome.stdout[:2000])
    error = doc.get("error")
    if error is not None:
        if doc.get("schema") != 1 or not isinstance(error, dict) or "message" not in error:
            return Problem("--json: a malformed error object", outcome.stdout[:2000])
        if outcome.exit_code == 0:
            return Problem("--json: an error object with exit 0", outcome.stdout[:2000])
    elif outcome.exit_code == 2:
        return Problem("--json: exit 2 without an error object", outcome.stdout[:2000])
    return None


def exception_signature(exc: BaseException) -> str:
    """ExceptionType at the innermost frame of the package (file:function)."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "circuit_backprop" in f.filename] or frames
    where = ""
    if ours:
        f = ours[-1]
        path = f.filename.replace(os.sep, "/")
        short = path.split("circuit_backprop/", 1)[-1]
        where = f" at {short}:{f.name}"
    return f"{type(exc).__name__}{where}"


# --- the cheap tier: parse and run through the API ----------------------------------------------


def run_api(info: Info, gradients: bool = True, expand: bool = False, to_json: bool = True,
            differential: bool = False) -> Problem | None:
    """Parse, resolve the inputs, run, and write the JSON document, through the API: a
    CircuitError is an answer; anything else escaping is a problem."""
    from circuit_backprop.api import Circuit
    from circuit_backprop.errors import CircuitError

    try:
        circuit = Circuit(info.text, expand=expand)
        given = {n: v for n, v in info.values.items()
                 if n in circuit.graph.inputs and n not in info.defaults}
        inputs = circuit.resolve_inputs(given)
        result = circuit.run(inputs, gradients)
        if to_json:
            json.dumps(result.to_json(), allow_nan=False)
        if differential and gradients and info.smooth:
            return differences(circuit, inputs, result, expand)
    except CircuitError:
        return None
    except Exception as exc:  # (anything else escaping is what the fuzz looks for)
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        outcome = Outcome(-1, "", "", exc, tb)
        if known(outcome):
            return None
        return Problem(exception_signature(exc), tb)
    return None


# --- differential checks: the same circuit, computed another way ------------------------------


def differences(circuit: Any, inputs: dict[str, Any], result: Any, expanded: bool
                ) -> Problem | None:
    """Where the run succeeded: the same values and gradients from the circuit expanded (or
    not), and for a scalar circuit from every engine (reference, tensor, bulk levels, bulk
    tape). Only for a well-conditioned circuit (Info.smooth): elsewhere math.pow and np.power
    may part by an ulp, and sin(6.47e92) turns that ulp into -0.85 against 0.54, with no
    bug anywhere (the long run's one difference). Each other way may refuse (an overflow
    inside an expanded sigmoid, a def the bulk engines do not take): only answers are
    compared."""
    from circuit_backprop.api import Circuit
    from circuit_backprop.core import bulk, tensor
    from circuit_backprop.errors import CircuitError

    mine = _numbers(result.trace)
    others: list[tuple[str, Any]] = []
    try:
        other = Circuit(circuit.graph.text, expand=not expanded)
        others.append(("--expand" if not expanded else "not expanded",
                       other.run(other.resolve_inputs(inputs), True).trace))
    except CircuitError:
        pass
    if not result.tensor:
        graph = circuit.graph
        for name, run in (("reference engine", _reference), ("tensor engine", tensor.run),
                          ("bulk levels", bulk.run_levels), ("bulk tape", bulk.run_tape)):
            try:
                others.append((name, run(graph, inputs, True)))
            except (CircuitError, bulk.Fallback):
                pass
    for name, trace in others:
        problem = _compare(mine, _numbers(trace), name, circuit.graph.text)
        if problem is not None:
            return problem
    return None


def _reference(graph: Any, inputs: dict[str, Any], gradients: bool) -> Any:
    from circuit_backprop.core import engine

    return engine.backward(engine.forward(graph, inputs))


def _numbers(trace: Any) -> dict[str, Any]:
    """The output's value and every input's gradient, by name."""
    import numpy as np

    graph = trace.graph
    out = {"value": np.asarray(trace.values[graph.output], dtype=float)}
    for name, node in graph.inputs.items():
        out[f"d{name}"] = np.asarray(trace.grads[node], dtype=float)
    return out


def _compare(a: dict[str, Any], b: dict[str, Any], how: str, text: str) -> Problem | None:
    import numpy as np

    for key in a:
        x, y = a[key], b.get(key)
        if y is None or x.shape != y.shape:
            return Problem(f"differs from the {how}: {key} shape", f"{text}\n{x!r}\n{y!r}")
        scale = 1.0 + float(np.max(np.abs(x), initial=0.0))
        if not np.allclose(x, y, rtol=1e-7, atol=1e-9 * scale):
            return Problem(f"differs from the {how}: {key}", f"{text}\n{key}: {x!r} vs {y!r}")
    return None
