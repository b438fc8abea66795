"""circuit plot: the curve, the tangent whose slope is ∂f/∂x, and the point (data, not pixels)."""

from __future__ import annotations

import json
import math

import pytest

from circuit_backprop.core import engine
from circuit_backprop.lang.parse import parse
from circuit_backprop.views import plot


def neuron_trace(circuits_dir):
    graph = parse((circuits_dir / "neuron.circ").read_text())
    return engine.run(graph, dict(graph.defaults))


def test_tangent_slope_is_the_gradient_and_touches_the_curve(circuits_dir):
    trace = neuron_trace(circuits_dir)
    data = plot.sample(trace, "x0", -3, 1, points=401)
    assert data.slope == pytest.approx(0.393224, abs=1e-6)
    assert data.x0 == -1 and data.y0 == pytest.approx(0.731059, abs=1e-6)
    t = data.tangent_ys
    slope = (t[-1] - t[0]) / (data.xs[-1] - data.xs[0])
    assert slope == pytest.approx(data.slope, rel=1e-12)
    # the curve's own slope at x0 (from its samples) matches: the tangent really is tangent
    k = data.xs.index(-1.0)
    h = data.xs[k + 1] - data.xs[k]
    curve_slope = (data.ys[k + 1] - data.ys[k - 1]) / (2 * h)
    assert curve_slope == pytest.approx(data.slope, rel=1e-4)
    assert data.ys[k] == pytest.approx(data.y0)


def test_png_is_written_and_its_data_matches(tmp_path, circuits_dir, run):
    import matplotlib  # noqa: F401  (the test extra installs it: never skipped)

    png = tmp_path / "neuron.png"
    data = plot.save(plot.sample(neuron_trace(circuits_dir), "w0", points=51), str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert data.slope == pytest.approx(-0.196612, abs=1e-6)
    out = run("plot", circuits_dir / "neuron.circ", "--wrt", "x0", "-o", tmp_path / "cli.png")
    assert out.exit_code == 0, out.output
    assert (tmp_path / "cli.png").read_bytes()[:4] == b"\x89PNG"
    svg = tmp_path / "n.svg"
    assert run("plot", circuits_dir / "neuron.circ", "--wrt", "x0", "-o", svg).exit_code == 0
    assert "<svg" in svg.read_text()


def test_json_data_from_the_cli(run):
    out = run("plot", "x^3 - 2*x", "--x", "1", "--wrt", "x", "--range", "-2:2", "--points", "5",
              "--json")
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["slope"] == pytest.approx(1.0)  # 3x² - 2 at 1
    assert data["xs"] == [-2, -1, 0, 1, 2]
    assert data["ys"] == [pytest.approx(x**3 - 2 * x) for x in data["xs"]]
    assert data["tangent"] == [pytest.approx(-1 + (x - 1)) for x in data["xs"]]


def test_undefined_points_are_skipped_not_fatal(run):
    out = run("plot", "log(x) * y", "--x", "1", "--y", "2", "--wrt", "x", "--range", "-1:3",
              "--points", "9", "--json")
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["ys"][:3] == [None, None, None] and data["skipped"] == 3
    assert all(isinstance(y, float) for y in data["ys"][3:])
    text = run("plot", "log(x) * y", "--x", "1", "--y", "2", "--wrt", "x", "--range", "-1:3")
    assert text.exit_code == 0 and "skipped" in text.stdout


def test_terminal_plot_marks_curve_tangent_and_point(run, circuits_dir):
    out = run("plot", circuits_dir / "neuron.circ", "--wrt", "x0")
    assert out.exit_code == 0, out.output
    assert "●" in out.stdout and "•" in out.stdout and "·" in out.stdout
    assert "slope ∂f/∂x0 = 0.393224" in out.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--wrt", "nope"], "not an input"),
        (["--wrt", "x", "--range", "3:1"], "--range"),
        (["--wrt", "x", "-o", "plot.txt"], ".png"),
    ],
)
def test_plot_usage_errors(run, args, message):
    out = run("plot", "x*y", "--x", "1", "--y", "2", *args)
    assert out.exit_code == 2, out.output
    assert message in out.stderr


def test_default_range_is_centred():
    lo, hi = plot.default_range(3.0)
    assert (lo + hi) / 2 == 3.0 and hi - lo == 6.0
    assert plot.default_range(0.0) == (-1.0, 1.0)
    assert math.isfinite(plot.parse_range("-2:2")[0])
