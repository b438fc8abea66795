"""The Python API: a circuit, its forward and backward passes, and the checks, as objects.

    import circuit_backprop as cb

    c = cb.Circuit("q = x + 2*y; f = q*z")
    r = c.backward(x=3, y=-4, z=19)
    r.value, r.grad["x"], r.grad["q"]        # -95.0, 19.0, 19.0
    r.check_torch().ok                        # PyTorch agrees on every gate

Everything the command line does goes through here: the CLI only reads arguments and prints.
Nothing here prints; results display themselves in Jupyter (`_repr_html_`) and in a terminal
(`rich.print(r)`, through `__rich__`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from circuit_backprop.checks.options import (
    NUMERIC_ATOL,
    NUMERIC_EPS,
    NUMERIC_RTOL,
    TORCH_ATOL,
    TORCH_RTOL,
    TorchOptions,
)
from circuit_backprop.core.graph import Graph, answer_names
from circuit_backprop.errors import CircuitError, UsageError, close_matches, shorten
from circuit_backprop.views.numberformat import (
    DEFAULT_PRECISION,
    DRAWING_PRECISION,
    NumberFormat,
)

# --- reading programs -----------------------------------------------------------------------


def read_file(source: str | Path | IO[bytes], *, max_bytes: int | None = None,
              origin: str = "<stdin>") -> str:
    """A program's text, from a file or from an open binary stream such as standard input (named
    `origin`): UTF-8, a BOM dropped; a UsageError that says why it cannot be.

    A source over `max_bytes` (default: errors.SOURCE_BYTES_LIMIT) is refused having read at
    most `max_bytes` + 1 bytes of it (a regular file by its size, before reading), so that
    /dev/zero, an endless pipe or a wrong file fails at once instead of filling the memory."""
    import os
    import stat

    from circuit_backprop.errors import SOURCE_BYTES_LIMIT, SourceTooLarge

    if max_bytes is None:
        max_bytes = SOURCE_BYTES_LIMIT

    def read_capped(stream: IO[bytes], name: str) -> bytearray:
        data = bytearray()
        while len(data) <= max_bytes:
            chunk = stream.read(min(1 << 20, max_bytes + 1 - len(data)))
            if not chunk:
                return data
            data += chunk
        raise SourceTooLarge(name, max_bytes)

    if not isinstance(source, (str, Path)):
        try:
            return decode(read_capped(source, origin), origin)
        except OSError as e:
            raise UsageError(f"cannot read {origin}: {e.strerror or e}") from None
    path = Path(source)
    if path.is_dir():
        raise UsageError(f"{path} is a directory, not a circuit file")
    try:
        with path.open("rb") as f:
            info = os.fstat(f.fileno())
            if stat.S_ISREG(info.st_mode) and info.st_size > max_bytes:
                raise SourceTooLarge(str(path), max_bytes)
            data = read_capped(f, str(path))
    except FileNotFoundError:
        raise UsageError(f"no such file: {path}") from None
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror or e}") from None
    return decode(data, str(path))


def decode(data: bytes | bytearray, origin: str) -> str:
    """UTF-8 text, a BOM dropped; a UsageError naming the first byte that is not UTF-8."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        message = f"{origin} is not UTF-8 text (byte {e.start} is 0x{data[e.start]:02x})"
        raise UsageError(message) from None
    return text.removeprefix("\ufeff")


# --- reading arrays -------------------------------------------------------------------------

LITERAL_PREFIX = "input value = "  # an array written as text is parsed as this input's default


def parse_array(text: str, name: str = "value") -> Any:
    """An array written as the language writes it, `[[1, 2], [3, 4]]`, as a float64 NumPy array
    (parsed by the circuit grammar itself: rectangular, ASCII numbers only, never eval'd)."""
    from circuit_backprop.errors import SourceError, number_hints
    from circuit_backprop.lang.parse import parse

    try:
        graph = parse(LITERAL_PREFIX + text.strip())
    except SourceError as err:
        column = (err.column or 1) - len(LITERAL_PREFIX)
        where = f" (at character {column})" if column >= 1 else ""
        message = err.message.removeprefix("syntax error: ")
        raise UsageError(f"the value for '{name}' is not an array: {message}{where}",
                         number_hints(text)
                         or ["write an array as [1, 2, 3] or [[1, 2], [3, 4]]"]) from None
    return _input_value(name, graph.defaults["value"])


def read_array(path: str | Path, name: str = "value", *, max_bytes: int | None = None) -> Any:
    """An array from a file: .npy (NumPy's format), .json (nested lists of numbers) or .csv
    (rows of numbers separated by commas). A .json or .csv file is text read as a program is
    (at most `max_bytes`), its numbers plain JSON numbers or ASCII ones: never a string, true,
    or ٣ (which float() would read as 3)."""
    import numpy as np

    from circuit_backprop.errors import number_hints, shorten

    path = Path(path)
    kind = path.suffix.lower()
    if kind not in (".npy", ".json", ".csv"):
        raise UsageError(f"--{name} @{path}: arrays are read from .npy, .json or .csv files")
    cannot = f"cannot read an array for '{name}' from {path}"
    try:
        if kind == ".npy":
            value = np.load(path, allow_pickle=False)
        elif kind == ".json":
            import json

            value = json.loads(read_file(path, max_bytes=max_bytes))
            items = [value]
            while items:  # every leaf a number, in the order of the file
                item = items.pop()
                if isinstance(item, list):
                    items.extend(reversed(item))
                elif isinstance(item, bool) or not isinstance(item, (int, float)):
                    shown = shorten(json.dumps(item, ensure_ascii=False))
                    raise UsageError(f"{cannot}: it holds {shown}, not a number",
                                     number_hints(item) if isinstance(item, str) else [])
        else:
            import io

            text = read_file(path, max_bytes=max_bytes)
            if not text.isascii():
                at = next(i for i, c in enumerate(text) if not c.isascii())
                line = text.count("\n", 0, at) + 1
                column = at - (text.rfind("\n", 0, at) + 1) + 1
                raise UsageError(f"{cannot}: line {line}, column {column} is not ASCII",
                                 number_hints(text[at]))
            value = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.float64)
    except FileNotFoundError:
        raise UsageError(f"no such file: {path} (the value for '{name}')") from None
    except UsageError as err:
        if err.message.startswith(cannot):
            raise
        raise UsageError(f"{err.message} (the value for '{name}')", err.details) from None
    except (OSError, ValueError, UnicodeDecodeError, RecursionError) as err:
        raise UsageError(f"{cannot}: {err}") from None
    return _input_value(name, value)


def _with_origin(err: CircuitError, origin: str) -> CircuitError:
    err.origin = origin
    return err


# --- the circuit ----------------------------------------------------------------------------


class Circuit:
    """A program parsed into a gate graph, ready to run with any input values.

    `source` is program text (`"q = x + 2*y; f = q*z"`, or a whole `.circ` file's text) or a
    `Graph` built in Python. `expand=True` breaks every composite gate (each `def`, and built-ins
    such as sigmoid) into primitive gates; a list of names expands only those.
    """

    def __init__(self, source: str | Graph, *, expand: bool | Sequence[str] = False,
                 origin: str = "") -> None:
        from circuit_backprop.lang.parse import parse

        self.origin = origin
        try:
            graph = source if isinstance(source, Graph) else parse(source)
            if expand:
                from circuit_backprop.lang.expand import expand as expand_graph

                graph = expand_graph(graph, None if expand is True else list(expand))
        except CircuitError as err:
            raise _with_origin(err, origin) from None
        self.graph = graph

    @classmethod
    def load(cls, path: str | Path, *, expand: bool | Sequence[str] = False) -> Circuit:
        """The circuit in a `.circ` file."""
        return cls(read_file(path), expand=expand, origin=str(path))

    @property
    def inputs(self) -> dict[str, float | None]:
        """Each input's name and its default value (None where the program gives none)."""
        return {name: self.graph.defaults.get(name) for name in self.graph.inputs}

    @property
    def output(self) -> str:
        return self.graph.label(self.graph.output)

    def __len__(self) -> int:
        return len(self.graph)

    def __repr__(self) -> str:
        inputs = ", ".join(name if value is None else f"{name}={_short(value)}"
                           for name, value in self.inputs.items())
        return f"<Circuit {self.output}({inputs}): {len(self.graph)} nodes>"

    def values_for(self, given: Mapping[str, float] | None = None, /,
                   **values: float) -> dict[str, float]:
        """Every input's value: the given ones over the program's `input` defaults."""
        return self.resolve_inputs({**(given or {}), **values})

    def resolve_inputs(self, given: Mapping[str, Any], spelled: str = "") -> dict[str, float]:
        """`values_for`, with names written as `spelled` + name in hints (the CLI: "--")."""
        graph = self.graph
        unknown = [name for name in given if name not in graph.inputs]
        if unknown:
            hints = [f"{spelled}{name}: did you mean {spelled}{close[0]}?" for name in unknown
                     if (close := close_matches(name, list(graph.inputs)))]
            raise UsageError(
                f"unknown input{'s' if len(unknown) > 1 else ''} "
                + ", ".join(f"'{n}'" for n in unknown)
                + f"; this circuit's inputs are: {', '.join(graph.inputs) or 'none'}",
                hints,
            )
        merged: dict[str, Any] = dict(graph.defaults)
        for name, value in given.items():
            merged[name] = _input_value(name, value)
        missing = [name for name in graph.inputs if name not in merged]
        if missing:
            raise UsageError(
                "missing value for input" + ("s " if len(missing) > 1 else " ")
                + ", ".join(f"'{n}'" for n in missing),
                ["give " + " ".join(f"--{n} VALUE" for n in missing)
                 + ", or a default in the program: input NAME = VALUE"],
            )
        return {name: merged[name] for name in graph.inputs}

    def random_values(self, seed: int, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The given values, and a seeded random value for every other input that has no
        default: standard normal numbers of its declared shape (a number where none is
        declared), and, for the labels of a cross_entropy, integer classes 0 .. C-1."""
        import numpy as np

        from circuit_backprop.core.arrays import ShapeError
        from circuit_backprop.core.shapes import infer

        graph = self.graph
        if seed < 0:  # (numpy's "expected non-negative integer")
            raise UsageError(f"--random: the seed is a whole number, 0 or more; got {seed}")
        rng = np.random.default_rng(seed)
        values = {name: _input_value(name, v) for name, v in (given or {}).items()}
        labels = self._label_inputs()
        todo = [n for n in graph.inputs if n not in values and n not in graph.defaults]
        for name in todo:
            if name not in labels:
                shape = graph.declared_shapes.get(name, ())
                values[name] = _random_normal(rng, name, shape)
        wanted = [name for name in todo if name in labels]
        if not wanted:
            return values
        known = {**graph.defaults, **values}
        try:
            shapes = infer(graph, {n: np.shape(known[n]) if n in known
                                   else graph.declared_shapes.get(n) for n in graph.inputs})
        except ShapeError:  # (the run says so, at its place)
            shapes = [None] * len(graph)
        for name in wanted:
            logits = shapes[labels[name]]
            classes = logits[-1] if logits else 2
            shape = graph.declared_shapes.get(name, logits[:-1] if logits else ())
            values[name] = rng.integers(0, classes, size=shape).astype(np.float64)
        return values

    def _label_inputs(self) -> dict[str, int]:
        """Inputs that are the labels of an op (cross_entropy's): name -> the logits' node."""
        graph = self.graph
        names = {node: name for name, node in graph.inputs.items()}
        found = {}
        for node, args in enumerate(graph.args):
            if args and graph.is_gate(node):
                for k in graph.op(node).labels:
                    if args[k] in names:
                        found[names[args[k]]] = args[0]
        return found

    def eval(self, given: Mapping[str, float] | None = None, /, **values: float) -> Result:
        """The forward pass: every gate's value. Values may also come as a dict (for input
        names that are not Python identifiers or clash with a keyword)."""
        return self.run(self.values_for(given, **values), gradients=False)

    def backward(self, given: Mapping[str, float] | None = None, /, **values: float) -> Result:
        """The forward and the backward pass: every value, local gradient and ∂output/∂node."""
        return self.run(self.values_for(given, **values), gradients=True)

    def run(self, inputs: dict[str, float], gradients: bool = True) -> Result:
        """The passes with every input's value already resolved (see `resolve_inputs`)."""
        from circuit_backprop.core import engine

        try:
            trace = engine.run(self.graph, inputs, gradients=gradients)
        except CircuitError as err:
            raise _with_origin(err, self.origin) from None
        return Result(self, trace, inputs)

    def draw(self, given: Mapping[str, float] | None = None, /, *, forward_only: bool = False,
             around: str | None = None, depth: int | None = None, max_nodes: int | None = None,
             precision: int = DRAWING_PRECISION, **values: float) -> Drawing:
        """The circuit as a diagram (values green, gradients red); displays as SVG in Jupyter."""
        run = self.eval if forward_only else self.backward
        return run(given, **values).draw(around=around, depth=depth, max_nodes=max_nodes,
                                         precision=precision)

    def grade(self, answers: str, given: Mapping[str, Any] | None = None, /, *,
              points: float = 1.0, origin: str = "<answers>", **values: Any) -> GradeReport:
        """Grade a learner's backward pass (`circuit grade`): `answers` is their program of
        gradients (dq = z; dx = dq * 1; dx += ...), or a JSON object of values ({"dx": 19}).
        Each answered gradient against the engine's, and the first wrong step."""
        from circuit_backprop.checks.grade import grade
        from circuit_backprop.lang.answers import parse_answers

        result = self.backward(given, **values)
        text = answers_text(answers)
        forward = list(answer_names(result.graph))
        try:
            parsed = parse_answers(text, forward)
        except CircuitError as err:
            raise _with_origin(err, origin) from None
        return GradeReport(result, grade(parsed, result.trace, points))

    def lesson(self, given: Mapping[str, Any] | None = None, /, *, predict: bool = False,
               title: str | None = None, **values: Any) -> Lesson:
        """The HTML lesson (`circuit lesson`): both passes step by step in one offline page."""
        return self.backward(given, **values).lesson(predict=predict, title=title)

    def grad_program(self, given: Mapping[str, Any] | None = None, /, **values: Any) -> str:
        """The backward pass as a program in the circuit language (`circuit grad`): one
        `dNAME = ...` line per gradient, each its gate's rule from the op registry."""
        return self.backward(given, **values).grad_program()

    def torch_program(self, given: Mapping[str, float] | None = None, /,
                      **values: float) -> str:
        """The circuit as a standalone PyTorch program (`circuit torch`); needs no torch."""
        from circuit_backprop.views.torchscript import script

        return script(self.eval(given, **values).trace)


def _random_normal(rng: Any, name: str, shape: tuple[int, ...]) -> Any:
    """Standard normal numbers of an input's declared shape; a shape numpy cannot even allocate
    (`input W[100000000000, 100000000000]`: "array is too big") is a usage error naming it."""
    if not shape:
        return float(rng.standard_normal())
    try:
        return rng.standard_normal(shape)
    except ValueError:
        dims = shorten(", ".join(str(d) for d in shape))
        count = math.prod(shape)
        size = f"{count:.3g}" if count < 10**300 else f"about 10^{len(str(count)) - 1}"
        raise UsageError(f"--random: input {name}[{dims}] is too large to make "
                         f"({size} numbers)") from None


def _input_value(name: str, value: Any) -> Any:
    """A number as a float; an array (a NumPy array, or nested lists) as a float64 array."""
    if isinstance(value, list | tuple) or hasattr(value, "__array__"):
        return _finite_array(name, value)
    return _finite(name, value)


def _finite_array(name: str, value: Any) -> Any:
    import numpy as np

    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"the value for '{name}' is not an array of numbers: {exc}") from None
    if array.ndim == 0:
        return _finite(name, float(array))
    bad = np.argwhere(~np.isfinite(array))
    if len(bad):
        index = ", ".join(map(str, bad[0]))
        raise UsageError(f"the value for '{name}' must be finite numbers, got "
                         f"{array[tuple(bad[0])]!r} at [{index}]")
    return array


def _finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise UsageError(f"the value for '{name}' is not a number: {value!r}") from None
    value = float(value)
    if not math.isfinite(value):
        raise UsageError(f"the value for '{name}' must be a finite number, got {value!r}")
    return value


def _out(value: Any) -> Any:
    """A value as the API hands it out: a float for a scalar, a NumPy array for an array."""
    return value if getattr(value, "ndim", 0) else float(value)


def _short(value: Any) -> str:
    if getattr(value, "ndim", 0):
        return f"array{list(value.shape)}"
    return f"{value:g}"


# --- results --------------------------------------------------------------------------------


class Displayable:
    """Shows itself as its `renderables()`: in a terminal (`rich.print`) and in Jupyter (HTML)."""

    def renderables(self) -> list[Any]:
        raise NotImplementedError

    def __rich__(self) -> Any:
        from rich.console import Group

        return Group(*self.renderables())

    def _repr_html_(self) -> str:
        return html_of(self)


@dataclass(frozen=True)
class Gate:
    """One node of a run, as the JSON's `gates` entries: an input, a constant or a gate.

    `inputs` are node ids (`input_labels` says them as the tables do); `local[k]` and
    `downstream[k]` belong to input k, None on a wire that carries no gradient.
    """

    id: int
    name: str | None
    label: str
    op: str
    inputs: tuple[int, ...]
    input_labels: tuple[str, ...]
    value: float
    grad: float | None
    local: tuple[float | None, ...] | None
    downstream: tuple[float | None, ...] | None
    source: str
    line: int
    column: int
    note: str | None


@dataclass
class Result(Displayable):
    """One run of a circuit: every node's value (and, after `backward`, its gradient)."""

    circuit: Circuit
    trace: Any  # engine.Trace
    inputs: dict[str, float]
    precision: int = DEFAULT_PRECISION  # for display only
    full: bool = False  # show every element of large arrays (display only)
    _gates: list[Gate] | None = field(default=None, repr=False)

    @property
    def graph(self) -> Graph:
        return self.trace.graph

    @property
    def output(self) -> str:
        return self.graph.label(self.graph.output)

    @property
    def number_format(self) -> NumberFormat:
        """How the views write this result's numbers: `precision` significant digits, and
        arrays in full up to ARRAY_LIMIT elements (every element with `full`)."""
        if self.full:
            return NumberFormat(self.precision, math.inf, math.inf)
        return NumberFormat(self.precision)

    @property
    def tensor(self) -> bool:
        """Did this run carry arrays on its wires?"""
        return hasattr(self.trace, "shapes")

    @property
    def value(self) -> Any:
        """The output's value: a float, or a NumPy array."""
        return _out(self.trace.output_value)

    @property
    def has_gradients(self) -> bool:
        return self.trace.grads is not None

    @property
    def values(self) -> dict[str, float]:
        """The value of every input and named gate."""
        return {self.graph.label(n): _out(self.trace.values[n]) for n in self._named()}

    @property
    def grad(self) -> dict[str, float]:
        """∂output/∂ every input and every named gate (after `backward`)."""
        if self.trace.grads is None:
            raise UsageError("no gradients after eval(): run circuit.backward(...)")
        return {self.graph.label(n): _out(self.trace.grads[n]) for n in self._named()}

    def _named(self) -> list[int]:
        from circuit_backprop.core.graph import summary_nodes

        return summary_nodes(self.graph)

    @property
    def gates(self) -> list[Gate]:
        """One record per node, in topological order (a gate's inputs come before it)."""
        if self._gates is None:
            self._gates = [self._gate(node) for node in range(len(self.graph))]
        return self._gates

    def _gate(self, node: int) -> Gate:
        graph, trace = self.graph, self.trace
        line, column = graph.position(node)
        backward = trace.grads is not None
        args = graph.args[node]
        local = trace.local[node] if backward else None
        return Gate(
            id=node, name=graph.names[node], label=graph.label(node), op=graph.ops[node],
            inputs=tuple(args), input_labels=tuple(graph.label(i) for i in args),
            value=trace.values[node],
            grad=trace.grads[node] if backward else None,
            local=(tuple(local) if local is not None else (None,) * len(args)) if backward
            else None,
            downstream=tuple(trace.downstream(node)) if backward else None,
            source=graph.source(node), line=line, column=column, note=trace.kink(node),
        )

    def grad_program(self) -> str:
        """The backward pass as a program in the circuit language (`circuit grad`)."""
        from circuit_backprop.views.gradprogram import program

        return program(self.trace, self.circuit.origin or None)

    def backward_circuit(self, wrt: str | None = None) -> Circuit:
        """The backward pass as a Circuit: the forward gates, then one gate per gradient, its
        output the gradient of `wrt` (an input or gate name; the first input by default).
        Evaluate it, draw it, or take its backward pass: the second derivatives."""
        from circuit_backprop.views.gradprogram import backward_circuit

        return Circuit(backward_circuit(self.trace, wrt), origin=self.circuit.origin)

    def grad_program_json(self) -> dict[str, Any]:
        """`circuit grad --json`: the program, and the gradients computed by running it (as an
        answer file is run: the forward values in, each dNAME's final value out)."""
        from circuit_backprop.checks.grade import evaluate, finite_or_none
        from circuit_backprop.lang.answers import parse_answers
        from circuit_backprop.views.tensorreport import plain

        text = self.grad_program()
        names = answer_names(self.graph)
        answers = parse_answers(text, names)
        values = evaluate(answers.graph, {n: self.trace.values[i] for n, i in names.items()}, {})
        gradients = {g[1:]: plain(finite_or_none(values[answers.final_node(g)]))
                     for g in answers.gradients}
        return {"schema": 1, "program": text, "gradients": gradients}

    def to_json(self) -> dict[str, Any]:
        """Exactly the document that `circuit eval|backward ... --json` prints."""
        if self.tensor:
            from circuit_backprop.views import tensorreport

            return tensorreport.to_json(self.trace, self.inputs)
        from circuit_backprop.views import report

        return report.to_json(self.trace, self.inputs)

    def write_json(self, out: IO[str]) -> None:
        """`to_json()` written to `out` as one line of JSON (streamed for a big scalar circuit:
        report.write_json)."""
        from circuit_backprop.views import report

        if self.tensor:
            out.write(report.dumps(self.to_json()) + "\n")
        else:
            report.write_json(self.trace, self.inputs, out)

    def check_torch(self, rtol: float = TORCH_RTOL, atol: float = TORCH_ATOL) -> TorchReport:
        """Rebuild the circuit in PyTorch (float64) and compare every gate's value (and
        gradient, after `backward`). Needs torch; raises TorchMissing (a UsageError) without."""
        return self.torch_experiment(TorchOptions(check=True, rtol=rtol, atol=atol))

    def autograd(self, requires_grad: Sequence[str] | None = None, passes: int = 1,
                 zero_grad: bool = False, retain_graph: bool = True, rtol: float = TORCH_RTOL,
                 atol: float = TORCH_ATOL) -> TorchReport:
        """Autograd's behaviour, as in the seed notebook: which nodes require grad (None:
        every input; a named gate becomes a leaf), how many backward passes, whether `.grad` is
        reset between them. The engine predicts every `.grad`; torch runs and confirms it."""
        options = TorchOptions(False, rtol, atol, list(requires_grad) if requires_grad is not None
                               else None, passes, zero_grad, retain_graph)
        if not options.behaviour:  # (the defaults, asked for explicitly)
            options.requires_grad = list(self.graph.inputs)
        return self.torch_experiment(options)

    def torch_experiment(self, options: TorchOptions) -> TorchReport:
        """Any of the torch experiments (`--check-torch`, `--requires-grad`, `--passes`, ...)."""
        from circuit_backprop.views import torchreport

        return TorchReport(self, torchreport.run(self.trace, options))

    def check_numeric(self, eps: float = NUMERIC_EPS, atol: float = NUMERIC_ATOL,
                      rtol: float = NUMERIC_RTOL) -> NumericReport:
        """Compare ∂output/∂node of every input and named gate with central differences."""
        from circuit_backprop.checks import numeric
        from circuit_backprop.core import engine

        trace = self.trace
        if trace.grads is None and self.tensor:
            from circuit_backprop.core import tensor

            trace = tensor.backward(tensor.TensorTrace(trace.graph, trace.values, trace.depends,
                                                       shapes=trace.shapes))
        elif trace.grads is None:
            trace = engine.backward(engine.Trace(trace.graph, trace.values, trace.depends))
        return NumericReport(self, numeric.check(trace, eps, atol, rtol), trace)

    def draw(self, *, around: str | None = None, depth: int | None = None,
             max_nodes: int | None = None, precision: int = DRAWING_PRECISION) -> Drawing:
        from circuit_backprop.views import draw

        limit = draw.MAX_NODES if max_nodes is None else max_nodes
        return Drawing(draw.select(self.trace, around, depth, limit), precision)

    def lesson(self, predict: bool = False, title: str | None = None) -> Lesson:
        """The HTML lesson of this run (`circuit lesson`): one self-contained page that steps
        through the forward and the backward pass; `predict` starts it in "predict first"."""
        from circuit_backprop.views import lesson

        result = self if self.has_gradients else self.circuit.run(self.inputs, gradients=True)
        name = Path(self.circuit.origin).name if self.circuit.origin.endswith(".circ") else ""
        title = title or "Backprop, gate by gate" + (f": {name}" if name else "")
        return Lesson(lesson.build(result.trace, self.number_format, title, predict))

    def steps(self) -> Steps:
        """The staged walkthrough (`--steps`): both passes, one stage at a time."""
        return Steps(self)

    def renderables(self, extra: tuple[Any, ...] = (), every_row: bool = False) -> list[Any]:
        """The tables (a summary instead above report.TABLE_LIMIT nodes, unless `every_row`)."""
        from circuit_backprop.views import report

        if self.tensor:
            from circuit_backprop.views import tensorreport

            view = tensorreport.backward_view if self.has_gradients else tensorreport.eval_view
            return view(self.trace, self.number_format, extra)
        if len(self.graph) > report.TABLE_LIMIT and not every_row:
            return report.summary_view(self.trace, self.number_format)
        if self.has_gradients:
            return report.backward_view(self.trace, self.number_format, extra)
        return report.eval_view(self.trace, self.number_format, extra)

    def __repr__(self) -> str:
        kind = "backward" if self.has_gradients else "eval"
        grads = f", grad={self.grad!r}" if self.has_gradients else ""
        return f"<Result of {kind}: {self.output} = {self.value!r}{grads}>"


@dataclass
class TorchReport(Displayable):
    """What PyTorch said: per-gate verdicts (`gates`), `ok`, `max_rel_error`, and autograd's
    behaviour when asked. Displays as the tables with a torch column."""

    result: Result
    run: Any  # torchreport.TorchRun

    @property
    def ok(self) -> bool:
        return self.run.ok

    @property
    def version(self) -> str | None:
        return self.run.check.version if self.run.check is not None else None

    @property
    def max_rel_error(self) -> float:
        return self.run.check.max_rel_error if self.run.check is not None else 0.0

    @property
    def gates(self) -> list[Any]:
        return self.run.check.gates if self.run.check is not None else []

    @property
    def grads(self) -> dict[str, float | None]:
        """torch's `.grad` of every input and named gate (None where torch keeps none)."""
        graph = self.result.graph
        if self.run.behaviour is not None:
            return {graph.label(n.node): n.grad for n in self.run.behaviour.nodes}
        check = self.run.check
        if check is None or not check.gradients:
            return {}
        return {graph.label(node): check.gates[node].grad for node in self.result._named()}

    @property
    def disagree(self) -> list[str]:
        """The labels of the gates where torch and the engine disagree."""
        if self.run.check is None:
            return []
        return [self.result.graph.label(g.node) for g in self.run.check.disagreeing]

    def torch_grad_cells(self) -> dict[int, Any] | None:
        """torch's ∂f/∂node, as cells for the numeric check's table."""
        from circuit_backprop.views import numericreport

        return numericreport.torch_grad_cells(self.run, self.result.number_format)

    def to_json(self) -> dict[str, Any]:
        """The `"torch"` (and `"autograd"`) objects that `--json` adds."""
        from circuit_backprop.views import torchreport

        return torchreport.to_json(self.run)

    def error(self) -> CircuitError | None:
        """The error the command line exits with (1) when torch disagrees, or None."""
        from circuit_backprop.views import torchreport

        return torchreport.failure(self.run)

    def renderables(self, with_tables: bool = True) -> list[Any]:
        from circuit_backprop.views import torchreport

        number_format = self.result.number_format
        shown = []
        if with_tables and (self.run.check is not None or self.run.behaviour is None):
            shown += self.result.renderables(torchreport.extra_columns(self.run, number_format))
        return shown + torchreport.after_view(self.run, number_format)

    def __repr__(self) -> str:
        return f"<TorchReport ok={self.ok} max_rel_error={self.max_rel_error:.3g}>"


@dataclass
class NumericReport(Displayable):
    """Central differences against the engine's gradients, node by node."""

    result: Result
    check: Any  # numeric.NumericCheck
    trace: Any  # the trace checked (with gradients)

    @property
    def ok(self) -> bool:
        return self.check.ok

    @property
    def nodes(self) -> list[Any]:
        return self.check.nodes

    @property
    def max_rel_error(self) -> float:
        return self.check.max_rel_error

    @property
    def numeric(self) -> dict[str, float | None]:
        """The central difference for each checked node, by label."""
        return {self.result.graph.label(c.node): c.numeric for c in self.check.nodes}

    def to_json(self) -> dict[str, Any]:
        from circuit_backprop.views import numericreport

        return {"numeric": numericreport.to_json(self.check)}

    def error(self) -> CircuitError | None:
        from circuit_backprop.checks import numeric

        return numeric.failure(self.check, self.trace)

    def renderables(self, torch_grads: Any = None) -> list[Any]:
        from circuit_backprop.views import numericreport

        number_format = self.result.number_format
        return [numericreport.table(self.check, self.trace, number_format, torch_grads),
                numericreport.summary(self.check, self.trace)]

    def __repr__(self) -> str:
        return f"<NumericReport ok={self.ok} max_rel_error={self.max_rel_error:.3g}>"


@dataclass
class Drawing:
    """A circuit diagram: `svg()` (Graphviz), `dot()` text, or the terminal drawing
    (`rich.print(d)`). Displays as SVG in Jupyter."""

    selection: Any  # draw.Drawing
    precision: int = DRAWING_PRECISION

    @property
    def number_format(self) -> NumberFormat:
        return NumberFormat(self.precision)

    def dot(self) -> str:
        from circuit_backprop.views import draw

        return draw.to_dot(self.selection, self.number_format)

    def svg(self) -> str:
        from circuit_backprop.views import draw

        return draw.render(self.dot(), "svg", None).decode()

    def text(self) -> str:
        from circuit_backprop.views import draw

        return draw.text_drawing(self.selection, self.number_format).plain

    def save(self, path: str | Path, format: str | None = None) -> Path:
        """Write the drawing; the format comes from the extension (.svg .png .dot .txt)."""
        from circuit_backprop.views import draw

        path = Path(path)
        kind = draw.infer_format(format, str(path))
        if kind in ("svg", "png"):
            draw.render(self.dot(), kind, path)
        else:
            draw.write_text(str(path), self.dot() if kind == "dot" else self.text())
        return path

    def _repr_svg_(self) -> str:
        return self.svg()

    def __repr__(self) -> str:
        return f"<Drawing of {len(self.selection.nodes)} nodes>"

    def __rich__(self) -> Any:
        from circuit_backprop.views import draw

        return draw.text_drawing(self.selection, self.number_format)


@dataclass
class Lesson:
    """The HTML lesson: `html` (one self-contained page), `save(path)`; in Jupyter it displays
    inline (in an iframe, so that its script and styles stay its own)."""

    html: str

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        try:
            path.write_text(self.html, encoding="utf-8")
        except OSError as err:
            raise UsageError(f"cannot write {path}: {err.strerror or err}") from None
        return path

    def _repr_html_(self) -> str:
        import html

        return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" '
                'style="width: 100%; height: 760px; border: 1px solid #d8dee4"></iframe>')

    def __repr__(self) -> str:
        return f"<Lesson: {len(self.html):,} characters of HTML>"


def answers_text(answers: str) -> str:
    """An answer file's text: a program as it is; a JSON object of values ({"dx": 19, "dW":
    [[1, 2]]}) as the same statements, one a line (quizzes: values only)."""
    stripped = answers.strip()
    if not stripped.startswith("{"):
        return answers
    import json

    try:
        doc = json.loads(stripped, parse_float=_finite_json_number,
                         parse_constant=_no_json_constant)
    except ValueError as err:
        raise UsageError(f"the answers look like JSON but are not: {err}") from None
    if not isinstance(doc, dict) or not all(isinstance(v, int | float | list)
                                            and not isinstance(v, bool) for v in doc.values()):
        raise UsageError('JSON answers are one object of numbers or arrays: {"dx": 19}')
    return "\n".join(f"{name} = {json.dumps(value)}" for name, value in doc.items())


def _finite_json_number(text: str) -> float:
    """A JSON number of a quiz answer: 1e999 reads as inf, which no answer can be."""
    value = float(text)
    if not math.isfinite(value):
        raise UsageError(f"a JSON answer must be a finite number, got {shorten(text)}")
    return value


def _no_json_constant(text: str) -> float:
    raise UsageError(f"a JSON answer must be a finite number, got {text}")


@dataclass
class GradeReport(Displayable):
    """A graded answer: `ok`, `first_wrong`, `score`, `max_score`, one row per gradient
    (`rows`), `to_json()` (`circuit grade --json`), `gradescope()` (results.json)."""

    result: Result
    grade: Any  # checks.grade.Grade

    @property
    def ok(self) -> bool:
        return self.grade.ok

    @property
    def first_wrong(self) -> str | None:
        return self.grade.first_wrong

    @property
    def score(self) -> float:
        return self.grade.score

    @property
    def max_score(self) -> float:
        return self.grade.max_score

    @property
    def rows(self) -> list[Any]:
        return self.grade.rows

    def to_json(self) -> dict[str, Any]:
        from circuit_backprop.views import gradereport

        return gradereport.to_json(self.grade)

    def gradescope(self) -> dict[str, Any]:
        from circuit_backprop.views import gradereport

        return gradereport.gradescope(self.grade)

    def renderables(self) -> list[Any]:
        from circuit_backprop.views import gradereport

        return [gradereport.table(self.grade, self.result.output, self.result.number_format),
                gradereport.summary(self.grade)]

    def __repr__(self) -> str:
        return (f"<GradeReport {self.score:g}/{self.max_score:g}, first wrong: "
                f"{self.first_wrong}>")


@dataclass
class Steps(Displayable):
    """The staged walkthrough of a result: forward stages, then backward chain-rule steps."""

    result: Result

    def renderables(self) -> list[Any]:
        from circuit_backprop.views import walkthrough

        return walkthrough.step_lines(self.result.trace, self.result.number_format)

    def __str__(self) -> str:
        return "\n".join(line.plain for line in self.renderables())


def html_of(renderable: Any, width: int = 120) -> str:
    """A rich renderable as HTML (inline styles, monospace), for Jupyter."""
    import io

    from rich.console import Console

    # (force_jupyter=False: in a notebook, rich would otherwise display what it prints)
    console = Console(record=True, file=io.StringIO(), width=width, force_terminal=True,
                      force_jupyter=False, color_system="truecolor", highlight=False,
                      emoji=False)
    console.print(renderable)
    return console.export_html(inline_styles=True, code_format=(
        '<pre style="font-family: Menlo, Consolas, \'DejaVu Sans Mono\', monospace; '
        'line-height: 1.25; font-size: 12px">{code}</pre>'))
