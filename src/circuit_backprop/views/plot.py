"""`circuit plot`: f as one input varies, with the tangent line whose slope is ∂f/∂x.

The seed's "Tangent" section: ∂f/∂x is the slope of the local linear function that best
approximates f near the point. `sample` computes the data (the curve, the tangent, the point) and
returns it, so tests and scripts can check the numbers rather than pixels; `text_lines` draws it
in the terminal with plain characters, and `save` writes PNG/SVG/PDF with matplotlib (the optional
`plot` extra). Points where f is undefined (log of a negative, ...) are skipped, not fatal.
"""

from __future__ import annotations

import math
import sys
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
from circuit_backprop.views.report import SCHEMA

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

    def tangent(self, x: float) -> float | None:
        """The tangent line at x; None where it is beyond float64 (a huge range or slope)."""
        y = self.y0 + self.slope * (x - self.x0)
        return y if math.isfinite(y) else None

    @property
    def tangent_ys(self) -> list[float | None]:
        return [self.tangent(x) for x in self.xs]

    @property
    def skipped(self) -> int:
        return sum(y is None for y in self.ys)

    @property
    def side(self) -> str | None:
        """Where the point is, if not within the range plotted: "left" or "right" of it."""
        if self.x0 < self.xs[0]:
            return "left"
        if self.x0 > self.xs[-1]:
            return "right"
        return None

    def to_json(self) -> dict[str, Any]:
        """The `--json` document; "schema" first, as in every other one."""
        return {
            "schema": SCHEMA, "wrt": self.wrt, "output": self.output, "x0": self.x0, "y0": self.y0,
            "slope": self.slope, "fixed": self.fixed, "xs": self.xs, "ys": self.ys,
            "tangent": self.tangent_ys, "skipped": self.skipped,
        }


def parse_range(text: str) -> tuple[float, float]:
    lo_text, sep, hi_text = text.partition(":")
    try:
        lo, hi = float(lo_text), float(hi_text)
    except ValueError:
        lo = hi = math.nan
    if not sep or not (math.isfinite(lo) and math.isfinite(hi)):
        raise UsageError(f"--range expects A:B with finite numbers A < B, got {text!r}",
                         ["e.g. --range -2:2"])
    check_range(lo, hi, f"--range {text}")
    return lo, hi


def check_range(lo: float, hi: float, what: str = "the range") -> None:
    """A range to plot has two different ends, the smaller first (a clear usage error)."""
    if lo == hi:
        raise UsageError(f"{what}: its two ends are the same number, there is nothing to plot",
                         ["give two different ends, the smaller first: e.g. --range -2:2"])
    if lo > hi:
        raise UsageError(f"{what}: the smaller end comes first (A < B in A:B)",
                         [f"e.g. --range {hi:g}:{lo:g}"])


FLOAT_MAX = sys.float_info.max


def default_range(x0: float) -> tuple[float, float]:
    """x0 ± max(1, |x0|): the point in the middle, wide enough to see the curve bend (within
    float64: at x0 = 1e308 the range ends at the largest float, not at infinity)."""
    half = max(1.0, abs(x0))
    return max(x0 - half, -FLOAT_MAX), min(x0 + half, FLOAT_MAX)


def between(lo: float, hi: float, k: int, steps: int) -> float:
    """The k-th of steps + 1 evenly spaced points from lo to hi (lo at 0, hi at steps), also
    where hi - lo is beyond float64 (-1e308 to 1e308)."""
    x = lo + (hi - lo) * k / steps
    if math.isfinite(x):
        return x
    t = k / steps
    return lo * (1 - t) + hi * t


def fraction(v: float, lo: float, hi: float) -> float:
    """How far v is from lo towards hi (0 at lo, 1 at hi), also where hi - lo overflows."""
    span = hi - lo
    if math.isfinite(span):
        return (v - lo) / span
    return (v / 2 - lo / 2) / (hi / 2 - lo / 2)


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
    check_range(lo, hi)
    data = PlotData(wrt, graph.label(graph.output), x0, trace.output_value,
                    trace.grads[graph.inputs[wrt]],
                    fixed={k: v for k, v in inputs.items() if k != wrt})
    n = max(2, points)
    for k in range(n):
        x = between(lo, hi, k, n - 1)
        data.xs.append(x)
        data.ys.append(_value_at(graph, inputs, wrt, x))
    return data


def _value_at(graph: Any, inputs: dict[str, float], wrt: str, x: float) -> float | None:
    """f with input `wrt` at x; None where f is undefined there (or beyond float64)."""
    try:
        y = engine.forward(graph, {**inputs, wrt: x}).output_value
    except EvalError:
        return None
    return y if math.isfinite(y) else None


# --- the terminal ------------------------------------------------------------------------------


def y_limits(data: PlotData) -> tuple[float, float]:
    """The y-axis: the curve's values, and the point's where it is in the range plotted (one
    outside it would squash the curve); the tangent's where nothing else is; 5% spare above and
    below (within float64)."""
    ys = [y for y in data.ys if y is not None]
    if data.side is None:
        ys.append(data.y0)
    if not ys:
        ys = [y for y in (data.tangent(data.xs[0]), data.tangent(data.xs[-1])) if y is not None]
    ylo, yhi = (min(ys), max(ys)) if ys else (data.y0, data.y0)
    if ylo == yhi:  # a constant: a band around it
        spare = max(1.0, abs(ylo) / 10)
        ylo, yhi = ylo - spare, yhi + spare
    pad = (yhi / 2 - ylo / 2) * 0.1
    return max(ylo - pad, -FLOAT_MAX), min(yhi + pad, FLOAT_MAX)


def text_lines(data: PlotData, width: int = 64, height: int = 18,
               number_format: FormatOrPrecision = DEFAULT_FORMAT) -> list[Text]:
    """A character plot: f as •, the tangent as ·, the point as ●; y-axis labels on the left,
    with at most AXIS_DIGITS digits (the plot, not its labels, is what this is for). A point
    outside the range plotted is an arrow at that edge (→ or ←), level with it where it can be."""
    axis = as_number_format(number_format).at_most(AXIS_DIGITS)
    lo, hi = data.xs[0], data.xs[-1]
    ylo, yhi = y_limits(data)

    def col(x: float) -> int:
        return min(width - 1, max(0, round(fraction(x, lo, hi) * (width - 1))))

    def row(y: float | None) -> int | None:
        down = None if y is None else fraction(y, yhi, ylo)  # 0 at the top, 1 at the bottom
        if down is None or not -1 <= down <= 2:  # (off the plot, however far)
            return None
        r = round(down * (height - 1))
        return r if 0 <= r < height else None

    grid = [[(" ", "")] * width for _ in range(height)]
    for c in range(width):
        r = row(data.tangent(between(lo, hi, c, width - 1)))
        if r is not None:
            grid[r][c] = ("·", "red")
    for x, y in zip(data.xs, data.ys, strict=True):
        r = row(y)
        if r is not None:
            grid[r][col(x)] = ("•", "green")
    r0 = row(data.y0)
    if data.side is None:
        if r0 is not None:
            grid[r0][col(data.x0)] = ("●", "bold")
    else:
        edge = 0 if data.side == "left" else width - 1
        level = r0 if r0 is not None else (0 if data.y0 > yhi else height - 1)
        grid[level][edge] = ("←" if data.side == "left" else "→", "bold")
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
        _point_line(data, number),
    ]
    if data.skipped:
        every = "all" if data.skipped == len(data.xs) else f"{data.skipped} of"
        lines.append(Text(f"{every} {len(data.xs)} points skipped: {f} is undefined there (or "
                          "beyond float64)", style="yellow"))
    return lines


def _point_line(data: PlotData, number: Any) -> Text:
    """The point; where it is outside the range plotted, which side, and the range."""
    point = f" ({number(data.x0)}, {number(data.y0)})"
    if data.side is None:
        return Text.assemble(("●", "bold"), point)
    arrow = "←" if data.side == "left" else "→"
    return Text.assemble(("●", "bold"), point, f": outside the range plotted ({data.wrt} from "
                         f"{number(data.xs[0])} to {number(data.xs[-1])}), to its {data.side} "
                         "(", (arrow, "bold"), " at that edge)")


# --- files -------------------------------------------------------------------------------------


HUGE_AXIS = 1e300  # matplotlib's ticks overflow on an axis reaching float64's largest numbers


def _axis_unit(lo: float, hi: float) -> float:
    """1, or the power of ten an axis reaching beyond HUGE_AXIS is drawn in (its label says)."""
    biggest = max(abs(lo), abs(hi))
    return 1.0 if biggest < HUGE_AXIS else 10.0 ** math.floor(math.log10(biggest))


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
    ylo, yhi = y_limits(data)
    xk, yk = _axis_unit(data.xs[0], data.xs[-1]), _axis_unit(ylo, yhi)

    def scaled(values: list[float | None], unit: float) -> list[float]:
        return [math.nan if v is None else v / unit for v in values]

    xs = scaled(list(data.xs), xk)
    ax.set_xlim(xs[0], xs[-1])  # (first: autoscaling to a tangent near 1e308 would overflow)
    ax.set_ylim(ylo / yk, yhi / yk)
    ax.plot(xs, scaled(data.ys, yk), color="tab:green", label=f"{data.output}({data.wrt})")
    ax.plot(xs, scaled(data.tangent_ys, yk), color="tab:red", linestyle="--",
            label=f"tangent, slope ∂{data.output}/∂{data.wrt} = {data.slope:.6g}")
    point = f"({data.x0:g}, {data.y0:.6g})"
    if data.side is None:
        ax.plot([data.x0 / xk], [data.y0 / yk], "o", color="black", label=point)
    else:  # (drawn, it would stretch the axes away from the range asked for)
        ax.plot([], [], "o", color="black", label=f"{point}: to the {data.side}, not shown")
    ax.set_xlabel(data.wrt + (f" (× {xk:g})" if xk != 1 else ""))
    ax.set_ylabel(data.output + (f" (× {yk:g})" if yk != 1 else ""))
    ax.grid(True, alpha=0.3)
    ax.legend()
    try:
        fig.savefig(path)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None
    finally:
        plt.close(fig)
    return data
