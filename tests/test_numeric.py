"""--check-numeric: central differences against the engine's gradients."""

from __future__ import annotations

import math

import pytest

from circuit_backprop.checks import numeric
from circuit_backprop.core import engine, ops
from circuit_backprop.lang.parse import parse


def test_neuron_passes_the_numeric_check(run, run_json, circuits_dir):
    out = run("backward", circuits_dir / "neuron.circ", "--check-numeric")
    assert out.exit_code == 0, out.output
    assert "numeric" in out.stdout and "✓" in out.stdout
    data = run_json("backward", circuits_dir / "neuron.circ", "--check-numeric", "--json")
    check = data["numeric"]
    assert check["ok"] and check["eps"] == 1e-6 and check["atol"] == 1e-5 and check["rtol"] == 1e-3
    by_id = {n["id"]: n for n in check["nodes"]}
    for g in data["gates"]:
        if g["id"] in by_id:
            assert by_id[g["id"]]["numeric"] == pytest.approx(g["grad"], rel=1e-6, abs=1e-8)
    assert data["gradients"]["x0"] == pytest.approx(0.393224, abs=1e-6)


def test_eval_accepts_check_numeric_and_options(run):
    out = run("eval", "x*y + sin(x)", "--x", "2", "--y", "3", "--check-numeric",
              "--eps", "1e-5", "--numeric-atol", "1e-6", "--numeric-rtol", "1e-4")
    assert out.exit_code == 0, out.output
    assert "eps 1e-05" in out.stdout and "atol 1e-06" in out.stdout


@pytest.fixture
def wrong_square(monkeypatch):
    """A test-only op `sq` whose local gradient is deliberately wrong (3a instead of 2a)."""
    op = ops.Op(name="sq", symbol="sq", arity=1, value=lambda a: a * a, arithmetic=True,
                grad=("dout * (3 * a)",), text="sq({a})", torch=lambda t, a: a * a,
                torch_text="{a} * {a}", call="sq")
    monkeypatch.setitem(ops.OPS, "sq", op)
    monkeypatch.setitem(ops.FUNCTIONS, "sq", op)
    return op


def test_a_wrong_local_gradient_is_caught(run, run_json, wrong_square):
    out = run("backward", "h = sq(x) + y; f = h * 2", "--x", "1.5", "--y", "1",
              "--check-numeric")
    assert out.exit_code == 1, out.output
    assert "disagrees" in out.stderr and "x" in out.stderr
    assert "✗" in out.stdout
    result = numeric.check(engine.run(parse("h = sq(x) + y; f = h * 2"), {"x": 1.5, "y": 1.0}))
    status = {r.node: r.status for r in result.nodes}
    graph = parse("h = sq(x) + y; f = h * 2")
    assert status[graph.inputs["x"]] == numeric.MISMATCH  # analytic 13.5, numeric 9
    assert status[graph.inputs["y"]] == numeric.OK
    assert not result.ok


def test_a_wrong_gradient_inside_a_def_is_caught_too(run, wrong_square):
    out = run("backward", "def g(a) = sq(a) * 2; f = g(x)", "--x", "2", "--check-numeric")
    assert out.exit_code == 1, out.output


@pytest.mark.parametrize(
    ("program", "values"),
    [
        ("f = relu(x) * 3", {"x": 0}),
        ("f = abs(x) + y", {"x": 0, "y": 1}),
        ("f = max(x, y) * 2", {"x": 1, "y": 1}),
    ],
)
def test_a_kink_is_flagged_and_explained_not_failed(run_json, program, values):
    args = [a for k, v in values.items() for a in (f"--{k}", str(v))]
    data = run_json("backward", program, *args, "--check-numeric", "--json")
    check = data["numeric"]
    assert check["ok"], check
    x = next(n for n in check["nodes"] if n["id"] == data["gates"][0]["id"])
    assert x["kink"] is not None
    lo, hi = sorted(x["one_sided"])
    assert lo - 1e-6 <= x["analytic"] <= hi + 1e-6
    assert lo != pytest.approx(hi)


def test_kink_table_shows_one_sided_differences(run):
    out = run("backward", "f = relu(x) * 3", "--x", "0", "--check-numeric")
    assert out.exit_code == 0
    assert "kink explains it" in out.stdout and "one-sided" in out.stdout


def test_undefined_neighbourhood_is_not_a_failure():
    graph = parse("f = sqrt(x) + y")
    result = numeric.check(engine.run(graph, {"x": 1e-7, "y": 1.0}))
    x = next(r for r in result.nodes if r.node == graph.inputs["x"])
    assert x.status == numeric.UNDEFINED and result.ok


def test_with_check_torch_one_table_has_all_three(run):
    import torch  # noqa: F401  (the test extra installs it: never skipped)

    out = run("backward", "f = sigmoid(w*x) * x", "--w", "2", "--x", "-1", "--check-numeric",
              "--check-torch")
    assert out.exit_code == 0, out.output
    header = next(line for line in out.stdout.splitlines() if "analytic" in line)
    assert "numeric" in header and "torch" in header


def test_named_gate_perturbation_reruns_only_downstream():
    graph = parse("q = x + 2*y; f = q * z")
    trace = engine.run(graph, {"x": 3.0, "y": -4.0, "z": 19.0})
    q = graph.named_nodes()["q"]
    f, rerun = numeric.output_with(trace, q, trace.values[q] + 1)
    assert f == -95 + 19 and rerun == [graph.output]
    assert math.isclose(numeric.check(trace).max_rel_error, 0, abs_tol=1e-6)
