"""`circuit plot`: f as one input varies, with the tangent line whose slope is ∂f/∂x.

The seed's "Tangent" section: ∂f/∂x is the slope of the local linear function that best
approximates f near the point. `sample` computes the data (the curve, the tangent, the point) and
returns it, so tests and scripts can check the numbers rather than pixels; `text_lines` draws it
in the terminal with plain characters, and `save` writes PNG/SVG/PDF with matplotlib (the optional
`plot` extra). Points where f is undefined (log of a negative, ...) are skipped, not fatal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from rich.text import Text

from circuit_backprop.core import engine
from circuit_backprop.core.engine import Trace
from circuit_backprop.errors import EvalError, UsageError
from circuit_backprop.views.numberformat import (
    DEFAULT_FORMAT,
    FormatOrPrecision,
    as_number_format,
)

DEFAULT_POINTS = 201
AXIS_DIGITS = 4  # at most this many significant digits in the terminal plot's axis labels
INSTALL_HINT = 'install the plotting extra: pip install -e ".[plot]" (or pip install matplotlib)'


@dataclass
class PlotData:
    wrt: str  # the input that varies
    output: str  # the output's name
    x0: float  # the input's given value
    y0: float  # f there
    slope: float  # ∂f/∂x there: the tangent's slope
    xs: list[float] = field(default_factory=list)
    ys: list[float | None] = field(default_factory=list)  # None where f is undefined
    fixed: dict[str, float] = field(default_factory=dict)  # the other inputs

    def tangent(self, x: float) -> float:
        return self.y0 + self.slope * (x - self.x0)

    @property
    def tangent_ys(self) -> list[float]:
        return [self.tangent(x) for x in self.xs]

    @property
    def skipped(self) -> int:
        return sum(y is None for y in self.ys)

    def to_json(self) -> dict[str, Any]:
        return {
            "wrt": self.wrt, "output": self.output, "x0": self.x0, "y0": self.y0,
            "slope": self.slope, "fixed": self.fixed, "xs": self.xs, "ys": self.ys,
            "tangent": self.tangent_ys, "skipped": self.skipped,
        }


def parse_range(text: str) -> tuple[float, float]:
    lo_text, sep, hi_text = text.partition(":")
    try:
        lo, hi = float(lo_text), float(hi_text)
    except ValueError:
        lo = hi = math.nan
    if not sep or not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        raise UsageError(f"--range expects A:B with finite numbers A < B, got {text!r}",
                         ["e.g. --range -2:2"])
    return lo, hi


def default_range(x0: float) -> tuple[float, float]:
    """x0 ± max(1, |x0|): the point in the middle, wide enough to see the curve bend."""
    half = max(1.0, abs(x0))
    return x0 - half, x0 + half


def sample(trace: Trace, wrt: str, lo: float | None = None, hi: float | None = None,
           points: int = DEFAULT_POINTS) -> PlotData:
    """f at `points` values of input `wrt` from lo to hi, the others fixed; `trace` is a backward
    pass at the given values (it gives the point and the slope)."""
    graph = trace.graph
    if wrt not in graph.inputs:
        raise UsageError(f"--wrt: '{wrt}' is not an input of this circuit",
                         [f"inputs: {', '.join(graph.inputs) or 'none'}"])
    if trace.grads is None:
        trace = engine.backward(trace)
    assert trace.grads is not None
    inputs = {name: trace.values[node] for name, node in graph.inputs.items()}
    x0 = inputs[wrt]
    if lo is None or hi is None:
        lo, hi = default_range(x0)
    data = PlotData(wrt, graph.label(graph.output), x0, trace.output_value,
                    trace.grads[graph.inputs[wrt]],
                    fixed={k: v for k, v in inputs.items() if k != wrt})
    n = max(2, points)
    for k in range(n):
        x = lo + (hi - lo) * k / (n - 1)
        data.xs.append(x)
        try:
            y: float | None = engine.forward(graph, {**inputs, wrt: x}).output_value
        except EvalError:
            y = None
        data.ys.append(y)
    return data


# --- the terminal ------------------------------------------------------------------------------


def text_lines(data: PlotData, width: int = 64, height: int = 18,
               number_format: FormatOrPrecision = DEFAULT_FORMAT) -> list[Text]:
    """A character plot: f as •, the tangent as ·, the point as ●; y-axis labels on the left,
    with at most AXIS_DIGITS digits (the plot, not its labels, is what this is for)."""
    axis = as_number_format(number_format).at_most(AXIS_DIGITS)
    lo, hi = data.xs[0], data.xs[-1]
    finite = [y for y in data.ys if y is not None]
    ylo, yhi = min(finite + [data.y0]), max(finite + [data.y0])
    if ylo == yhi:
        ylo, yhi = ylo - 1, yhi + 1
    pad = (yhi - ylo) * 0.05
    ylo, yhi = ylo - pad, yhi + pad

    def col(x: float) -> int:
        return round((x - lo) / (hi - lo) * (width - 1))

    def row(y: float) -> int | None:
        r = round((yhi - y) / (yhi - ylo) * (height - 1))
        return r if 0 <= r < height else None

    grid = [[(" ", "")] * width for _ in range(height)]
    for c in range(width):
        r = row(data.tangent(lo + (hi - lo) * c / (width - 1)))
        if r is not None:
            grid[r][c] = ("·", "red")
    for x, y in zip(data.xs, data.ys, strict=True):
        r = row(y) if y is not None else None
        if r is not None:
            grid[r][col(x)] = ("•", "green")
    r0 = row(data.y0)
    if r0 is not None:
        grid[r0][col(data.x0)] = ("●", "bold")
    labels = {0: axis.value(yhi), height - 1: axis.value(ylo)}
    if r0 is not None:
        labels.setdefault(r0, axis.value(data.y0))
    margin = max(len(s) for s in labels.values())
    lines = []
    for r in range(height):
        line = Text(labels.get(r, "").rjust(margin) + " │")
        for ch, style in grid[r]:
            line.append(ch, style=style)
        lines.append(line)
    lines.append(Text(" " * margin + " └" + "─" * width))
    left, right = axis.value(lo), axis.value(hi)
    lines.append(Text(" " * (margin + 2) + left + right.rjust(width - len(left))
                      + f"  {data.wrt}"))
    return lines


def caption(data: PlotData, number_format: FormatOrPrecision = DEFAULT_FORMAT) -> list[Text]:
    """What the plot shows, in words and numbers: the curve, the tangent and the point."""
    number = as_number_format(number_format).value
    f, x = data.output, data.wrt
    fixed = ", ".join(f"{k} = {number(v)}" for k, v in data.fixed.items())
    lines = [
        Text.assemble(("•", "green"), f" {f} as {x} varies" + (f" ({fixed})" if fixed else "")),
        Text.assemble(("·", "red"), f" tangent at {x} = {number(data.x0)}: "
                      f"{f} ≈ {number(data.y0)} + {number(data.slope)}·"
                      f"({x} {'+' if data.x0 < 0 else '-'} {number(abs(data.x0))}); "
                      f"slope ∂{f}/∂{x} = {number(data.slope)}"),
        Text.assemble(("●", "bold"), f" ({number(data.x0)}, {number(data.y0)})"),
    ]
    if data.skipped:
        lines.append(Text(f"{data.skipped} of {len(data.xs)} points skipped: {f} is undefined "
                          "there", style="yellow"))
    return lines


# --- files -------------------------------------------------------------------------------------


def save(data: PlotData, path: str) -> PlotData:
    """Write the plot with matplotlib (format from the extension); returns the data drawn."""
    ext = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    if ext not in ("png", "svg", "pdf"):
        raise UsageError(f"-o {path}: the file must end in .png, .svg or .pdf")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("writing a plot file needs matplotlib, which is not installed",
                         [INSTALL_HINT]) from None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ys = [math.nan if y is None else y for y in data.ys]
    ax.plot(data.xs, ys, color="tab:green", label=f"{data.output}({data.wrt})")
    ax.plot(data.xs, data.tangent_ys, color="tab:red", linestyle="--",
            label=f"tangent, slope ∂{data.output}/∂{data.wrt} = {data.slope:.6g}")
    ax.plot([data.x0], [data.y0], "o", color="black", label=f"({data.x0:g}, {data.y0:.6g})")
    finite = [y for y in ys if math.isfinite(y)]
    if finite:
        span = (max(finite) - min(finite)) or 1.0
        ax.set_ylim(min(finite) - 0.1 * span, max(finite) + 0.1 * span)
    ax.set_xlabel(data.wrt)
    ax.set_ylabel(data.output)
    ax.grid(True, alpha=0.3)
    ax.legend()
    try:
        fig.savefig(path)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None
    finally:
        plt.close(fig)
    return data
