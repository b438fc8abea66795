"""Correctness at scale: long chains and wide DAGs whose gradients are known in closed form, the
bulk (numpy) engine against the reference engine, and the streamed JSON against the plain one.

Speed is measured in bench/, never asserted here.
"""

from __future__ import annotations

import io
import json
import math
import os
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from circuit_backprop.core import bulk, engine
from circuit_backprop.core.ops import OPS
from circuit_backprop.lang.parse import parse
from circuit_backprop.views import report


def test_deep_chain_gradient_is_exact():
    # v0 = x, v_k = v_{k-1} + x: f = (N + 1) x, so ∂f/∂x = N + 1 exactly in float64
    n = 200_000
    lines = ["input x = 0.75", "v0 = x"] + [f"v{k} = v{k - 1} + x" for k in range(1, n + 1)]
    graph = parse("\n".join(lines))
    trace = engine.run(graph, {"x": 0.75})
    assert trace.output_value == 0.75 * (n + 1)
    assert trace.grads[graph.inputs["x"]] == n + 1
    # every intermediate v_k gets gradient 1: it reaches f through additions only
    named = graph.named_nodes()
    assert trace.grads[named["v1000"]] == 1.0
    assert trace.grads[named["v0"]] == 1.0


def test_deep_product_chain_matches_closed_form():
    # v_k = v_{k-1} * c: f = x c^N, ∂f/∂x = c^N, ∂f/∂c = N x c^(N-1)
    n, x, c = 50_000, 1.5, 1.00001
    lines = [f"input x = {x}", f"input c = {c}", "v0 = x"]
    lines += [f"v{k} = v{k - 1} * c" for k in range(1, n + 1)]
    graph = parse("\n".join(lines))
    trace = engine.run(graph, dict(graph.defaults))
    assert trace.output_value == pytest.approx(x * c**n, rel=1e-9)
    assert trace.grads[graph.inputs["x"]] == pytest.approx(c**n, rel=1e-9)
    assert trace.grads[graph.inputs["c"]] == pytest.approx(n * x * c ** (n - 1), rel=1e-9)


def wide_sum_of_products(terms: int, inputs: int, seed: int) -> tuple[str, dict, dict]:
    """f = Σ_k a_i(k) · a_j(k), summed as a balanced tree (a wide, shallow DAG with forks).

    Returns the program, the input values and ∂f/∂a_i computed here by hand, independently of
    the engine: each product sends its other factor to each of its inputs.
    """
    rng = random.Random(seed)
    values = {f"a{i}": rng.uniform(-1, 1) for i in range(inputs)}
    expected = dict.fromkeys(values, 0.0)
    lines = [f"input {name} = {value!r}" for name, value in values.items()]
    level = []
    for k in range(terms):
        i, j = rng.randrange(inputs), rng.randrange(inputs)
        lines.append(f"t{k} = a{i} * a{j}")
        expected[f"a{i}"] += values[f"a{j}"]
        expected[f"a{j}"] += values[f"a{i}"]
        level.append(f"t{k}")
    depth = 0
    while len(level) > 1:
        nxt = []
        for k in range(0, len(level) - 1, 2):
            name = f"s{depth}_{k // 2}"
            lines.append(f"{name} = {level[k]} + {level[k + 1]}")
            nxt.append(name)
        if len(level) % 2:
            nxt.append(level[-1])
        level, depth = nxt, depth + 1
    lines.append(f"output {level[0]}")
    return "\n".join(lines), values, expected


def test_wide_dag_gradients_match_closed_form_through_the_bulk_engine():
    program, values, expected = wide_sum_of_products(terms=15_000, inputs=300, seed=1)
    graph = parse(program)
    assert len(graph) >= engine.BULK_MIN_NODES
    trace = bulk.run_levels(graph, values)  # raises Fallback if it could not batch this graph
    for name, grad in expected.items():
        assert trace.grads[graph.inputs[name]] == pytest.approx(grad, rel=1e-12, abs=1e-12)
    # and engine.run takes the same path and agrees with the reference engine
    reference = engine.backward(engine.forward(graph, values))
    assert list(engine.run(graph, values).grads) == pytest.approx(list(reference.grads))


def test_bulk_engine_falls_back_on_a_math_error_with_the_exact_message():
    program, values, _ = wide_sum_of_products(terms=8_000, inputs=50, seed=2)
    program = program.replace("output", "g = log(a0 - 5)\nh = g + 0\noutput")
    graph = parse(program)
    with pytest.raises(bulk.Fallback):
        bulk.run_levels(graph, values)
    with pytest.raises(bulk.Fallback):
        bulk.run_tape(graph, values)
    with pytest.raises(engine.EvalError) as err:
        engine.run(graph, values)
    assert "log" in err.value.message
    assert err.value.failure.source == "log(a0 - 5)"


GATE_OPS = sorted(name for name, op in OPS.items() if op.elementwise)  # every scalar op
LIMIT = 1e3  # values stay in a range where float64 rounding is far below the tolerances


@st.composite
def random_wide_circuits(draw: st.DrawFn) -> tuple[str, dict[str, float]]:
    """A random wide circuit over every op in the registry, written in the language (each op's
    own `text`). Inputs lie in (0.5, 1.5); where an op is not well conditioned at its operands'
    values (its entry's `conditioned`) or its value leaves ±LIMIT, the gate is tanh instead."""
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    values = {f"x{i}": rng.uniform(0.5, 1.5) for i in range(draw(st.integers(2, 6)))}
    inputs = dict(values)
    names = list(inputs)
    lines = []
    for k in range(draw(st.integers(5, 60))):
        op = OPS[rng.choice(GATE_OPS)]
        operands = [rng.choice(names) for _ in range(op.arity)]
        xs = [values[n] for n in operands]
        if not op.conditioned(*xs) or abs(op.value(*xs)) > LIMIT:
            op, operands, xs = OPS["tanh"], operands[:1], xs[:1]
        lines.append(f"v{k} = " + op.fill(op.text, operands))
        values[f"v{k}"] = op.value(*xs)
        names.append(f"v{k}")
    lines.append("f = " + " + ".join(names[-4:]))
    return "\n".join(lines), inputs


@settings(max_examples=150, deadline=None)
@given(random_wide_circuits())
def test_bulk_and_reference_engines_agree(case):
    program, inputs = case
    graph = parse(program)
    reference = engine.backward(engine.forward(graph, inputs))
    for batched in (bulk.run_levels(graph, inputs), bulk.run_tape(graph, inputs)):
        assert_same_trace(graph, batched, reference)


def assert_same_trace(graph, batched, reference):  # noqa: ANN001
    for node in range(len(graph)):
        assert batched.values[node] == pytest.approx(reference.values[node], rel=1e-12, abs=1e-15)
        assert batched.grads[node] == pytest.approx(reference.grads[node], rel=1e-9, abs=1e-12)
        assert batched.depends[node] == reference.depends[node]
        mine, theirs = batched.local[node], reference.local[node]
        assert (mine is None) == (theirs is None)
        if mine is not None:
            assert [d is None for d in mine] == [d is None for d in theirs]
            assert [d for d in mine if d is not None] == pytest.approx(
                [d for d in theirs if d is not None], rel=1e-9, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(random_wide_circuits(), st.booleans())
def test_streamed_json_is_exactly_the_plain_json(case, gradients):
    program, inputs = case
    graph = parse(program)
    trace = engine.run(graph, inputs, gradients=gradients)
    out = io.StringIO()
    report.write_json(trace, inputs, out)
    assert out.getvalue() == report.dumps(report.to_json(trace, inputs)) + "\n"
    doc = json.loads(out.getvalue())
    assert len(doc["gates"]) == len(graph)


@pytest.mark.parametrize("program, expand", [
    ("f = sigmoid(w*x + b)", True),  # expanded: body gates show their own text
    ("f =\tsigmoid(w*x  +  b)  # tabs and double spaces, folded in the sources", False),
    ("q = (w  *  x)\nf = q / (1 +\tb)", False),
])
def test_streamed_json_shows_each_gates_own_source(program, expand):
    from circuit_backprop.lang.expand import expand as expand_graph

    graph = parse(program)
    if expand:
        graph = expand_graph(graph, None)
    inputs = {"w": 2.0, "x": -1.0, "b": -3.0}
    trace = engine.run(graph, inputs)
    out = io.StringIO()
    report.write_json(trace, inputs, out)
    assert out.getvalue() == report.dumps(report.to_json(trace, inputs)) + "\n"
    sources = [gate["source"] for gate in json.loads(out.getvalue())["gates"]]
    if expand:
        assert sources[-4:] == ["-(w*x + b)", "exp(-(w*x + b))", "(1 + exp(-(w*x + b)))",
                                "1 / (1 + exp(-(w*x + b)))"]
    else:
        assert all("  " not in s and "\t" not in s for s in sources)
        assert sources[-1] in ("sigmoid(w*x + b)", "q / (1 + b)")


def test_streamed_json_for_a_def_with_three_inputs_and_a_large_circuit():
    program = "def lin(p, q, r) = p*q + r\nf = lin(x, y, z) * lin(z, y, x)"
    graph = parse(program)
    inputs = {"x": 2.0, "y": -3.0, "z": 0.5}
    trace = engine.run(graph, inputs)
    out = io.StringIO()
    report.write_json(trace, inputs, out)
    assert out.getvalue() == report.dumps(report.to_json(trace, inputs)) + "\n"
    gate = json.loads(out.getvalue())["gates"][-2]  # lin(z, y, x): ∂/∂p = q, ∂/∂q = p, ∂/∂r = 1
    assert gate["local"] == [-3.0, 0.5, 1.0]

    program, values, _ = wide_sum_of_products(terms=9_000, inputs=40, seed=3)
    graph = parse(program)
    trace = engine.run(graph, values)
    out = io.StringIO()
    report.write_json(trace, values, out)
    assert out.getvalue() == report.dumps(report.to_json(trace, values)) + "\n"


def test_large_circuit_tables_show_a_summary(run):
    lines = ["input x = 0.5"] + [f"v{k} = tanh(x * {k % 7 + 1}) + 0.1" for k in range(200)]
    lines.append("f = " + " + ".join(f"v{k}" for k in range(0, 200, 10)))
    program = "\n".join(lines)
    out = run("backward", program)
    assert out.exit_code == 0, out.stderr
    assert "Too many to list one by one" in out.stdout
    assert "Gates per op" in out.stdout and "tanh" in out.stdout
    assert "Top 10 gates by |∂f/∂gate|" in out.stdout
    assert "--all" in out.stdout
    grad = sum(k % 7 + 1 for k in range(0, 200, 10)) and sum(
        (k % 7 + 1) * (1 - math.tanh(0.5 * (k % 7 + 1)) ** 2) for k in range(0, 200, 10))
    assert f"{grad:.6g}" in out.stdout  # ∂f/∂x in the inputs table
    full = run("backward", program, "--all")
    assert full.exit_code == 0
    assert "Too many" not in full.stdout and "v199" in full.stdout


def test_streamed_json_written_in_two_processes_is_the_same_text(tmp_path, monkeypatch):
    program, values, _ = wide_sum_of_products(terms=3_000, inputs=30, seed=5)
    graph = parse(program)
    trace = engine.run(graph, values)
    monkeypatch.setattr(report, "PARALLEL_JSON", 1000)  # (a million gates, in real use)
    forks = []
    real_fork = os.fork
    monkeypatch.setattr(os, "fork", lambda: forks.append(1) or real_fork())
    path = tmp_path / "out.json"
    with open(path, "w", encoding="utf-8") as out:
        report.write_json(trace, values, out)
    assert forks == [1]  # the second half of the gates was formatted by a child process
    text = path.read_text(encoding="utf-8")
    assert text == report.dumps(report.to_json(trace, values)) + "\n"
    assert len(json.loads(text)["gates"]) == len(graph) > 2000


@pytest.mark.parametrize("trouble", ["fork fails", "child fails", "SIGCHLD ignored", "utf-16"])
def test_streamed_json_in_one_process_when_a_fork_cannot_help(tmp_path, monkeypatch, trouble):
    import errno
    import signal

    program, values, _ = wide_sum_of_products(terms=2_000, inputs=20, seed=7)
    graph = parse(program)
    trace = engine.run(graph, values)
    monkeypatch.setattr(report, "PARALLEL_JSON", 1000)
    encoding = "utf-16" if trouble == "utf-16" else "utf-8"  # (a second BOM mid-file: no fork)
    if trouble == "fork fails":
        def no_fork():
            raise OSError(errno.EAGAIN, "Resource temporarily unavailable")
        monkeypatch.setattr(os, "fork", no_fork)
    elif trouble == "child fails":
        monkeypatch.setattr(report, "_end_child", lambda pid, kill=False: os.waitpid(pid, 0)
                            and False)
    elif trouble == "SIGCHLD ignored":
        monkeypatch.setattr(signal, "getsignal", lambda s: signal.SIG_IGN)
    path = tmp_path / "out.json"
    with open(path, "w", encoding=encoding) as out:
        report.write_json(trace, values, out)
    assert path.read_text(encoding=encoding) == report.dumps(report.to_json(trace, values)) + "\n"
