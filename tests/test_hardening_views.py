"""Issue 14, the views' rows: `circuit torch` on defs, `circuit plot` outside its range, `--all`.

Each test reproduces a row of the issue and checks the numbers against ones computed another way
(autograd in a separate process, the engine's JSON, the API's gate records).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

# --- circuit torch: defs whose body is a number, a bare parameter, or leaves a parameter out ---


def _run_program(text: str) -> dict[str, object]:
    """Run the printed PyTorch program with `python -c`; its `name = value` lines, parsed."""
    p = subprocess.run([sys.executable, "-c", text], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    found: dict[str, object] = {}
    for line in p.stdout.splitlines():
        key, _, value = line.partition(" = ")
        found[key] = json.loads("null" if value == "None" else value)
    return found


def _flat(value: object) -> list[float]:
    """A number or nested lists of numbers, as one flat list (a loop, not a recursion)."""
    flat: list[float] = []
    todo = [value]
    while todo:
        item = todo.pop()
        if isinstance(item, list):
            todo.extend(reversed(item))
        else:
            flat.append(float(item))  # type: ignore[arg-type]
    return flat


DEF_PROGRAMS = [
    # the reproducer: a def whose body is a number (KeyError: 1 in _staged)
    ("def k(a) = 5; f = k(x) * x", ["--x", "2"]),
    # the output computed from no input through autograd: no backward(), every gradient 0
    ("def k(a) = 5; f = k(x)", ["--x", "2"]),
    # a def whose body is its parameter: g's .grad must be g's own, not x's (an alias)
    ("def k(a) = a; g = k(x); f = g * x", ["--x", "2"]),
    # a def that leaves a parameter out
    ("def k(a, b) = a * 3; g = k(x, y); f = g * y", ["--x", "2", "--y", "5"]),
    # a def calling one defined after it, whose body is a number
    ("def h(b) = k(b) * 2; def k(a) = 5; f = h(x) + x", ["--x", "2"]),
    # a parameter named like a def the body calls (it would hide the function)
    ("def k(a) = a*3; def h(k) = k(k)*k; f = h(x)", ["--x", "2"]),
    # named constants, a body that is its second parameter, a call on a number
    ("def k(a) = pi; def z(a, b) = b; g = k(x) * z(x, y); f = g + z(y, 2)",
     ["--x", "0.5", "--y", "-3"]),
    # tensor programs
    ("def k(a, b) = a; f = sum(k(x, 2) * x)", ["--x", "[1, 2, 3]"]),
    ("def k(a) = a; g = k(w); f = sum(g * w)", ["--w", "[[1, 2], [3, 4]]"]),
    ("def k(a) = sum(a * a); def sq(a) = a * a; f = k(x) * sum(sq(x) + x)",
     ["--x", "[1, -2, 3]"]),
]


@pytest.mark.parametrize(("source", "values"), DEF_PROGRAMS)
def test_torch_program_of_defs_runs_and_matches_backward(run, source, values) -> None:
    out = run("torch", source, *values)
    assert out.exit_code == 0, out.output
    found = _run_program(out.stdout)
    doc = json.loads(run("backward", source, *values, "--json").stdout)
    assert found[doc["output"]] == pytest.approx(doc["value"], rel=1e-12)
    named = {g["name"]: g for g in doc["gates"] if g["name"] and g["op"] != "const"}
    assert set(doc["inputs"]) <= set(named)
    backward = f"{doc['output']}.backward()" in out.stdout
    for name, gate in named.items():
        got = found[f"{name}.grad"]
        want = _flat(gate["grad"])
        if got is None and name == doc["output"]:  # (no backward(): no seed ∂f/∂f = 1 either)
            assert not backward
            continue
        if got is None:  # autograd never reached it: its gradient is 0
            got = [0.0] * len(want)
        assert _flat(got) == pytest.approx(want, rel=1e-12, abs=1e-15), name


def test_torch_program_of_a_constant_def_says_there_is_no_gradient(run) -> None:
    text = run("torch", "def k(a) = 5; f = k(x)", "--x", "2").stdout
    assert "f.backward()" not in text and "f.retain_grad()" not in text
    assert "return torch.tensor(5.0, dtype=torch.float64)" in text


# --- circuit plot: a range that does not contain the point, and other edge cases ---------------


def _plot_json(run, source: str, *args: str) -> dict:
    out = run("plot", source, "--wrt", "x", *args, "--json")
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout, parse_constant=lambda name: pytest.fail(f"{name} in JSON"))


def _grid(stdout: str, height: int = 18) -> list[str]:
    """The plot's rows, each the characters right of the y-axis's │."""
    return [line.split("│", 1)[1] for line in stdout.splitlines()[:height]]


def test_plot_of_a_range_without_the_point_draws_the_range_and_says_where_it_is(run) -> None:
    out = run("plot", "x*x", "--x", "3", "--wrt", "x", "--range", "0:1")
    assert out.exit_code == 0, out.output
    rows = _grid(out.stdout)
    assert "●" not in out.stdout.split("\n• ")[0]  # not drawn: it is not in the range
    assert [r.rstrip()[-1:] for r in rows].count("→") == 1  # an arrow at the right edge
    assert rows[0].rstrip().endswith("→")  # f(3) = 9 is above the curve's values too
    assert sum(r.count("•") for r in rows) > 50
    assert "(3, 9): outside the range plotted (x from 0 to 1), to its right" in out.stdout
    assert "slope ∂f/∂x = 6" in out.stdout
    data = _plot_json(run, "x*x", "--x", "3", "--range", "0:1", "--points", "5")
    assert data["xs"] == [0, 0.25, 0.5, 0.75, 1]
    assert data["ys"] == [pytest.approx(x * x) for x in data["xs"]]
    assert data["tangent"] == [pytest.approx(9 + 6 * (x - 3)) for x in data["xs"]]


def test_plot_arrow_is_level_with_the_point_on_the_side_it_is() -> None:
    from circuit_backprop.core import engine
    from circuit_backprop.lang.parse import parse
    from circuit_backprop.views import plot

    graph = parse("f = x*x")
    data = plot.sample(engine.run(graph, {"x": -0.5}), "x", 0.0, 1.0, points=101)
    assert data.side == "left"
    rows = [line.plain.split("│", 1)[1] for line in plot.text_lines(data)[:18]]
    # the axis: the curve's 0..1 and 5% either side; f(-0.5) = 0.25 on the row it falls on
    ylo, yhi = -0.05, 1.05
    level = round((yhi - 0.25) / (yhi - ylo) * 17)
    assert [k for k, r in enumerate(rows) if r.startswith("←")] == [level]


@pytest.mark.parametrize(("range_text", "message"), [
    ("1:1", "its two ends are the same number"),
    ("2:1", "the smaller end comes first"),
    ("nan:1", "finite numbers"),
    ("0:inf", "finite numbers"),
])
def test_plot_of_an_empty_or_reversed_range_is_a_usage_error(run, range_text, message) -> None:
    out = run("plot", "x*x", "--x", "3", "--wrt", "x", "--range", range_text)
    assert out.exit_code == 2, out.output
    assert message in out.stderr and "Traceback" not in out.output


def test_plot_sample_refuses_a_reversed_range_too() -> None:
    from circuit_backprop.core import engine
    from circuit_backprop.errors import UsageError
    from circuit_backprop.lang.parse import parse
    from circuit_backprop.views import plot

    trace = engine.run(parse("f = x*x"), {"x": 1.0})
    with pytest.raises(UsageError, match="smaller end comes first"):
        plot.sample(trace, "x", 2.0, 1.0)


def test_plot_of_log_across_zero_skips_the_points_where_it_is_undefined(run) -> None:
    data = _plot_json(run, "log(x)", "--x", "1", "--range", "-1:2", "--points", "31")
    undefined = [x for x in data["xs"] if x <= 0]
    assert data["skipped"] == len(undefined) == 11
    assert data["ys"] == [None] * 11 + [pytest.approx(math.log(x)) for x in data["xs"][11:]]
    out = run("plot", "log(x)", "--x", "1", "--wrt", "x", "--range", "-2:-1")
    assert out.exit_code == 0, out.output
    assert "all 201 points skipped: f is undefined there" in out.stdout
    assert "to its right" in out.stdout


def test_plot_of_a_constant_puts_every_point_on_one_row(run) -> None:
    out = run("plot", "input x = 2\nf = 0*x + 20", "--wrt", "x")
    assert out.exit_code == 0, out.output
    rows = _grid(out.stdout)
    curve = [k for k, r in enumerate(rows) if "•" in r or "●" in r]
    assert len(curve) == 1 and "●" in rows[curve[0]]
    assert out.stdout.splitlines()[curve[0]].lstrip().startswith("20 │")


@pytest.mark.parametrize(("source", "args"), [
    ("x*x", ["--x", "3", "--range", "-1e308:1e308"]),  # the range's width is beyond float64
    ("x*1e300", ["--x", "1", "--range", "-1e8:1e8"]),  # values near float64's largest
    ("x", ["--x", "1e308"]),  # the default range would end at infinity
    ("x*x", ["--x", "1e150", "--range", "-1e308:1e308"]),  # the tangent beyond float64
    ("x*x", ["--x", "3", "--range", "0:1e-300"]),  # a tiny range, the point far outside it
    ("exp(x)", ["--x", "1", "--range", "0:800"]),  # exp overflows in the range
])
def test_plot_of_huge_values_is_a_plot(run, tmp_path, source, args) -> None:
    out = run("plot", source, "--wrt", "x", *args)
    assert out.exit_code == 0, out.output
    assert "tangent at x" in out.stdout
    data = _plot_json(run, source, *args, "--points", "21")
    assert all(math.isfinite(x) for x in data["xs"]) and len(data["xs"]) == 21
    assert data["xs"][0] < data["xs"][-1]
    for x, y in zip(data["xs"], data["ys"], strict=True):
        if y is not None:
            assert y == pytest.approx(eval_plain(source, x), rel=1e-12)
    png = tmp_path / "huge.png"
    assert run("plot", source, "--wrt", "x", *args, "-o", png).exit_code == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


def eval_plain(source: str, x: float) -> float:
    """The few test functions above, in plain Python."""
    return {"x*x": lambda: x * x, "x*1e300": lambda: x * 1e300, "x": lambda: x,
            "exp(x)": lambda: math.exp(x)}[source]()
