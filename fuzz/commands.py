"""Whole command lines: a command, SOURCE (inline, a file or standard input), input values in
every form the CLI takes, and random *valid* options for that command.

The options are read from the command itself (typer's click command): an option with a
generator below gets values that make sense for the circuit (an input for --wrt, a def for
--expand); any other, including options and commands added later, gets a value from its type
and range. So every option of every command is fuzzed, and new ones with no change here.
"""

from __future__ import annotations

import json
import math
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from fuzz.choices import Chooser, weighted
from fuzz.programs import Program, array_value, scalar_value, value_text
from fuzz.texts import corpus

Shape = tuple[int, ...]


@dataclass
class Case:
    """One run of the command line: its arguments, standard input, and the files it reads
    (written into the working directory first)."""

    args: list[str]
    stdin: str | None = None
    files: dict[str, str | bytes] = field(default_factory=dict)
    kind: str = ""  # which generator made it
    columns: int = 140  # the terminal's width (COLUMNS)

    @property
    def command(self) -> str:
        return self.args[0] if self.args else ""

    def shell(self) -> str:
        """The command line as one would type it (files are in the current directory)."""
        line = shlex.join(["circuit", *self.args])
        if self.columns != 140:
            line = f"COLUMNS={self.columns} {line}"
        if self.stdin is not None:
            line = f"printf %s {shlex.quote(self.stdin)} | {line}"
        return line

    def to_json(self) -> dict[str, Any]:
        return {"args": self.args, "stdin": self.stdin, "kind": self.kind,
                "columns": self.columns,
                "files": {k: v if isinstance(v, str) else {"hex": v.hex()}
                          for k, v in self.files.items()}}


@dataclass
class Info:
    """What a command line may refer to in a circuit: its inputs and values, its names."""

    text: str
    inputs: dict[str, Shape | None]  # None: a shape not known
    values: dict[str, Any]
    defaults: set[str]
    labels: set[str]
    gates: list[str]
    composites: list[str]
    tensor: bool
    smooth: bool = False  # every gate well conditioned at these values (programs.py says so)

    @classmethod
    def of(cls, p: Program) -> Info:
        return cls(p.text, dict(p.inputs), dict(p.values), set(p.defaults), set(p.labels),
                   list(p.gates), list(p.composites), p.tensor, p.smooth)

    @classmethod
    def parsed(cls, ch: Chooser, text: str) -> Info:
        """What the parser itself finds in `text` (for text not built by programs.py), with
        values made up for its inputs; nothing where it does not parse."""
        from circuit_backprop.api import Circuit
        from circuit_backprop.core.composite import user_composites
        from circuit_backprop.errors import CircuitError

        try:
            graph = Circuit(text).graph
        except (CircuitError, RecursionError, MemoryError):
            return cls(text, {}, {}, set(), set(), [], [], False)
        except Exception:  # (a crash here is the CLI run's to report, not the generator's)
            return cls(text, {}, {}, set(), set(), [], [], False)
        shapes = {n: tuple(graph.declared_shapes.get(n, ())) for n in graph.inputs}
        values = {n: _made_up(ch, s) for n, s in shapes.items()}
        gates = [graph.names[n] for n in range(len(graph))
                 if graph.names[n] and graph.is_gate(n)]
        return cls(text, dict(shapes), values, set(graph.defaults), set(), gates,
                   user_composites(graph) + ["sigmoid"], graph.has_arrays)


def _made_up(ch: Chooser, shape: Shape) -> Any:
    """A value of this shape, if it is small enough to make (else one that does not fit)."""
    if not shape:
        return scalar_value(ch)
    return array_value(ch, shape if math.prod(shape) <= 4096 else (2,))


# --- the command line ---------------------------------------------------------------------------


@cache
def click_commands() -> dict[str, Any]:
    """The CLI's commands, as click sees them (the source of every option's name and type)."""
    import typer.main

    from circuit_backprop.cli import app

    return dict(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


COMMAND_WEIGHTS = {"backward": 30, "eval": 20, "draw": 12, "plot": 8, "torch": 6, "grade": 8,
                   "lesson": 4}
NEW_COMMAND_WEIGHT = 4  # a command added later, fuzzed from its options alone


def command_case(ch: Chooser, info: Info, command: str | None = None, kind: str = "",
                 costly: float = 1.0) -> Case:
    """A command line for the circuit in `info`. `costly` scales how often the slow paths run
    (--check-torch, Graphviz and matplotlib output, the HTML lesson)."""
    commands = click_commands()
    if command is None:
        table = [(COMMAND_WEIGHTS.get(c, NEW_COMMAND_WEIGHT), c) for c in sorted(commands)]
        if costly < 1:
            table = [(max(1, round(w * costly)) if c == "lesson" else w, c) for w, c in table]
        if info.tensor:  # (plot takes scalar circuits: mostly something else)
            table = [(1 if c == "plot" else w, c) for w, c in table]
        command = weighted(ch, table)
    click_command = commands[command]
    options = {o: p for p in click_command.params for o in p.opts + p.secondary_opts
               if p.param_type_name == "option"}
    case = Case([command], kind=kind)
    case.columns = weighted(ch, [(8, 140), (2, 80), (1, 40), (1, 20), (1, 250)])
    positional = [_source(ch, info, case)]
    if command == "grade":
        positional.append(_answers_file(ch, info, case))
    values = _values(ch, info, case, set(options) | {"--help", "-h"}, "--random" in options)
    chosen = _options(ch, info, case, command, click_command, costly)
    parts = [positional, values, chosen]
    if ch.coin(0.3):  # options and values before SOURCE, or between
        parts = [values, chosen, positional] if ch.coin(0.5) else [chosen, positional, values]
    for part in parts:
        case.args += part
    return case


def _source(ch: Chooser, info: Info, case: Case) -> str:
    how = weighted(ch, [(6, "inline"), (3, "file"), (1, "stdin")])
    text = info.text
    if how == "inline":
        return text
    if how == "stdin":
        case.stdin = text
        return "-"
    name = ch.pick(["prog.circ", "./prog.circ", "a b.circ"])
    data: str | bytes = ch.pick(["", "\ufeff"]) + text
    if ch.coin(0.05):  # not UTF-8
        data = text.encode("utf-8", "surrogatepass") + ch.pick([b"\xff", b"\xc3", b""])
    case.files[name.removeprefix("./")] = data
    return name


def _value_forms(ch: Chooser, name: str, text: str, clash: bool) -> list[str]:
    if clash or not name.isidentifier():
        return ["--set", f"{name}={text}"]
    return weighted(ch, [(4, ["--" + name, text]), (2, [f"--{name}={text}"]),
                         (1, ["--set", f"{name}={text}"])])


def _values(ch: Chooser, info: Info, case: Case, options: set[str], has_random: bool
            ) -> list[str]:
    """--NAME VALUE for the inputs without a default (and some with), or --random SEED."""
    out: list[str] = []
    random_seed = has_random and ch.coin(0.12)
    for name, shape in info.inputs.items():
        default = name in info.defaults
        if default and ch.coin(0.8) or random_seed and ch.coin(0.7) and not default:
            continue
        if ch.coin(0.01):
            continue  # a value left out on purpose
        value = info.values.get(name)
        if value is None:
            value = _made_up(ch, shape or ())
        text = _value_text(ch, name, value, case)
        out += _value_forms(ch, name, text, "--" + name in options)
    if random_seed:
        out += ["--random", str(ch.integer(0, 2**32 - 1) if ch.coin(0.8) else ch.integer(0, 9))]
    if ch.coin(0.02):  # a value for a name that is not an input
        out += ["--nosuch", "1"]
    return out


def _value_text(ch: Chooser, name: str, value: Any, case: Case) -> str:
    """A value on the command line: a number, an array literal, or @FILE (.npy, .json, .csv)."""
    import numpy as np

    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim and ch.coin(0.15):
        kind = ch.pick([".json", ".npy"] + ([".csv"] if arr.ndim == 2 else []))
        file = f"{name}_value{kind}"
        if kind == ".json":
            case.files[file] = json.dumps(arr.tolist())
        elif kind == ".csv":
            case.files[file] = "\n".join(",".join(repr(v) for v in row) for row in arr.tolist())
        else:
            import io

            buffer = io.BytesIO()
            np.save(buffer, arr, allow_pickle=False)
            case.files[file] = buffer.getvalue()
        return "@" + file
    if arr.ndim == 0 and ch.coin(0.3):
        v = float(arr)
        return ch.pick([repr(v), f"{v:g}", f"{v:.3e}", ("+" if v >= 0 else "") + repr(v)])
    return value_text(ch, arr)


# --- options ------------------------------------------------------------------------------------

Gen = Callable[[Chooser, Info, Case], list[str]]


def _flag(name: str) -> Gen:
    return lambda ch, info, case: [name]


def _numbers(name: str, *choices: str) -> Gen:
    return lambda ch, info, case: [name, ch.pick(choices)]


def _precision(ch: Chooser, info: Info, case: Case) -> list[str]:
    return ["--precision", str(ch.pick([6, 1, 2, 3, 4, 10, 15, 17]))]


def _expand(ch: Chooser, info: Info, case: Case) -> list[str]:
    names = info.composites or ["sigmoid"]
    some = ",".join(dict.fromkeys(ch.pick(names) for _ in range(ch.integer(1, 2))))
    return weighted(ch, [(8, ["--expand"]), (6, [f"--expand={some}"]), (2, ["--expand", some]),
                         (1, ["--expand=nosuch"])])


def _names(info: Info) -> list[str]:
    return list(info.inputs) + info.gates


def _requires_grad(ch: Chooser, info: Info, case: Case) -> list[str]:
    names = _names(info) or ["x"]
    pick = ",".join(dict.fromkeys(ch.pick(names) for _ in range(ch.integer(1, 3))))
    return ["--requires-grad", weighted(ch, [(6, pick), (1, ""), (1, "nosuch")])]


def _around(ch: Chooser, info: Info, case: Case) -> list[str]:
    out = ["--around", ch.pick(_names(info) or ["x"])]
    if ch.coin(0.5):
        out += ["--depth", str(ch.pick([2, 0, 1, 3, 5, -1]))]
    return out


def _draw_output(ch: Chooser, info: Info, case: Case, costly: float) -> list[str]:
    cheap = [(8, "text"), (4, "dot")]
    dear = [(3, "svg"), (1, "png"), (1, "pdf")]
    fmt = weighted(ch, cheap + [(max(1, round(w * costly)), f) for w, f in dear]
                   if costly >= 0.2 or ch.coin(costly * 5) else cheap)
    out = []
    if ch.coin(0.7):
        out += ["--format", fmt]
    if ch.coin(0.9 if fmt in ("png", "pdf") else 0.3):
        ext = fmt if fmt != "text" else ch.pick(["txt", "dot"])
        out += ["-o", f"out.{ext}"]
    if fmt in ("svg", "png", "pdf") and ch.coin(0.5):
        out += ["--title", _title(ch)]
    if fmt == "png" and ch.coin(0.5):
        out += ["--scale", ch.pick(["0.25", "1", "2", "10"])]
    return out


def _title(ch: Chooser) -> str:
    return ch.pick(["A neuron", "", "∂f/∂x <b>&amp;</b> \"q\" 'x'", "<script>alert(1)</script>",
                    "x" * 300, "line\nbreak", "é ٣ 😀", "{}", "%s", "\\"])


def _plot(ch: Chooser, info: Info, case: Case, costly: float) -> list[str]:
    scalars = [n for n, s in info.inputs.items() if not s and n not in info.labels]
    wrt = ch.pick(scalars) if scalars and ch.coin(0.95) else ch.pick(list(info.inputs) or ["x"])
    out = ["--wrt", wrt]
    if ch.coin(0.5):
        a, b = sorted([scalar_value(ch, 0.02), scalar_value(ch, 0.02)])
        if ch.coin(0.1):
            a, b = b, a
        text = f"{a:g}:{b:g}"
        out += [f"--range={text}"] if ch.coin(0.5) else ["--range", text]
    if ch.coin(0.5):
        out += ["--points", str(ch.pick([201, 2, 3, 10, 50]))]
    if ch.coin(0.05 * costly):
        out += ["-o", ch.pick(["plot.png", "plot.svg", "plot.pdf"])]
    return out


def _grade_points(ch: Chooser, info: Info, case: Case) -> list[str]:
    return ["--points", ch.pick(["1", "0", "2.5", "100", "1e308"])]


def _lesson_output(ch: Chooser, info: Info, case: Case) -> list[str]:
    return ["-o", ch.pick(["lesson.html", "out/lesson.html", "lesson"])]


COMMON: dict[str, Gen] = {
    "--json": _flag("--json"),
    "--precision": _precision,
    "--all": _flag("--all"),
    "--full": _flag("--full"),
    "--check-torch": _flag("--check-torch"),
    "--check-numeric": _flag("--check-numeric"),
    "--rtol": _numbers("--rtol", "1e-9", "0", "1e-3", "1", "1e300"),
    "--atol": _numbers("--atol", "1e-12", "0", "1e-6", "1"),
    "--eps": _numbers("--eps", "1e-6", "1e-4", "1e-300", "0.5", "1e10"),
    "--numeric-atol": _numbers("--numeric-atol", "1e-5", "0", "1", "1e-12"),
    "--numeric-rtol": _numbers("--numeric-rtol", "1e-3", "0", "1"),
    "--expand": _expand,
    "--requires-grad": _requires_grad,
    "--passes": _numbers("--passes", "1", "2", "3"),
    "--zero-grad": _flag("--zero-grad"),
    "--no-retain-graph": _flag("--no-retain-graph"),
    "--forward-only": _flag("--forward-only"),
    "--around": _around,
    "--max-nodes": _numbers("--max-nodes", "200", "1", "3", "10", "1000"),
    "--predict": _flag("--predict"),
    "--title": lambda ch, info, case: ["--title", _title(ch)],
    "--gradescope": lambda ch, info, case: ["--gradescope", "results.json"],
    "--max-source-bytes": lambda ch, info, case: ["--max-source-bytes", weighted(
        ch, [(8, "1000000"), (1, "1"), (1, "100"), (1, "100000000000")])],
}
# options with a generator of their own for one command (or left to another's: --depth)
HANDLED = {"--set", "--random", "--steps", "--pause", "--format", "-o", "--output", "--depth",
           "--scale", "--wrt", "--range", "--points", "--help", "-h"}


def _options(ch: Chooser, info: Info, case: Case, command: str, click_command: Any,
             costly: float) -> list[str]:
    params = [p for p in click_command.params if p.param_type_name == "option"]
    names = {o for p in params for o in p.opts}
    out: list[str] = []
    if command == "draw":
        out += _draw_output(ch, info, case, costly)
    elif command == "plot":
        out += _plot(ch, info, case, costly)
    elif command == "lesson" and ch.coin(0.3):
        out += _lesson_output(ch, info, case)
    elif command == "grade" and ch.coin(0.3):
        out += _grade_points(ch, info, case)
    walk = "--steps" in names and ch.coin(0.15)
    if walk:
        out += ["--steps"] + (["--pause"] if ch.coin(0.2) else [])
    for p in params:
        name = p.opts[0] if p.opts[0].startswith("--") else p.opts[-1]
        if name in HANDLED or set(p.opts) & HANDLED:
            continue
        if walk and name in ("--json", "--check-torch", "--check-numeric", "--requires-grad",
                             "--passes", "--zero-grad", "--no-retain-graph"):
            continue  # (--steps is a walkthrough: not with those; a usage error if it were)
        chance = 0.25 if name in ("--json", "--check-numeric", "--expand") else 0.1
        if name == "--check-torch":
            chance = 0.08 * costly
        if name in ("--requires-grad", "--passes", "--zero-grad", "--no-retain-graph"):
            chance = (0.01 if info.tensor else 0.08) * costly  # (autograd's: scalar circuits)
        if not ch.coin(chance):
            continue
        gen = COMMON.get(name)
        out += gen(ch, info, case) if gen else _from_type(ch, p, name, info)
    return out


def _from_type(ch: Chooser, param: Any, name: str, info: Info) -> list[str]:
    """A value for an option nothing here knows, from its click type and range."""
    kind = type(param.type).__name__
    if getattr(param, "is_flag", False) or kind == "BoolParamType":
        return [name]
    if kind in ("IntRange", "IntParamType"):
        lo = getattr(param.type, "min", None)
        hi = getattr(param.type, "max", None)
        lo = 0 if lo is None else lo
        hi = lo + 10 if hi is None else min(hi, lo + 1000)
        return [name, str(ch.pick([lo, hi, ch.integer(lo, hi)]))]
    if kind in ("FloatRange", "FloatParamType"):
        lo = getattr(param.type, "min", None)
        hi = getattr(param.type, "max", None)
        lo = 0.0 if lo is None else float(lo)
        hi = lo + 10.0 if hi is None or not math.isfinite(hi) else float(hi)
        return [name, repr(ch.pick([lo, hi, ch.real(lo, hi)]))]
    if kind == "Choice":
        return [name, ch.pick(list(param.type.choices))]
    return [name, ch.pick(_names(info) + ["x", "out.txt", ""])]


# --- grade: answer files ------------------------------------------------------------------------


def _answers_file(ch: Chooser, info: Info, case: Case) -> str:
    text = answers_text(ch, info)
    name = ch.pick(["answers.circ", "quiz.json"]) if text.lstrip().startswith("{") \
        else "answers.circ"
    case.files[name] = text
    return name


def answers_text(ch: Chooser, info: Info) -> str:
    """A learner's backward pass for the circuit: `dNAME = ...` lines over its forward names
    (right or wrong), `+=` at forks, values only, or a JSON quiz."""
    from fuzz.texts import mutate

    names = _names(info)
    kind = weighted(ch, [(5, "lines"), (2, "values"), (2, "json"), (2, "shipped")])
    if kind == "shipped" or not names:
        answers = [t for p, t in corpus()
                   if "/answer" in p or "/wrong_" in p or p.endswith(".json")]
        text = ch.pick(answers)
        return mutate(ch, text) if ch.coin(0.5) else text
    if kind == "json":
        doc = {f"d{n}": _answer_value(ch, info, n) for n in _some(ch, names)}
        return json.dumps(doc)
    lines = []
    for n in _some(ch, names):
        op = "+=" if lines and ch.coin(0.15) else "="
        if kind == "values":
            rhs = value_text(ch, _answer_value(ch, info, n))
        else:
            terms = [ch.pick(names + [f"d{m}" for m in names[:2]] + ["1", "2.0", "-1"])
                     for _ in range(ch.integer(1, 3))]
            rhs = ch.pick([" * ", " + ", " - "]).join(terms)
        lines.append(f"d{n} {op} {rhs}")
    return "\n".join(lines)


def _some(ch: Chooser, names: list[str]) -> list[str]:
    return [n for n in names if ch.coin(0.6)] or names[:1]


def _answer_value(ch: Chooser, info: Info, name: str) -> Any:
    import numpy as np

    shape = tuple(info.inputs.get(name) or np.shape(info.values.get(name, 0.0)))
    value = _made_up(ch, shape)
    return value.tolist() if shape else value
