"""Circuit diagrams: the trace drawn as a circuit, in the terminal or as Graphviz DOT/SVG/PNG.

cs231n draws a circuit with inputs on the left and the output on the right, each wire carrying
its forward value (green) and the gradient flowing back along it (red). Both drawings here read
the engine's `Trace`; nothing is computed except the layout.

A node used by several gates is drawn once and referenced by every gate that uses it (in DOT, one
node with several out-edges), so a DAG never blows up into a tree. Where a wire forks, each
out-wire carries its own gradient and the node shows their sum.

Everything is a loop over node ids (a topological order): nothing recurses.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from circuit_backprop.core.arrays import show
from circuit_backprop.core.engine import Trace
from circuit_backprop.core.graph import Graph
from circuit_backprop.core.ops import CONST, INPUT
from circuit_backprop.errors import UsageError, close_matches
from circuit_backprop.views.numberformat import (
    DEFAULT_FORMAT,
    FormatOrPrecision,
    NumberFormat,
    as_number_format,
)
from circuit_backprop.views.numberformat import fmt as fmt  # (draw.fmt: still importable)
from circuit_backprop.views.report import GRAD_STYLE, VALUE_STYLE, symbol

MAX_NODES = 200
"""Drawings larger than this are refused (use --around/--depth or --max-nodes)."""

FORMATS = ("text", "dot", "svg", "png", "pdf")
BINARY = ("png", "pdf")  # formats written to a file only
PNG_DPI = 96  # Graphviz's own; --scale multiplies it (the default scale is 2: slide-sized)
DEFAULT_SCALE = 2.0
DOT_VALUE_COLOR = "#1a7f37"  # green, as cs231n draws forward values
DOT_GRAD_COLOR = "#cf222e"  # red, as cs231n draws gradients
INSTALL_HINT = "install Graphviz: apt-get install graphviz  (macOS: brew install graphviz)"
FANOUT_FOLLOWED = 8  # --around does not follow the uses of a node used by more gates than this
MAX_FORK_TERMS = 4  # a fork's sum lists at most this many terms, then "…"
TEXT_LIMIT = 20  # an unnamed gate's source text, in the text drawing, is cut to this length
DOT_LIMIT = 10  # ... and inside its circle in DOT, where it is shown whole or not at all
WIDE_LINE = 14  # a gate whose Σ line is longer than this is drawn as an ellipse
PORT_ANGLE = 35  # degrees off the wire at its arrowhead for an input's number, and how far
PORT_DISTANCE = 1.8  # (in units of 10 points): clear of the arrowhead
COMMUTATIVE = frozenset({"add", "mul", "max", "min"})  # in-wires need no port numbers


@dataclass
class Wire:
    """One wire: from node `src` into input `k` of gate `dst`."""

    src: int
    dst: int
    k: int
    value: float
    grad: float | None  # what dst sends back along this wire; None: constant wire or no backward


@dataclass
class Drawing:
    """What to draw: the nodes (ids, ascending), their wires, and where wires fork."""

    trace: Trace
    nodes: list[int]
    wires: list[Wire]
    out_wires: dict[int, list[Wire]]  # node -> its out-wires in the whole circuit (for forks)
    stubs: list[int] = field(default_factory=list)  # outside nodes a drawn wire touches
    total: int = 0  # nodes in the whole circuit
    around: int | None = None
    depth: int | None = None

    @property
    def gradients(self) -> bool:
        return self.trace.grads is not None

    def is_fork(self, node: int) -> bool:
        return len(self.out_wires.get(node, ())) > 1


def _out_wires(trace: Trace) -> dict[int, list[Wire]]:
    graph = trace.graph
    backward = trace.grads is not None
    found: dict[int, list[Wire]] = {}
    for gate, args in enumerate(graph.args):
        if not args:
            continue
        down = trace.downstream(gate) if backward else tuple(None for _ in args)
        for k, (i, d) in enumerate(zip(args, down, strict=True)):
            found.setdefault(i, []).append(Wire(i, gate, k, trace.values[i], d))
    return found


def resolve_node(trace: Trace, name: str) -> int:
    """A node by its name or its number (`#12` or `12`)."""
    graph = trace.graph
    named = graph.named_nodes()
    if name in named:
        return named[name]
    digits = name.removeprefix("#")
    if digits.isdigit() and int(digits) < len(graph):
        return int(digits)
    close = close_matches(name, list(named), n=2)
    hints = [f"did you mean {' or '.join(close)}?"] if close else []
    hints.append("give a gate or input name, or a node number like #4 (see circuit eval)")
    raise UsageError(f"--around: no node named '{name}' in this circuit", hints)


def select(trace: Trace, around: str | None = None, depth: int | None = None,
           limit: int = MAX_NODES) -> Drawing:
    """The whole circuit, or the part within `depth` wires of node `around`, within `limit`."""
    graph = trace.graph
    n = len(graph)
    if around is None and n > limit:
        _too_many(trace, n, limit, None, depth)
    out_wires = _out_wires(trace)
    center: int | None = None
    if around is None:
        if depth is not None:
            raise UsageError("--depth needs --around NAME: the node to draw around")
        nodes = list(range(n))
    else:
        center = resolve_node(trace, around)
        depth = 2 if depth is None else depth
        if depth < 0:
            raise UsageError("--depth must be 0 or more")
        dist = {center: 0}
        queue = deque([center])
        while queue:
            node = queue.popleft()
            if dist[node] == depth:
                continue
            uses = out_wires.get(node, ())
            neighbours = list(graph.args[node])
            if len(uses) <= FANOUT_FOLLOWED or node == center:
                neighbours += [w.dst for w in uses]
            for other in neighbours:
                if other not in dist:
                    dist[other] = dist[node] + 1
                    queue.append(other)
        nodes = sorted(dist)
    if len(nodes) > limit:
        _too_many(trace, len(nodes), limit, center, depth)
    chosen = set(nodes)
    wires: list[Wire] = []
    stubs: set[int] = set()
    for node in nodes:
        outside = [w for w in out_wires.get(node, ()) if w.dst not in chosen]
        wires.extend(w for w in out_wires.get(node, ()) if w.dst in chosen)
        if len(outside) <= FANOUT_FOLLOWED:  # a hub's other uses: only its Σ counts them
            stubs.update(w.dst for w in outside)
            wires.extend(outside)
        args = graph.args[node]
        if any(i not in chosen for i in args):
            down = trace.downstream(node) if trace.grads is not None else (None,) * len(args)
            for k, i in enumerate(args):
                if i not in chosen:
                    stubs.add(i)
                    wires.append(Wire(i, node, k, trace.values[i], down[k]))
    wires.sort(key=lambda w: (w.dst, w.k))
    drawing = Drawing(trace, nodes, wires, out_wires, sorted(stubs), n, center, depth)
    shown = len(nodes) + len(stubs)
    if shown > limit:
        _too_many(trace, shown, limit, center, depth)
    return drawing


def _too_many(trace: Trace, shown: int, limit: int, center: int | None,
              depth: int | None) -> None:
    graph = trace.graph
    if center is None:
        message = f"this circuit has {shown} nodes: too many to draw (the limit is {limit})"
        hints = [f"draw the part around one node: --around NAME --depth K "
                 f"(e.g. --around {graph.label(graph.output)} --depth 3)"]
    else:
        wires = "wire" if depth == 1 else "wires"
        message = (f"{shown} nodes lie within {depth} {wires} of {graph.label(center)}: "
                   f"too many to draw (the limit is {limit})")
        hints = ["draw less: a smaller --depth"]
    hints.append(f"or raise the limit: --max-nodes {max(shown, 2 * limit)}")
    hints.append("circuit backward SOURCE --json lists every gate, however many")
    raise UsageError(message, hints)


# --- shared labels -------------------------------------------------------------------------------


def ref(trace: Trace, node: int, limit: int = TEXT_LIMIT) -> str:
    """How a drawing refers to a node: a constant by its number (at the default precision,
    whatever the drawing's), anything else by its name (`gate_text`). Never an internal id."""
    if trace.graph.ops[node] == CONST:
        return DEFAULT_FORMAT.value(trace.values[node])
    return gate_text(trace.graph, node, limit)


def gate_text(graph: Graph, node: int, limit: int = TEXT_LIMIT) -> str:
    """A node as a picture names it: by its statement name (`q`, `dot`), else, for a gate with
    no name of its own, by what it computes: its source text (`2*y`, `exp(-dot)`; outer
    parentheses dropped), shortened to `limit` characters, else its op. Never `#4`: an internal
    id means nothing to a student (tables and --around still accept it)."""
    name = graph.names[node]
    if name is not None:
        return name
    text = _unwrap(graph.source(node, 4 * limit))
    if not text or text.startswith("#"):
        return graph.op(node).name if graph.is_gate(node) else text
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _unwrap(text: str) -> str:
    """`(1 + exp(-x))` -> `1 + exp(-x)`; `(a) * (b)` stays as it is."""
    while text.startswith("(") and text.endswith(")"):
        depth = 0
        for i, char in enumerate(text):
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth == 0 and i < len(text) - 1:
                return text
        text = text[1:-1].strip()
    return text


def _is_simple(text: str) -> bool:
    """A name, a number or a call (`exp(-a)`): no parentheses needed around it after ∂."""
    text = text.rstrip("′")
    call = re.fullmatch(r"[\w.]+(\(.*\))", text)
    if call:
        return _unwrap(call.group(1)) != call.group(1)
    return text.replace(".", "").replace("_", "").replace("…", "").isalnum()


def text_names(drawing: Drawing) -> dict[int, str]:
    """What the text drawing calls each node it shows (`ref`). Two unnamed gates with the same
    source text (an expanded def's body, used twice) are told apart by primes: `-a`, `-a′`."""
    trace = drawing.trace
    graph = trace.graph
    shown = sorted(set(drawing.nodes) | set(drawing.stubs))
    names: dict[int, str] = {}
    seen: dict[str, int] = {}
    for node in shown:
        label = ref(trace, node)
        if graph.names[node] is None and graph.is_gate(node):
            count = seen.get(label, 0)
            seen[label] = count + 1
            label += "′" * count
        names[node] = label
    return names


SMALL_ARRAY = 4  # a wire's array shows its numbers up to this many elements, else its shape


@dataclass(frozen=True)
class WireFormat(NumberFormat):
    """Numbers as the tables write them; an array as its shape, with its numbers (on one line)
    only when it is small: a drawing has room for a few numbers on a wire, not a matrix."""

    def value(self, value: Any) -> str:
        if not getattr(value, "ndim", 0):
            return super().value(value)
        numbers = " ".join(super().value(value).split()) if value.size <= SMALL_ARRAY else ""
        return f"{show(value.shape)} {numbers}".rstrip()


def wire_format(trace: Trace, number_format: FormatOrPrecision) -> NumberFormat:
    """The format a drawing uses: `number_format`, arrays shown as WireFormat does."""
    number_format = as_number_format(number_format)
    if not hasattr(trace, "shapes"):
        return number_format
    return WireFormat(number_format.precision)


def fork_sum(drawing: Drawing, node: int, number_format: NumberFormat) -> str:
    """'a + b + c = s': the gradients coming back along each out-wire of a fork, added up."""
    trace = drawing.trace
    assert trace.grads is not None
    terms = [w.grad for w in drawing.out_wires[node] if w.grad is not None]
    shown = number_format.sum_of(terms[:MAX_FORK_TERMS])
    if len(terms) > MAX_FORK_TERMS:
        shown += f" + … ({len(terms)} terms)"
    return f"{shown} = {number_format.value(trace.grads[node])}"


def _grad_name(out: str, name: str) -> str:
    """∂f/∂x; ∂f/∂(2*y) for a gate named by its source text."""
    return f"∂{out}/∂{name if _is_simple(name) else f'({name})'}"


# --- text ----------------------------------------------------------------------------------------


def text_drawing(drawing: Drawing, number_format: FormatOrPrecision = DEFAULT_FORMAT) -> Text:
    """The circuit, top (inputs) to bottom (output): one block per gate, one line per in-wire.

    Each in-wire line shows where the wire comes from, its value and, after │, the gradient sent
    back along it: `x ── 3 │ 19 ──┐`. A node used by several gates is defined once (an input
    line, or its gate's ▶ line) and referenced by name on each wire it feeds; a gate without a
    name is referred to by its source text (`2*y ── -8`), never by an internal id.
    """
    number_format = wire_format(drawing.trace, number_format)
    trace = drawing.trace
    graph = trace.graph
    backward = drawing.gradients
    names = text_names(drawing)
    out = gate_text(graph, graph.output)
    text = Text()
    legend = f"value │ gradient ∂{out}/∂wire" if backward else "value"
    title = f"Circuit for {out}"
    if drawing.around is not None:
        title += (f", around {names[drawing.around]} (depth {drawing.depth}: "
                  f"{len(drawing.nodes)} of {drawing.total} nodes)")
    text.append(f"{title}: inputs at the top, output at the bottom; each wire: {legend}\n",
                style="bold")

    inputs = [i for i in drawing.nodes if graph.ops[i] == INPUT]
    if inputs:
        text.append("inputs\n", style="bold")
        name_w = max(len(names[i]) for i in inputs)
        value_w = max(len(number_format.value(trace.values[i])) for i in inputs)
        for i in inputs:
            text.append(f"  {names[i]:<{name_w}} = ")
            text.append(f"{number_format.value(trace.values[i]):<{value_w}}", style=VALUE_STYLE)
            _append_node_grad(text, drawing, i, number_format, names)
            text.append("\n")

    gates = [g for g in drawing.nodes if graph.args[g]]
    chosen = set(drawing.nodes)
    lines = [w for w in drawing.wires if w.dst in chosen]
    if not gates:
        return text
    refs = {w.src: names[w.src] for w in lines}
    for node, label in refs.items():
        if node not in chosen and graph.ops[node] != CONST:
            refs[node] = label + "…"  # drawn outside this part of the circuit
    src_w = max(len(label) for label in refs.values())
    val_w = max(len(number_format.value(w.value)) for w in lines)
    grad_w = max(len(number_format.value(w.grad)) for w in lines) if backward else 0
    text.append("gates (forward ↓, backward ↑)\n", style="bold")
    by_gate: dict[int, list[Wire]] = {}
    for w in lines:
        by_gate.setdefault(w.dst, []).append(w)
    for g in gates:
        wires = by_gate[g]
        for k, w in enumerate(wires):
            src = refs[w.src]
            text.append(f"  {src:<{src_w}} ── ")
            text.append(f"{number_format.value(w.value):>{val_w}}", style=VALUE_STYLE)
            if backward:
                text.append(" │ ")
                text.append(f"{number_format.value(w.grad):>{grad_w}}", style=GRAD_STYLE)
            if len(wires) == 1:
                text.append(" ────▶ ")
            elif k == 0:
                text.append(" ──┐\n")
                continue
            elif k < len(wires) - 1:
                text.append(" ──┤\n")
                continue
            else:
                text.append(" ──┴─▶ ")
            text.append(f"[{symbol(graph, g)}] {names[g]} = ", style="bold")
            text.append(number_format.value(trace.values[g]), style="bold " + VALUE_STYLE)
            _append_node_grad(text, drawing, g, number_format, names)
            if g == graph.output:
                text.append("   output", style="bold")
            text.append("\n")
    return text


def _append_node_grad(text: Text, drawing: Drawing, node: int, number_format: NumberFormat,
                      names: dict[int, str]) -> None:
    """After a node: its gradient, as the sum over its out-wires when it forks."""
    trace = drawing.trace
    graph = trace.graph
    n_out = len(drawing.out_wires.get(node, ()))
    if not drawing.gradients:
        if n_out > 1:
            text.append(f"   forks to {n_out} wires")
        return
    assert trace.grads is not None
    if not trace.depends[node]:
        return
    out = names.get(graph.output) or gate_text(graph, graph.output)
    text.append(f"   {_grad_name(out, names[node])} = ")
    if node == graph.output:
        text.append("1", style=GRAD_STYLE)
    elif n_out > 1:
        text.append(fork_sum(drawing, node, number_format), style=GRAD_STYLE)
        text.append(f"   (fork: {n_out} out-wires, their gradients add)")
    else:
        text.append(number_format.value(trace.grads[node]), style=GRAD_STYLE)


def print_text(console: Console, drawing: Drawing, number_format: NumberFormat) -> None:
    console.print(text_drawing(drawing, number_format), soft_wrap=True, end="")


# --- DOT -----------------------------------------------------------------------------------------


def _font(text: str, color: str, size: int | None = None) -> str:
    size_attr = f' point-size="{size}"' if size else ""
    return f'<font color="{color}"{size_attr}>{html.escape(text)}</font>'


def _wire_label(value: float, grad: float | None, backward: bool,
                number_format: NumberFormat) -> str:
    label = _font(number_format.value(value), DOT_VALUE_COLOR)
    if backward:
        label += "<br/>" + _font(number_format.value(grad), DOT_GRAD_COLOR)
    return f"<{label}>"


def to_dot(drawing: Drawing, number_format: FormatOrPrecision = DEFAULT_FORMAT,
           title: str | None = None) -> str:
    """Graphviz DOT, left to right. Node ids are `n<id>` (the node's number): deterministic.
    A `title` goes above the circuit (the caption that explains the colours stays below)."""
    number_format = wire_format(drawing.trace, number_format)
    trace = drawing.trace
    graph = trace.graph
    backward = drawing.gradients
    out = gate_text(graph, graph.output)
    caption = f"circuit for {out}: wires show value (green)"
    if backward:
        caption += f" and gradient ∂{out}/∂wire (red)"
    if drawing.around is not None:
        caption += (f"; around {gate_text(graph, drawing.around)}, depth {drawing.depth} "
                    f"({len(drawing.nodes)} of {drawing.total} nodes)")
    label = _quote(caption)
    if title:
        label = (f"<<font point-size=\"18\"><b>{html.escape(title)}</b></font><br/>"
                 f"{html.escape(caption)}>")
    lines = [
        "digraph circuit {",
        "  graph [rankdir=LR, fontname=\"Helvetica\", fontsize=11, nodesep=0.35, ranksep=0.6,",
        f"         labelloc={'t' if title else 'b'}, label={label}];",
        "  node [fontname=\"Helvetica\", fontsize=14];",
        # decorate: a line ties each value/gradient label to its own wire, where wires run close
        "  edge [fontname=\"Helvetica\", fontsize=11, arrowsize=0.7, decorate=true];",
    ]
    for node in drawing.nodes:
        lines.append(f"  n{node} [{_node_attrs(drawing, node, number_format)}];")
    for node in drawing.stubs:
        label = html.escape(ref(trace, node, DOT_LIMIT)) + " …"
        lines.append(f"  n{node} [label=<{label}>, shape=box, style=dashed, color=gray50, "
                     "fontcolor=gray40];")
    for w in drawing.wires:
        attrs = f"label={_wire_label(w.value, w.grad, backward, number_format)}"
        attrs += _port_attrs(graph, w)
        lines.append(f"  n{w.src} -> n{w.dst} [{attrs}];")
    if graph.output in set(drawing.nodes):
        lines.append(f"  out [label={_quote(out)}, shape=plaintext, fontsize=16];")
        label = _wire_label(trace.values[graph.output], 1.0, backward, number_format)
        lines.append(f"  n{graph.output} -> out [label={label}, penwidth=2];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _ordered(graph: Graph, node: int) -> bool:
    """Does the order of the gate's inputs matter (x / y, not x + y)?"""
    return len(graph.args[node]) > 1 and graph.ops[node] not in COMMUTATIVE


def _port_attrs(graph: Graph, w: Wire) -> str:
    """Where the order of a gate's inputs matters, each in-wire is numbered by a small label
    beside its arrowhead, clear of it: the gate is drawn with `ordering=in`, so input 1 comes
    in on top; its number goes above its wire (labelangle < 0) and the others' below it."""
    if not _ordered(graph, w.dst):
        return ""
    angle = -PORT_ANGLE if w.k == 0 else PORT_ANGLE
    return (f', headlabel="{w.k + 1}", labelangle={angle}, labeldistance={PORT_DISTANCE}, '
            f"labelfontsize=9, labelfontcolor=gray40")


def _node_attrs(drawing: Drawing, node: int, number_format: NumberFormat) -> str:
    trace = drawing.trace
    graph = trace.graph
    kind = graph.ops[node]
    fork = ""
    wide = False  # a long Σ line: an ellipse, not a circle as wide as the line is long
    if drawing.is_fork(node) and trace.depends[node]:
        if drawing.gradients:
            total = f"Σ {fork_sum(drawing, node, number_format)}"
            wide = len(total) > WIDE_LINE
            fork = "<br/>" + _font(total, DOT_GRAD_COLOR, 10)
        else:
            fork = "<br/>" + _font(f"forks ×{len(drawing.out_wires[node])}", "gray40", 10)
    if kind == INPUT:
        label = f"<<b>{html.escape(gate_text(graph, node))}</b>{fork}>"
        return (f"label={label}, shape=box, style=\"rounded,filled\", fillcolor=\"#dbeafe\", "
                "color=\"#1d4ed8\"")
    if kind == CONST:
        label = f"<{html.escape(number_format.value(trace.values[node]))}>"
        return "label=" + label + ", shape=box, style=filled, fillcolor=\"#eeeeee\", color=gray60"
    # its name, or what it computes when that is short (`w0*x0`); a longer source text would
    # blow the circle up, so the op's symbol alone names the gate and the text is its tooltip
    name = gate_text(graph, node, DOT_LIMIT)
    sub = "" if name.endswith("…") else "<br/>" + _font(name, "gray25", 10)
    label = f"<<b>{html.escape(symbol(graph, node))}</b>{sub}{fork}>"
    attrs = f"label={label}, shape={'ellipse' if wide else 'circle'}, margin=0.02"
    if _ordered(graph, node):
        attrs += ", ordering=in"  # input 1 on top (see _port_attrs)
    note = trace.kink(node)
    if note:
        attrs += f", tooltip={_quote(note)}, color=orange"
    elif not sub:
        attrs += f", tooltip={_quote(graph.source(node))}"
    if node == graph.output:
        attrs += ", peripheries=2, style=\"bold,filled\", fillcolor=\"#fff3c4\""
    return attrs


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(dot_text: str, fmt_name: str, path: Path | None, dpi: float | None = None) -> bytes:
    """Run Graphviz `dot`: write an SVG, PNG or PDF file, or return the output when `path` is
    None. `dpi` sets a PNG's resolution (Graphviz's default is 96)."""
    exe = shutil.which("dot")
    if exe is None:
        raise UsageError(f"--format {fmt_name} needs Graphviz's `dot` program, which is not "
                         "installed", [INSTALL_HINT, "or write DOT text: --format dot"])
    command = [exe, f"-T{fmt_name}"] + ([f"-Gdpi={dpi:g}"] if dpi else []) + (
        ["-o", str(path)] if path is not None else [])
    try:
        done = subprocess.run(command, input=dot_text.encode(), capture_output=True,
                              timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(f"running Graphviz `dot` failed: {exc}") from None
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip().splitlines()
        where = f"write {path}" if path is not None else f"render {fmt_name}"
        raise UsageError(f"Graphviz `dot` could not {where} (exit {done.returncode})",
                         detail[:5])
    return done.stdout


def infer_format(fmt_name: str | None, output: str | None) -> str:
    if fmt_name is not None:
        if fmt_name not in FORMATS:
            raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got {fmt_name!r}")
        return fmt_name
    suffix = Path(output).suffix.lower().lstrip(".") if output else ""
    known = {"dot": "dot", "gv": "dot", "svg": "svg", "png": "png", "pdf": "pdf", "txt": "text",
             "": "text"}
    if suffix not in known:
        raise UsageError(f"cannot tell the format of {output} from its extension",
                         ["name it .txt, .dot, .svg, .png or .pdf, or give --format"])
    return known[suffix]


def write_text(path: str, content: str) -> None:
    try:
        Path(path).write_text(content, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def draw(console: Console, trace: Trace, *, fmt_name: str | None, output: str | None,
         around: str | None, depth: int | None, limit: int,
         number_format: FormatOrPrecision = DEFAULT_FORMAT, title: str | None = None,
         scale: float = DEFAULT_SCALE) -> None:
    """The `circuit draw` command, after parsing and running the circuit."""
    number_format = as_number_format(number_format)
    kind = infer_format(fmt_name, output)
    if kind in BINARY and output is None:
        raise UsageError(f"--format {kind} needs an output file: -o FILE.{kind}")
    drawing = select(trace, around, depth, limit)
    if kind == "text":
        if output is None:
            print_text(console, drawing, number_format)
        else:
            write_text(output, text_drawing(drawing, number_format).plain)
        return
    dot_text = to_dot(drawing, number_format, title)
    if kind == "dot":
        if output is None:
            console.file.write(dot_text)
        else:
            write_text(output, dot_text)
        return
    if output is None:  # svg to standard output
        console.file.write(render(dot_text, kind, None).decode())
        return
    render(dot_text, kind, Path(output), dpi=PNG_DPI * scale if kind == "png" else None)
