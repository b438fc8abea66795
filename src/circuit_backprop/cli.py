"""The command line: thin glue from arguments to parse -> engine -> report.

Input values are options named after the circuit's own inputs (`--x 3`), which no fixed option
list can declare. `CircuitCommand.parse_args` therefore takes SOURCE and every `--NAME VALUE` out
of the arguments itself, before Click sees them, and hands Click only the real options. That is
also what makes negative numbers safe anywhere (`--y -4`, `--y=-1e-3`, a program `-x^2`): Click
never gets the chance to read them as short options.
"""

# (No `from __future__ import annotations` here: typer would then evaluate every option's
# annotation from its text, with eval and compile, at every start: 7 ms of each run.)

import errno
import math
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperCommand

from circuit_backprop.checks.options import (
    NUMERIC_ATOL,
    NUMERIC_EPS,
    NUMERIC_RTOL,
    TORCH_ATOL,
    TORCH_RTOL,
    NumericOptions,
    TorchOptions,
)
from circuit_backprop.errors import (
    SOURCE_BYTES_LIMIT,
    SOURCE_LIMIT_OPTION,
    CircuitError,
    OutOfMemory,
    SourceError,
    UsageError,
    close_matches,
    number_hints,
)
from circuit_backprop.streams import ClosedStream, best_effort, discard, tolerate_narrow_encodings
from circuit_backprop.version import __version__
from circuit_backprop.views.numberformat import DEFAULT_PRECISION, DRAWING_PRECISION

EXAMPLES = """\
\b
Examples:
  circuit eval "(x + 2*y)*z" --x 3 --y -4 --z 19
  circuit backward circuits/staged.circ
  circuit backward "q = x + 2*y; f = q*z" --x 3 --y -4 --z 19 --json
  circuit backward circuits/staged.circ --set x=1 --precision 4
  echo "f = sigmoid(w*x + b)" | circuit backward - --w 2 --x -1 --b -3
"""

SOURCE_HELP = (
    "SOURCE is a file when it ends in .circ or is an existing path containing a path separator, "
    "standard input when it is '-', and program text otherwise. Give input values as "
    "--NAME VALUE or --NAME=VALUE, or --set NAME=VALUE for names that clash with an option."
)

app = typer.Typer(
    name="circuit",
    help="See a gradient flow through a computation, gate by gate.\n\n" + EXAMPLES,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


# --- arguments --------------------------------------------------------------------------------


OPTIONAL_VALUE = {"--expand": "*"}  # options whose value may be left out, and its stand-in
NAME_LIST = re.compile(r"[A-Za-z_]\w*(,[A-Za-z_]\w*)*")


class CircuitCommand(TyperCommand):
    """A command that takes SOURCE and `--NAME VALUE` pairs out of its arguments itself."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        takes_value: dict[str, bool] = {}
        for param in self.get_params(ctx):
            if param.param_type_name == "option":
                for opt in param.opts + param.secondary_opts:
                    takes_value[opt] = not (param.is_flag or param.count)
        known: list[str] = []
        positional: list[str] = []
        values: list[tuple[str, str | None]] = []
        i = 0
        while i < len(args):
            arg = args[i]
            if arg == "--":
                positional.extend(args[i + 1 :])
                break
            opt = arg.split("=", 1)[0] if arg.startswith("--") else arg
            if opt in OPTIONAL_VALUE and "=" not in arg and not (
                i + 1 < len(args) and NAME_LIST.fullmatch(args[i + 1])
            ):  # `--expand` alone: its value is optional
                known.append(f"{opt}={OPTIONAL_VALUE[opt]}")
            elif opt in takes_value:
                known.append(arg)
                if takes_value[opt] and "=" not in arg and i + 1 < len(args):
                    known.append(args[i + 1])
                    i += 1
            elif arg.startswith("--") and len(arg) > 2:
                name, eq, value = arg[2:].partition("=")
                if not eq:
                    # `--NAME VALUE` takes the next argument only when it is a number, so that a
                    # mistyped option (`--jsn "x*2"`) never swallows what follows it
                    following = args[i + 1] if i + 1 < len(args) else None
                    if following is not None and looks_like_value(following):
                        value = following
                        i += 1
                    else:
                        value = None
                        ctx.meta.setdefault("circuit.following", {})[name] = following
                values.append((name, value))
            else:
                positional.append(arg)
            i += 1
        ctx.meta["circuit.positional"] = positional
        ctx.meta["circuit.values"] = values
        ctx.meta["circuit.options"] = sorted(o for o in takes_value if o.startswith("--"))
        return super().parse_args(ctx, known)

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:
        return ["SOURCE", "[--NAME VALUE]...", "[OPTIONS]"]


@dataclass
class Invocation:
    """What the user asked for: the program text and the input values they gave."""

    text: str
    origin: str  # a file name, "<stdin>" or "<inline>"
    values: dict[str, float]
    path_like: bool


PATH_LIKE = re.compile(r"[\w.~/\\-]+")  # text that may have been meant as a file name


def looks_like_number(text: str) -> bool:
    """A number as the language writes one (ASCII digits only), or inf/nan (refused later as not
    finite, with that reason)."""
    return NUMBER.fullmatch(text.strip(ASCII_SPACE)) is not None


def looks_like_value(text: str) -> bool:
    """An input's value: a number, an array ([1, 2]) or a file of one (@w.npy); also what only
    float() reads as a number (٣, １２, 1_000), so that it is refused as the value it was meant to
    be, with the reason, rather than taken for a mistyped option (so is −3, pasted)."""
    return (looks_like_number(text) or text.lstrip().startswith(("[", "@"))
            or _float_reads(text))


def _float_reads(text: str) -> bool:
    """float() reads it, or would but for a leading minus sign or dash pasted from a document."""
    try:
        float(text.lstrip("\u2212\u2013"))
    except ValueError:
        return False
    return True


# ASCII only: `\d` and float() also take ٣ as 3 and １２ as 12 (and float() takes 1_000)
NUMBER = re.compile(r"[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|inf|infinity|nan)",
                    re.IGNORECASE | re.ASCII)
ASCII_SPACE = " \t\r\n"


def invocation(ctx: typer.Context, set_values: list[str],
               max_source_bytes: int = SOURCE_BYTES_LIMIT) -> Invocation:
    options = ctx.meta.get("circuit.options", [])
    following = ctx.meta.get("circuit.following", {})
    for name, value in ctx.meta.get("circuit.values", []):
        if value is None:  # an unknown option, or an input without a number after it
            close = _option_hint(name, options)
            if close or not name.isidentifier():
                raise UsageError(f"no such option: --{name}", close)
            elsewhere = _commands_with_option(ctx, f"--{name}")
            if elsewhere:
                raise UsageError(
                    f"--{name} is not an option of `circuit {ctx.info_name}`",
                    [f"it is an option of: {', '.join(f'circuit {c}' for c in elsewhere)}"],
                )
            after = following.get(name)
            raise UsageError(
                f"--{name} needs a value after it (a number, an array or @FILE)"
                + (f", got {after!r}" if after is not None else ""),
                ["give input values as --NAME VALUE, e.g. --x 3 or --y=-4"],
            )
    positional: list[str] = ctx.meta.get("circuit.positional", [])
    if not positional:
        raise UsageError("missing SOURCE: a .circ file, '-' for standard input, or program text",
                         [SOURCE_HELP])
    if len(positional) > 1:
        raise UsageError(
            f"expected one SOURCE, got {len(positional)}: "
            + ", ".join(repr(p) for p in positional),
            ["quote a program that contains spaces; give input values as --NAME VALUE"],
        )
    text, origin, path_like = read_source(positional[0], max_source_bytes)
    pairs = list(ctx.meta.get("circuit.values", []))
    for item in set_values:
        name, eq, value = item.partition("=")
        if not eq or not name:
            raise UsageError(f"--set expects NAME=VALUE, got {item!r}")
        pairs.append((name.strip(), value))
    values = parse_values(pairs, ctx.meta.get("circuit.options", []), max_source_bytes)
    return Invocation(text, origin, values, path_like)


def parse_values(pairs: list[tuple[str, str | None]], options: list[str],
                 max_bytes: int = SOURCE_BYTES_LIMIT) -> dict[str, Any]:
    """--NAME VALUE pairs: numbers (ASCII digits, as in programs), arrays written as
    [[1, 2], [3, 4]], and @FILE (.npy, .json, .csv; a text file at most `max_bytes`)."""
    from circuit_backprop.api import parse_array, read_array

    values: dict[str, float] = {}
    for name, raw in pairs:
        if not name.isidentifier():
            raise UsageError(f"no such option: --{name}", _option_hint(name, options))
        if raw is None:
            close = _option_hint(name, options)
            raise UsageError(
                f"--{name} needs a value" if not close else f"no such option: --{name}", close
            )
        if name in values:
            raise UsageError(f"a value for '{name}' is given twice")
        if raw.lstrip().startswith("["):
            values[name] = parse_array(raw, name)
            continue
        if raw.startswith("@"):
            values[name] = read_array(raw[1:], name, max_bytes=max_bytes)
            continue
        if not looks_like_number(raw):
            close = _option_hint(name, options)
            if close:
                raise UsageError(f"no such option: --{name}", close)
            raise UsageError(f"the value for '{name}' is not a number: {raw!r}",
                             number_hints(raw))
        value = float(raw)
        if not math.isfinite(value):
            raise UsageError(f"the value for '{name}' must be a finite number, got {raw!r}")
        values[name] = value
    return values


def _commands_with_option(ctx: typer.Context, option: str) -> list[str]:
    """The other commands of `circuit` that have this option."""
    group = ctx.parent.command if ctx.parent is not None else None
    found = []
    for name, command in sorted(getattr(group, "commands", {}).items()):
        if name != ctx.info_name and any(
            option in getattr(p, "opts", ()) for p in command.params
        ):
            found.append(name)
    return found


def _option_hint(name: str, options: list[str]) -> list[str]:
    close = close_matches(f"--{name}", options, n=2, cutoff=0.7)
    return [f"did you mean {' or '.join(close)}?"] if close else []


def read_source(arg: str, max_bytes: int = SOURCE_BYTES_LIMIT) -> tuple[str, str, bool]:
    """Program text, where it came from, and whether SOURCE looked like a path."""
    from circuit_backprop.api import read_file

    if arg == "-":
        return read_file(standard_input(), max_bytes=max_bytes, origin="<stdin>"), "<stdin>", False
    has_separator = "/" in arg or os.sep in arg
    if arg.endswith(".circ") or (has_separator and os.path.exists(arg)):
        return read_file(arg, max_bytes=max_bytes), arg, True
    return arg, "<inline>", has_separator


def standard_input() -> Any:
    """Standard input's bytes; a UsageError when it is closed (`<&-`: Python's sys.stdin is then
    None, or main's stand-in)."""
    stream = sys.stdin
    if stream is None or isinstance(stream, ClosedStream):
        raise UsageError("standard input is closed: there is no program to read for SOURCE '-'",
                         ["give a .circ file or the program text instead, or pipe one in"])
    return stream.buffer


# --- output -----------------------------------------------------------------------------------


def stdout_console() -> Console:
    console = Console(highlight=False, emoji=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(highlight=False, emoji=False, width=140)
    return console


def stderr_console() -> Console:
    return Console(file=best_effort(sys.stderr), highlight=False, soft_wrap=True, emoji=False)


def print_error(err: CircuitError, origin: str = "", as_json: bool = False) -> None:
    """The error on stderr, as `str(err)` says it; with --json also the error object on stdout.
    Either may fail to be written (/dev/full, a closed descriptor): the error stays the error,
    with its exit code."""
    from rich.markup import escape

    if origin and not err.origin:
        err.origin = origin
    console = stderr_console()
    first, *rest = err.lines()
    console.print(f"[bold red]error:[/] {escape(first)}")
    for line in rest:
        console.print(escape(line), soft_wrap=True)
    if as_json:
        from circuit_backprop.views.report import dumps

        try:
            sys.stdout.write(dumps(err.to_json()) + "\n")
            sys.stdout.flush()
        except (OSError, ValueError):
            discard(sys.stdout)


# --- commands ---------------------------------------------------------------------------------

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object (schema 1).")]
AllOption = Annotated[
    bool, typer.Option("--all", help="Every gate's row, however large the circuit.")
]
PrecisionOption = Annotated[
    int, typer.Option("--precision", min=1, max=17, help="Significant digits in tables.")
]
FullOption = Annotated[bool, typer.Option(
    "--full", help="Every element of every array (larger ones otherwise show as their shape, "
                   "min, max, mean and norm).")]
RandomOption = Annotated[int | None, typer.Option(
    "--random", metavar="SEED", help="Seeded random values for the inputs given no value and "
                                     "no default: standard normal numbers of each input's "
                                     "declared shape (input W[2, 3]), integer classes for "
                                     "cross_entropy's labels.")]
SetOption = Annotated[
    list[str],
    typer.Option("--set", metavar="NAME=VALUE", help="An input value (repeatable)."),
]
MaxSourceOption = Annotated[int, typer.Option(
    SOURCE_LIMIT_OPTION, metavar="BYTES", min=1,
    help=f"Refuse a SOURCE file, pipe or standard input larger than this (default "
         f"{SOURCE_BYTES_LIMIT // 2**20} MiB: an endless or wrong input fails at once).")]
COMMAND_SETTINGS = {"help_option_names": ["-h", "--help"]}
StepsOption = Annotated[bool, typer.Option(
    "--steps", help="Walk through the passes one stage at a time, with numbers.")]
PauseOption = Annotated[bool, typer.Option(
    "--pause", help="With --steps on a terminal: wait for Enter between stages.")]
CheckTorchOption = Annotated[bool, typer.Option(
    "--check-torch", help="Rebuild the circuit in PyTorch (float64) and compare every gate.")]
RtolOption = Annotated[float, typer.Option(
    "--rtol", min=0.0, help="--check-torch: relative tolerance.")]
AtolOption = Annotated[float, typer.Option(
    "--atol", min=0.0, help="--check-torch: absolute tolerance.")]
RequiresGradOption = Annotated[list[str] | None, typer.Option(
    "--requires-grad", metavar="NAMES",
    help="Show autograd's .grad when these inputs or named gates require grad "
         "(comma-separated; '' for none; default: every input).")]
PassesOption = Annotated[int, typer.Option(
    "--passes", min=1, help="Run torch's backward N times (retain_graph=True).")]
ZeroGradOption = Annotated[bool, typer.Option(
    "--zero-grad", help="With --passes: reset .grad to None between passes.")]
NoRetainOption = Annotated[bool, typer.Option(
    "--no-retain-graph", help="With --passes: backward() without retain_graph=True.")]
ExpandOption = Annotated[str | None, typer.Option(
    "--expand", metavar="[NAMES]",
    help="Break composite gates (defs, and built-ins like sigmoid) into primitive gates: all "
         "of them, or only --expand=NAME,... ")]
CheckNumericOption = Annotated[bool, typer.Option(
    "--check-numeric", help="Compare every gradient with central differences.")]
EpsOption = Annotated[float, typer.Option(
    "--eps", min=1e-300, help="--check-numeric: the step.")]
NumericAtolOption = Annotated[float, typer.Option(
    "--numeric-atol", min=0.0, help="--check-numeric: absolute tolerance.")]
NumericRtolOption = Annotated[float, typer.Option(
    "--numeric-rtol", min=0.0, help="--check-numeric: relative tolerance.")]


class _Reported:
    """Turns a CircuitError into its message on stderr (and, with --json, the error object on
    stdout unless the document was already written) and the exit code."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.origin = ""
        self.wrote_document = False  # a check that fails after its document is out: no error object

    def __enter__(self) -> "_Reported":
        return self

    def __exit__(self, kind: Any, err: Any, tb: Any) -> bool:
        if isinstance(err, MemoryError):  # a circuit or an array too large for the machine
            err.__traceback__ = None  # (its frames hold what filled the memory: let them go)
            del tb
            err = OutOfMemory()
        if not isinstance(err, CircuitError):
            return False
        print_error(err, self.origin, self.as_json and not self.wrote_document)
        raise typer.Exit(err.exit_code) from None


def _run(ctx: typer.Context, set_values: list[str], gradients: bool, as_json: bool,
         precision: int = DEFAULT_PRECISION, steps: bool = False, pause: bool = False,
         show: Callable[[Console, Any], None] | None = None, torch_opts: Any = None,
         expand: str | None = None, numeric_opts: Any = None, show_all: bool = False,
         full: bool = False, random_seed: int | None = None,
         max_source_bytes: int = SOURCE_BYTES_LIMIT) -> None:
    with _Reported(as_json) as reported:
        inv = invocation(ctx, set_values or [], max_source_bytes)
        reported.origin = inv.origin
        result = _result(ctx, inv, gradients, expand, as_json, random_seed)
        result.precision = precision
        result.full = full
        wants_torch = torch_opts is not None and torch_opts.wanted
        wants_numeric = numeric_opts is not None and numeric_opts.check
        if (steps or pause) and as_json:
            raise UsageError("--steps prints a walkthrough for people: not with --json")
        if (steps or pause) and (wants_torch or wants_numeric):
            raise UsageError("--steps is a walkthrough: run the checks (--check-torch, "
                             "--check-numeric, autograd options) without it")
        console = stdout_console()
        if show is not None:  # circuit draw, torch, plot
            show(console, result)
        elif steps or pause:
            from circuit_backprop.views import walkthrough

            walkthrough.print_steps(console, result.trace, result.number_format, pause=pause)
        elif wants_torch or wants_numeric:
            _checks(console, result, torch_opts if wants_torch else None,
                    numeric_opts if wants_numeric else None, as_json, reported)
        elif as_json:
            result.write_json(sys.stdout)
        else:
            for renderable in result.renderables(every_row=show_all):
                console.print(renderable)


def _result(ctx: typer.Context, inv: Invocation, gradients: bool, expand: str | None,
            as_json: bool, random_seed: int | None = None) -> Any:
    """Parse, resolve the inputs and run, with a spinner on big work; the hints that only make
    sense on the command line (how SOURCE was read, options of other commands)."""
    from circuit_backprop.api import Circuit

    status = _progress(len(inv.text), as_json)
    try:
        status(f"parsing {len(inv.text) / 1e6:.1f} MB")
        try:
            circuit = Circuit(inv.text, origin=inv.origin, expand=_expand_names(expand))
        except SourceError as err:
            if inv.path_like and inv.origin == "<inline>" and PATH_LIKE.fullmatch(inv.text):
                err.details.append("SOURCE was read as program text: no file of that name exists")
            raise
        for name in inv.values:
            elsewhere = ([] if name in circuit.graph.inputs
                         else _commands_with_option(ctx, f"--{name}"))
            if elsewhere:
                raise UsageError(
                    f"--{name} is not an option of `circuit {ctx.info_name}` (nor an input of "
                    f"this circuit)",
                    [f"it is an option of: {', '.join(f'circuit {c}' for c in elsewhere)}"],
                )
        try:
            given = (inv.values if random_seed is None
                     else circuit.random_values(random_seed, inv.values))
            inputs = circuit.resolve_inputs(given, spelled="--")
        except UsageError as err:
            options = ctx.meta.get("circuit.options", [])
            for name in inv.values:
                if name not in circuit.graph.inputs:
                    err.details.extend(_option_hint(name, options))
            raise
        status(f"forward{' and backward' if gradients else ''} pass over "
               f"{len(circuit.graph):,} nodes")
        return circuit.run(inputs, gradients)
    except CircuitError as err:
        if inv.origin == "<inline>" and os.path.exists(inv.text.strip()):
            err.details.append(f"SOURCE was read as program text; for the file or folder "
                               f"'{inv.text.strip()}', write ./{inv.text.strip()}")
        raise
    finally:
        status(None)


def _expand_names(option: str | None) -> bool | list[str]:
    """--expand: absent (False), alone (every composite: True), or =NAME,... (those)."""
    if option is None:
        return False
    return True if option == OPTIONAL_VALUE["--expand"] else option.split(",")


def _checks(console: Console, result: Any, torch_opts: Any, numeric_opts: Any, as_json: bool,
            reported: _Reported) -> None:
    """--check-torch, the autograd options and --check-numeric: the tables (or the document)
    with the checks' columns, then their verdicts; exit 1 (after printing) on a disagreement."""
    numeric = None
    if numeric_opts is not None:
        numeric = result.check_numeric(numeric_opts.eps, numeric_opts.atol, numeric_opts.rtol)
    torch = result.torch_experiment(torch_opts) if torch_opts is not None else None
    if as_json:
        from circuit_backprop.views import report

        doc = result.to_json()
        for check in (torch, numeric):
            if check is not None:
                doc.update(check.to_json())
        console.file.write(report.dumps(doc) + "\n")
    elif numeric is None:
        for renderable in torch.renderables():
            console.print(renderable)
    else:
        from circuit_backprop.views import torchreport

        extra = torchreport.extra_columns(torch.run, result.number_format) if torch else ()
        for renderable in result.renderables(extra):
            console.print(renderable)
        console.print()
        for renderable in numeric.renderables(torch.torch_grad_cells() if torch else None):
            console.print(renderable)
        if torch is not None:
            for renderable in torch.renderables(with_tables=False):
                console.print(renderable)
    reported.wrote_document = True
    for check in (numeric, torch):
        err = check.error() if check is not None else None
        if err is not None:
            raise err


def _pass_options(
    as_json: JsonOption = False,
    precision: PrecisionOption = DEFAULT_PRECISION,
    show_all: AllOption = False,
    full: FullOption = False,
    random_seed: RandomOption = None,
    set_values: SetOption = None,  # type: ignore[assignment]
    steps: StepsOption = False,
    pause: PauseOption = False,
    check_torch: CheckTorchOption = False,
    rtol: RtolOption = TORCH_RTOL,
    atol: AtolOption = TORCH_ATOL,
    expand: ExpandOption = None,
    check_numeric: CheckNumericOption = False,
    eps: EpsOption = NUMERIC_EPS,
    numeric_atol: NumericAtolOption = NUMERIC_ATOL,
    numeric_rtol: NumericRtolOption = NUMERIC_RTOL,
    max_source_bytes: MaxSourceOption = SOURCE_BYTES_LIMIT,
) -> None:
    """The options `eval` and `backward` share (declared once; see `_with_pass_options`)."""


def _autograd_options(
    requires_grad: RequiresGradOption = None,
    passes: PassesOption = 1,
    zero_grad: ZeroGradOption = False,
    no_retain_graph: NoRetainOption = False,
) -> None:
    """The options of `backward` alone: autograd's behaviour."""


def _with_pass_options(*groups: Callable[..., None]) -> Callable[[Callable], Callable]:
    """Declares a command's options as the parameters of `groups` after `ctx`: typer reads a
    command's options from its signature and annotations, so they are set here, once."""
    import inspect

    def decorate(command: Callable) -> Callable:
        own = list(inspect.signature(command).parameters.values())[:1]  # ctx
        params = own + [p for g in groups for p in inspect.signature(g).parameters.values()]
        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command

    return decorate


@app.command("eval", cls=CircuitCommand, context_settings=COMMAND_SETTINGS,
             epilog=SOURCE_HELP)
@_with_pass_options(_pass_options)
def eval_command(ctx: typer.Context, **options: Any) -> None:
    """Run the forward pass: every gate's value, left to right, then the output.

    Example: circuit eval "(x + 2*y)*z" --x 3 --y -4 --z 19
    """
    _pass(ctx, gradients=False, **options)


@app.command("backward", cls=CircuitCommand, context_settings=COMMAND_SETTINGS,
             epilog=SOURCE_HELP)
@_with_pass_options(_pass_options, _autograd_options)
def backward_command(ctx: typer.Context, **options: Any) -> None:
    """Run the forward and the backward pass: every gate's local gradient, upstream gradient and
    what it sends down each input wire, then ∂f/∂ every input and named gate.

    Example: circuit backward circuits/staged.circ --json
    """
    _pass(ctx, gradients=True, **options)


def _pass(ctx: typer.Context, gradients: bool, as_json: bool, precision: int, show_all: bool,
          full: bool, random_seed: int | None, set_values: list[str], steps: bool, pause: bool,
          check_torch: bool, rtol: float, atol: float, expand: str | None, check_numeric: bool,
          eps: float,
          numeric_atol: float, numeric_rtol: float, max_source_bytes: int,
          requires_grad: list[str] | None = None, passes: int = 1, zero_grad: bool = False,
          no_retain_graph: bool = False) -> None:
    torch_opts = TorchOptions(check_torch, rtol, atol, requires_grad or None,  # [] = not given
                              passes, zero_grad, not no_retain_graph)
    _run(ctx, set_values, gradients=gradients, as_json=as_json, precision=precision,
         steps=steps, pause=pause, torch_opts=torch_opts, expand=expand, show_all=show_all,
         full=full, random_seed=random_seed, max_source_bytes=max_source_bytes,
         numeric_opts=NumericOptions(check_numeric, eps, numeric_atol, numeric_rtol))


@app.command("draw", cls=CircuitCommand, context_settings=COMMAND_SETTINGS,
             epilog=SOURCE_HELP)
def draw_command(
    ctx: typer.Context,
    fmt_name: Annotated[str | None, typer.Option(
        "--format", metavar="text|dot|svg|png|pdf",
        help="text (the terminal, default), dot (Graphviz source), svg, png or pdf (needs "
             "Graphviz `dot`). Default: from the -o file's extension, else text.")] = None,
    output: Annotated[str | None, typer.Option(
        "-o", "--output", metavar="FILE", help="Write to FILE instead of standard output.")] = None,
    forward_only: Annotated[bool, typer.Option(
        "--forward-only", help="Values only, no gradients.")] = False,
    around: Annotated[str | None, typer.Option(
        "--around", metavar="NAME", help="Draw only the part around this gate or input.")] = None,
    depth: Annotated[int | None, typer.Option(
        "--depth", metavar="K", help="With --around: how many wires away (default 2).")] = None,
    max_nodes: Annotated[int, typer.Option(
        "--max-nodes", min=1, help="Refuse to draw more nodes than this.")] = 200,
    precision: PrecisionOption = DRAWING_PRECISION,
    expand: ExpandOption = None,
    title: Annotated[str | None, typer.Option(
        "--title", metavar="TEXT", help="A title above the circuit (svg, png, pdf).")] = None,
    scale: Annotated[float, typer.Option(
        "--scale", min=0.25, max=10.0,
        help="PNG resolution, times Graphviz's 96 dpi (default 2: sharp on a slide).")] = 2.0,
    random_seed: RandomOption = None,
    set_values: SetOption = None,  # type: ignore[assignment]
    max_source_bytes: MaxSourceOption = SOURCE_BYTES_LIMIT,
) -> None:
    """Draw the circuit: inputs to output, each wire with its value and its gradient.

    Example: circuit draw circuits/neuron.circ --expand --title "A neuron" -o neuron.pdf
    """
    from circuit_backprop.views import draw

    def show(console: Console, result: Any) -> None:
        draw.draw(console, result.trace, fmt_name=fmt_name, output=output, around=around,
                  depth=depth, limit=max_nodes, number_format=result.number_format,
                  title=title, scale=scale)

    _run(ctx, set_values, gradients=not forward_only, as_json=False, precision=precision,
         show=show, expand=expand, random_seed=random_seed, max_source_bytes=max_source_bytes)


@app.command("lesson", cls=CircuitCommand, context_settings=COMMAND_SETTINGS,
             epilog=SOURCE_HELP)
def lesson_command(
    ctx: typer.Context,
    output: Annotated[str | None, typer.Option(
        "-o", "--output", metavar="FILE",
        help="Write the page to FILE (e.g. lesson.html) instead of standard output.")] = None,
    predict: Annotated[bool, typer.Option(
        "--predict", help="Start in \"predict first\" mode: the learner types each value and "
                          "gradient before it is shown.")] = False,
    title: Annotated[str | None, typer.Option(
        "--title", metavar="TEXT", help="The page's title.")] = None,
    precision: PrecisionOption = DEFAULT_PRECISION,
    expand: ExpandOption = None,
    random_seed: RandomOption = None,
    set_values: SetOption = None,  # type: ignore[assignment]
    max_source_bytes: MaxSourceOption = SOURCE_BYTES_LIMIT,
) -> None:
    """Write an HTML lesson: one self-contained page (works offline) that steps through the
    forward pass gate by gate and the backward pass wire by wire, with the circuit diagram, the
    arithmetic in a caption, a table that fills in, and a "predict first" mode.

    Example: circuit lesson circuits/staged.circ -o lesson.html
    """

    def show(console: Console, result: Any) -> None:
        lesson = result.lesson(predict=predict, title=title)
        if output is None:
            console.file.write(lesson.html)
            return
        lesson.save(output)
        stderr_console().print(f"wrote {output}")

    _run(ctx, set_values, gradients=True, as_json=False, precision=precision, show=show,
         expand=expand, random_seed=random_seed, max_source_bytes=max_source_bytes)


@app.command("grade", cls=CircuitCommand, context_settings=COMMAND_SETTINGS,
             epilog=SOURCE_HELP)
def grade_command(
    ctx: typer.Context,
    as_json: JsonOption = False,
    gradescope: Annotated[str | None, typer.Option(
        "--gradescope", metavar="FILE", help="Also write Gradescope's autograder results.json "
                                             "to FILE (one test per gradient).")] = None,
    points: Annotated[float, typer.Option(
        "--points", min=0, help="Points per answered gradient.")] = 1.0,
    precision: PrecisionOption = DEFAULT_PRECISION,
    set_values: SetOption = None,  # type: ignore[assignment]
    expand: ExpandOption = None,
    max_source_bytes: MaxSourceOption = SOURCE_BYTES_LIMIT,
) -> None:
    """Grade a hand-written backward pass: each gradient dNAME in ANSWERS against the circuit's,
    and the first wrong step (with why, where a common mistake explains it). Exit 0 when every
    answered gradient is right, 1 when one is wrong, 2 for bad input.

    Example: circuit grade circuits/staged.circ answers.circ
    """
    from circuit_backprop.api import read_file

    positional: list[str] = ctx.meta.get("circuit.positional", [])
    with _Reported(as_json) as reported:
        if len(positional) != 2:
            raise UsageError("circuit grade takes two files: the CIRCUIT and the ANSWERS",
                             ["e.g. circuit grade circuits/staged.circ answers.circ"])
        answers_path = positional.pop()
        answers = read_file(answers_path, max_bytes=max_source_bytes)
        inv = invocation(ctx, set_values or [], max_source_bytes)
        reported.origin = inv.origin
        result = _result(ctx, inv, True, expand, as_json)
        reported.origin = answers_path
        report = result.circuit.grade(answers, inv.values, points=points, origin=answers_path)
        report.result.precision = precision
        if gradescope:
            _write_file(gradescope, report_dumps(report.gradescope()) + "\n")
        if as_json:
            sys.stdout.write(report_dumps(report.to_json()) + "\n")
        else:
            console = stdout_console()
            for renderable in report.renderables():
                console.print(renderable)
    if not report.ok:
        raise typer.Exit(1)


def report_dumps(doc: dict[str, Any]) -> str:
    import json

    return json.dumps(doc, allow_nan=False, ensure_ascii=False)


def _write_file(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as err:
        raise UsageError(f"cannot write {path}: {err.strerror or err}") from None


@app.command("torch", cls=CircuitCommand, context_settings=COMMAND_SETTINGS,
             epilog=SOURCE_HELP)
def torch_command(
    ctx: typer.Context,
    set_values: SetOption = None,  # type: ignore[assignment]
    max_source_bytes: MaxSourceOption = SOURCE_BYTES_LIMIT,
) -> None:
    """Print the circuit as a standalone PyTorch program: the same staged statements and names,
    retain_grad() on intermediates, backward(), and a print of every .grad. Needs no torch.

    Example: circuit torch circuits/staged.circ > staged.py && python staged.py
    """
    from circuit_backprop.views.torchscript import script

    def show(console: Console, result: Any) -> None:
        console.file.write(script(result.trace))

    _run(ctx, set_values, gradients=False, as_json=False, show=show,
         max_source_bytes=max_source_bytes)


@app.command("grad", cls=CircuitCommand, context_settings=COMMAND_SETTINGS,
             epilog=SOURCE_HELP)
def grad_command(
    ctx: typer.Context,
    as_json: JsonOption = False,
    set_values: SetOption = None,  # type: ignore[assignment]
    expand: ExpandOption = None,
    random_seed: RandomOption = None,
    max_source_bytes: MaxSourceOption = SOURCE_BYTES_LIMIT,
) -> None:
    """Print the backward pass as a program in the circuit language: one dNAME = ... line per
    gradient, in backward order, += where a wire forks, each line its op's gradient rule. It is
    a valid answer file: circuit grade FILE <(circuit grad FILE) grades it all right.

    Example: circuit grad circuits/staged.circ
    """
    def show(console: Console, result: Any) -> None:
        if as_json:
            sys.stdout.write(report_dumps(result.grad_program_json()) + "\n")
        else:
            console.file.write(result.grad_program())

    _run(ctx, set_values, gradients=True, as_json=as_json, show=show, expand=expand,
         random_seed=random_seed, max_source_bytes=max_source_bytes)


@app.command("plot", cls=CircuitCommand, context_settings=COMMAND_SETTINGS,
             epilog=SOURCE_HELP)
def plot_command(
    ctx: typer.Context,
    wrt: Annotated[str, typer.Option(
        "--wrt", metavar="NAME", help="The input that varies (the others stay fixed).")],
    range_text: Annotated[str | None, typer.Option(
        "--range", metavar="A:B", help="Its range (default: its value ± max(1, |value|)).")] = None,
    output: Annotated[str | None, typer.Option(
        "-o", "--output", metavar="FILE",
        help="Write a PNG, SVG or PDF with matplotlib (the 'plot' extra).")] = None,
    points: Annotated[int, typer.Option("--points", min=2, max=100_000,
                                        help="How many values to sample.")] = 201,
    as_json: JsonOption = False,
    precision: PrecisionOption = DEFAULT_PRECISION,
    set_values: SetOption = None,  # type: ignore[assignment]
    max_source_bytes: MaxSourceOption = SOURCE_BYTES_LIMIT,
) -> None:
    """Plot f as one input varies around its value, with the tangent line (slope ∂f/∂x) and the
    point: the derivative as the slope of the best local linear approximation.

    Example: circuit plot circuits/neuron.circ --wrt x0 --range -4:4 -o neuron.png
    """
    from circuit_backprop.views import plot

    def show(console: Console, result: Any) -> None:
        if result.tensor:
            raise UsageError("plot draws f against one scalar input; this circuit carries arrays",
                             ["index an element to study it: f = ...W[0, 1]..."])
        lo, hi = plot.parse_range(range_text) if range_text else (None, None)
        data = plot.sample(result.trace, wrt, lo, hi, points)
        if output:
            plot.save(data, output)
        if as_json:
            import json

            console.file.write(json.dumps(data.to_json(), allow_nan=False) + "\n")
            return
        if not output:
            for line in plot.text_lines(data, number_format=result.number_format):
                console.print(line, soft_wrap=True)
        for line in plot.caption(data, result.number_format):
            console.print(line)
        if output:
            console.print(f"wrote {output}")

    _run(ctx, set_values, gradients=True, as_json=as_json, precision=precision, show=show,
         max_source_bytes=max_source_bytes)


PROGRESS_FROM = 1_000_000  # characters of source: about a second of work


def _progress(size: int, as_json: bool) -> Callable[[str | None], None]:
    """A spinner on stderr naming the current stage, for work that takes a second or more; only
    when both stdout and stderr are terminals (never when piped, never with --json)."""
    if size < PROGRESS_FROM or as_json or not (sys.stdout.isatty() and sys.stderr.isatty()):
        return lambda message: None
    status = stderr_console().status("")
    status.start()

    def update(message: str | None) -> None:
        if message is None:
            status.stop()
        else:
            status.update(f"circuit: {message}…")

    return update


def _version(value: bool) -> None:
    if value:
        typer.echo(f"circuit {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """See a gradient flow through a computation, gate by gate."""


EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command stopped by Ctrl-C


def main() -> None:
    """Console entry point: never a traceback, for a user's mistake or for output that cannot be
    written. Exit 0 when all went well, 1 for a math error or a failed write, 2 for a bad source
    or usage, 130 when interrupted."""
    tolerate_narrow_encodings()
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin = sys.stdin if sys.stdin is not None else ClosedStream("standard input")
    sys.stdout = sys.stdout if sys.stdout is not None else ClosedStream("standard output")
    sys.stderr = best_effort(sys.stderr)
    try:
        code = _exit_code()
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
    sys.exit(code)


def _exit_code() -> int:
    """Run the command; its exit code, or the one for what stopped it."""
    stdout = sys.stdout
    try:
        try:
            app()
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else int(done.code is not None)
        stdout.flush()  # (what is still buffered is output too: its failure is a failed write)
        return code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except OSError as err:  # every read, and every write to a named file, says so itself
        return _failed_write(err, stdout)
    except MemoryError:
        _say(f"error: {OutOfMemory().message}")
        return OutOfMemory.exit_code
    except RecursionError:
        _say("error: internal recursion limit hit; please report this circuit")
        return 70


def _failed_write(err: OSError, stdout: Any) -> int:
    """A write that failed: one line on stderr (none for a reader that left, `| head`), exit 1."""
    discard(stdout)
    if err.errno != errno.EPIPE:
        where = err.filename or "standard output"
        _say(f"error: cannot write to {where}: {err.strerror or err}")
    return 1


def _say(line: str) -> None:
    stream = best_effort(sys.stderr)
    stream.write(line + "\n")
    stream.flush()
