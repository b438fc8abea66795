"""Gradient rules in the language (core/rules.py) and `circuit grad` (the backward pass as a
program): generated from the op registry, so an op added later is tested here by name.

- every op's rules parse, and an elementwise op's rule is `dout * LOCAL` (or `dout`, `-dout`);
- for every op, a circuit that uses it: the program `circuit grad` writes, run as an answer file,
  gives the engine's gradients, and `circuit grade` grades it all ✓;
- the same for every file in circuits/ and exercises/;
- `where(cond, a, b)` registered from the test itself (three inputs, the first without a
  gradient): eval, backward, --json, grad, grade, torch (the emitted program run), draw, lesson,
  --check-torch and --check-numeric on a circuit that uses it, against closed forms.
"""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys

import numpy as np
import pytest

import circuit_backprop as cb
from circuit_backprop.core import ops, rules
from circuit_backprop.core.ops import OPS, ShapeError
from tests.conftest import REPO

CIRCUIT_FILES = sorted((REPO / "circuits").glob("*.circ")) + sorted(
    (REPO / "exercises").glob("*/circuit.circ"))
NO_GRADIENT = {name for name, op in OPS.items() if not any(op.grad)}  # comparisons, one_hot


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_rule_parses_and_an_elementwise_rule_is_dout_times_its_local(name: str) -> None:
    op = OPS[name]
    assert len(op.grad) == op.arity == len(op.inputs)
    shapes = [case[0] for case in op.array_cases[:1]] or [((),) * op.arity]
    params = [case[1] for case in op.array_cases[:1]] or [()]
    for k in range(op.arity):
        text = rules.rule_text(op, k, shapes[0], params[0])
        if text is None:
            continue
        graph = rules.compiled(text)
        assert set(graph.inputs) <= {*op.inputs, "out", "dout"}, (name, text)
        assert "dout" in graph.inputs, (name, text)  # a VJP is linear in the upstream gradient
        if op.elementwise:
            top = graph.ops[graph.output]
            first = graph.args[graph.output][0] if graph.args[graph.output] else graph.output
            assert (text == "dout" or (top == "neg" and graph.names[first] == "dout")
                    or (top == "mul" and graph.names[first] == "dout")), (name, text)


def _values(op: ops.Op, rng: np.random.Generator) -> tuple[list[str], dict, str]:
    """Inputs for one gate of the op (names, values) and the gate's call text."""
    names = [f"x{k}" for k in range(op.arity)]
    if op.elementwise:
        lows_highs = op.samples or [(-2.0, 2.0)] * op.arity
        for _ in range(1000):
            xs = [float(rng.uniform(lo, hi)) for lo, hi in lows_highs]
            if op.conditioned(*xs):
                break
        return names, dict(zip(names, xs, strict=True)), op.fill(op.text, names)
    shapes, params = op.array_cases[0]
    values = {}
    for k, (n, shape) in enumerate(zip(names, shapes, strict=True)):
        if k in op.labels:
            values[n] = rng.integers(0, shapes[0][-1], size=shape).astype(float)
        elif name_takes_classes(op):
            values[n] = rng.integers(0, params[0], size=shape).astype(float)
        else:
            values[n] = rng.normal(size=shape)
    call = f"{op.call}({', '.join(names + [str(p) for p in params])})" if op.call else \
        op.fill(op.text, names, params)
    return names, values, call


def name_takes_classes(op: ops.Op) -> bool:
    return op.name == "one_hot"


def _op_circuit(name: str) -> tuple[cb.Circuit, dict]:
    """One gate of the op, its output used twice (a fork) and reduced to a number."""
    op = OPS[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    names, values, call = _values(op, rng)
    if op.elementwise and not any(np.ndim(v) for v in values.values()):
        text = f"y = {call}\nf = y * y * 0.5 + 2 * y\n"
    else:
        text = f"y = {call}\nf = sum(y * y) * 0.5 + sum(y)\n"
    return cb.Circuit(text), values


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_ops_grad_program_gives_the_engines_gradients_and_grades_right(name: str) -> None:
    circuit, values = _op_circuit(name)
    result = circuit.backward(values)
    doc = result.grad_program_json()
    assert doc["schema"] == 1 and doc["program"] == result.grad_program()
    engine = {n: result.trace.grads[i] for n, i in cb.api.answer_names(result.graph).items()}
    assert doc["gradients"], doc["program"]
    for n, got in doc["gradients"].items():
        np.testing.assert_allclose(got, engine[n], rtol=1e-12, atol=1e-14,
                                   err_msg=f"{name}: d{n}\n{doc['program']}")
    # every input that takes a gradient has a line (the others, none)
    op = OPS[name]
    for k, input_name in enumerate(f"x{j}" for j in range(op.arity)):
        assert (input_name in doc["gradients"]) == (op.grad[k] is not None), doc["program"]
    report = circuit.grade(doc["program"], values)
    assert report.ok and report.score == len(report.rows), doc["program"]


@pytest.mark.parametrize("path", CIRCUIT_FILES, ids=lambda p: p.parent.name + "/" + p.name)
def test_every_shipped_circuits_grad_program_grades_all_right(path) -> None:  # noqa: ANN001
    circuit = cb.Circuit.load(path)
    result = circuit.backward()
    program = result.grad_program()
    report = circuit.grade(program)
    assert report.ok, program
    named = {n for n, i in cb.api.answer_names(result.graph).items()
             if result.trace.depends[i] and n != result.output}
    graded = {row.of for row in report.rows}
    # every input and named gate the gradient reaches is in the program
    reached = {n for n in named if np.any(result.trace.grads[cb.api.answer_names(
        result.graph)[n]] != 0)}
    assert reached <= graded, (reached - graded, program)


def test_the_staged_example_is_the_issues_program_exactly(run) -> None:  # noqa: ANN001
    out = run("grad", REPO / "circuits" / "staged.circ")
    assert out.exit_code == 0, out.stderr
    assert out.stdout == (
        "# the backward pass of " + str(REPO / "circuits" / "staged.circ")
        + ", output f: dNAME is ∂f/∂NAME\n"
        "df = 1\n"
        "dq = df * z          # f = q * z\n"
        "dz = df * q\n"
        "dx = dq              # q = x + 2*y\n"
        "d_2y = dq            # (unnamed gate 2*y)\n"
        "dy = d_2y * 2        # 2*y\n")


def test_grad_json_and_the_shell_round_trip(run, tmp_path) -> None:  # noqa: ANN001
    out = run("grad", REPO / "circuits" / "staged.circ", "--json")
    doc = json.loads(out.stdout)
    assert list(doc) == ["schema", "program", "gradients"]
    assert doc["gradients"] == {"f": 1.0, "q": 19.0, "z": -5.0, "x": 19.0, "_2y": 19.0,
                                "y": 38.0}
    answers = tmp_path / "answers.circ"
    answers.write_text(doc["program"], encoding="utf-8")
    graded = run("grade", REPO / "circuits" / "staged.circ", answers, "--json")
    assert graded.exit_code == 0 and json.loads(graded.stdout)["score"] == 6


def test_constants_are_worked_out_only_where_shorter() -> None:
    program = cb.Circuit("f = x ^ 2 + x / 3").grad_program(x=1.5)
    assert "dx += d_x2 * (2 * x)" in program  # not where(2 == 0, 0, 2 * x ^ (2 - 1))
    assert "dx = d_x3 * (1 / 3)" in program  # not 0.3333333333333333


def test_a_gate_named_e_is_read_as_the_gate_not_eulers_number() -> None:
    circuit = cb.Circuit("e = exp(x); f = e * e")
    report = circuit.grade("df = 1\nde = df * e + df * e\ndx = de * e\n", {"x": 0.5})
    assert report.ok  # de = 2e^0.5, dx = 2e^1


def test_a_defs_rule_is_written_from_its_body() -> None:
    circuit = cb.Circuit("def sig(a) = 1 / (1 + exp(-a))\nf = sig(x * y)")
    result = circuit.backward(x=0.5, y=-2.0)
    program = result.grad_program()
    s = 1 / (1 + math.exp(1.0))
    assert "exp(-_xy)" in program
    doc = result.grad_program_json()
    assert doc["gradients"]["x"] == pytest.approx(s * (1 - s) * -2.0, rel=1e-12)
    assert circuit.grade(program, {"x": 0.5, "y": -2.0}).ok


# --- one entry is all an op needs: `where`, registered from here ---------------------------


WHERE_TEXT = """input c = [1, 0, 2]
input a = [0.5, -1.5, 2]
input b = [3, 0.25, -1]
h = where(c, a * a, b)
f = sum(h * a)
"""
C, A, B = np.array([1.0, 0.0, 2.0]), np.array([0.5, -1.5, 2.0]), np.array([3.0, 0.25, -1.0])
# f = sum(where(c, a², b) · a): ∂f/∂a = where(c, 3a², b), ∂f/∂b = where(c, 0, a), no ∂f/∂c
DF_DA, DF_DB = np.where(C != 0, 3 * A * A, B), np.where(C != 0, 0.0, A)


@pytest.fixture
def own_where(monkeypatch):  # noqa: ANN001, ANN201
    """`where` as a test writes it: one registry entry (the built-in one taken out first)."""
    entry = ops.Op(
        name="where", symbol="where", arity=3, text="where({cond}, {a}, {b})", call="where",
        inputs=("cond", "a", "b"),
        value=lambda c, a, b: a if c != 0 else b,
        numpy=lambda np, c, a, b: np.where(c != 0, a, b),
        grad=(None, "dout * (cond != 0)", "dout * (cond == 0)"),
        torch=lambda t, c, a, b: t.where(c != 0, a, b),
        torch_text="torch.where({cond} != 0, {a}, {b})",
        samples=((-1.0, 1.0), (-5.0, 5.0), (-5.0, 5.0)))
    assert entry is not OPS["where"]
    monkeypatch.setitem(ops.OPS, "where", entry)
    monkeypatch.setitem(ops.FUNCTIONS, "where", entry)
    return entry


def test_where_registered_from_a_test_runs_everywhere(own_where, run, tmp_path) -> None:  # noqa: ANN001
    circuit_file = tmp_path / "where.circ"
    circuit_file.write_text(WHERE_TEXT, encoding="utf-8")
    # eval and backward, in Python and on the command line (--json)
    result = cb.Circuit(WHERE_TEXT).backward()
    assert result.value == pytest.approx(float(np.sum(np.where(C != 0, A * A, B) * A)))
    np.testing.assert_allclose(result.grad["a"], DF_DA, rtol=1e-15)
    np.testing.assert_allclose(result.grad["b"], DF_DB, rtol=1e-15)
    assert not np.any(result.grad["c"])  # the condition takes no gradient
    doc = json.loads(run("backward", circuit_file, "--json").stdout)
    assert doc["gradients"]["a"] == pytest.approx(DF_DA.tolist())
    assert run("eval", circuit_file).exit_code == 0
    out = run("backward", circuit_file)
    assert out.exit_code == 0 and "takes no gradient" in out.stdout
    # circuit grad: the rules written in, graded all right
    program = run("grad", circuit_file).stdout
    assert "dh = d_ha * a" in program and "d_aa = dh * (c != 0)" in program
    assert "db = dh * (c == 0)" in program and "dc " not in program
    answers = tmp_path / "answers.circ"
    answers.write_text(program, encoding="utf-8")
    assert run("grade", circuit_file, answers).exit_code == 0
    # both checks
    assert run("backward", circuit_file, "--check-torch").exit_code == 0
    assert run("backward", circuit_file, "--check-numeric").exit_code == 0
    # circuit torch: the emitted program runs and prints the same gradients
    script = run("torch", circuit_file).stdout
    assert "torch.where(c != 0, a * a, b)" in script
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert f"a.grad = {DF_DA.tolist()}" in ran.stdout  # [0.75, 0.25, 12.0]
    assert f"b.grad = {DF_DB.tolist()}" in ran.stdout and "c.grad = None" in ran.stdout
    # draw (text and DOT) and the lesson
    drawn = run("draw", circuit_file)
    assert drawn.exit_code == 0 and "where" in drawn.stdout
    assert "where" in run("draw", circuit_file, "--format", "dot").stdout
    lesson = tmp_path / "where.html"
    assert run("lesson", circuit_file, "-o", lesson).exit_code == 0
    assert "where" in lesson.read_text(encoding="utf-8")


def test_where_on_scalars_with_the_builtin_entry() -> None:
    # f = where(x - 1, x^3, 2x): at x = 2 the first branch, at x = 1 the second
    circuit = cb.Circuit("f = where(x - 1, x ^ 3, 2 * x)")
    assert circuit.backward(x=2.0).grad["x"] == 12.0
    assert circuit.backward(x=1.0).grad["x"] == 2.0
    assert circuit.grade(circuit.grad_program(x=2.0), {"x": 2.0}).ok


def test_an_op_without_a_rule_per_input_is_refused() -> None:
    with pytest.raises(TypeError):
        dataclasses.replace(OPS["mul"], grad=("dout * b",))


def test_comparisons_are_masks_that_take_no_gradient() -> None:
    r = cb.Circuit("f = (x > 1) * x + (x == y) * y").backward(x=3.0, y=3.0)
    assert r.value == 6.0 and r.grad == {"x": 1.0, "y": 1.0, "f": 1.0}
    with pytest.raises(cb.SourceError):
        cb.Circuit("f = x > y > z")  # comparisons do not chain


def test_shape_rules_of_the_rule_primitives() -> None:
    with pytest.raises(ShapeError):
        OPS["expand_as"].shape((3,), (4, 2), ())
    with pytest.raises(ShapeError):
        OPS["sum_as"].shape((3, 4), (5,), ())
    with pytest.raises(ShapeError):
        OPS["scatter"].shape((2,), (3, 4), (1,))
    assert OPS["unsqueeze"].shape((3, 4), (-1,)) == (3, 4, 1)
    assert OPS["one_hot"].shape((2,), (5,)) == (2, 5)


# --- the backward pass as a circuit: evaluated, and differentiated again --------------------


def test_the_backward_circuit_evaluates_to_the_gradient_of_every_shipped_circuit() -> None:
    for path in CIRCUIT_FILES:
        result = cb.Circuit.load(path).backward()
        for name in result.graph.inputs:
            value = result.backward_circuit(name).eval().value
            np.testing.assert_allclose(value, result.grad[name], rtol=1e-12, atol=1e-15,
                                       err_msg=f"{path.name}: d{name}")


def test_second_derivatives_through_the_backward_circuit_match_closed_forms() -> None:
    # f = x^3 y + sin(xy): ∂f/∂x = 3x²y + y cos(xy); its gradient is the Hessian's first row
    x, y = 1.5, -0.5
    result = cb.Circuit("f = x ^ 3 * y + sin(x * y)").backward(x=x, y=y)
    first = result.backward_circuit("x")
    assert first.graph.text.rstrip().endswith("output dx")
    second = first.backward()
    assert second.value == pytest.approx(3 * x * x * y + y * math.cos(x * y), rel=1e-14)
    assert second.grad["x"] == pytest.approx(6 * x * y - y * y * math.sin(x * y), rel=1e-14)
    assert second.grad["y"] == pytest.approx(
        3 * x * x + math.cos(x * y) - x * y * math.sin(x * y), rel=1e-14)


def test_second_derivatives_of_a_tensor_circuit_match_torch_double_backward() -> None:
    import torch

    text = "input W[2, 3]\ninput X[3, 2]\nh = tanh(W @ X)\nf = sum(h * h) + mean(exp(W))\n"
    rng = np.random.default_rng(5)
    W, X = rng.normal(size=(2, 3)), rng.normal(size=(3, 2))
    result = cb.Circuit(text).backward(W=W, X=X)
    # the backward circuit's output is dW; a scalar of it, differentiated again
    dw = result.backward_circuit("W")
    reduced = cb.Circuit(dw.graph.text.replace("output dW", "s = sum(dW * dW)\noutput s"))
    again = reduced.backward()
    tw = torch.tensor(W, requires_grad=True)
    tx = torch.tensor(X, requires_grad=True)
    h = torch.tanh(tw @ tx)
    f = (h * h).sum() + torch.exp(tw).mean()
    (gw,) = torch.autograd.grad(f, [tw], create_graph=True)
    s = (gw * gw).sum()
    want_w, want_x = torch.autograd.grad(s, [tw, tx])
    assert again.value == pytest.approx(float(s.detach()), rel=1e-12)
    np.testing.assert_allclose(again.grad["W"], want_w.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(again.grad["X"], want_x.numpy(), rtol=1e-10, atol=1e-12)


def test_a_backward_circuit_of_an_unknown_name_is_a_usage_error() -> None:
    result = cb.Circuit("f = x * y").backward(x=1.0, y=2.0)
    with pytest.raises(cb.UsageError):
        result.backward_circuit("z")


# --- found in review (each failed before its fix) ---------------------------------------


@pytest.mark.parametrize("text", [
    "input b = [[1, 2, 3]]\ninput W = [[1, 2, 3], [4, 5, 6]]\nf = sum(W * b)",  # a size-1 axis
    "input V = [1, 2, 3]\ninput W = [[1, 2, 3], [4, 5, 6]]\nf = sum(unsqueeze(V, 0) * W)",
    "def g(a, b) = a * b\ninput b = [1, 2, 3]\ninput W = [[1, 2, 3], [4, 5, 6]]\n"
    "f = sum(g(W, b))",  # a def's rule is summed back in its body, not twice
    "input x = 0\ninput y = 2\nf = x ^ y",  # pow's rule leaves a NaN in where's other branch
    "input V = [1, 2, 3]\nf = sum((V - 1) ^ V)",
    "input x = 2\nd_xx = 1 * x\nf = x * x + d_xx",  # a made name whose gradient is taken
], ids=["size-1 axis", "unsqueeze", "def", "pow at 0", "pow at 0, arrays", "made name"])
def test_odd_circuits_grad_programs_grade_right(text: str) -> None:
    circuit = cb.Circuit(text)
    result = circuit.backward()
    doc = result.grad_program_json()
    names = cb.api.answer_names(result.graph)
    for n, got in doc["gradients"].items():
        np.testing.assert_allclose(got, result.trace.grads[names[n]], rtol=1e-12, atol=1e-15)
    assert circuit.grade(doc["program"]).ok, doc["program"]


def test_many_alike_unnamed_gates_get_distinct_names() -> None:
    graph = cb.Circuit("f = " + " + ".join(["x*y"] * 300)).graph
    names = list(cb.api.answer_names(graph))
    assert len(names) == len(set(names))
    assert "_xy" in names and "_xy_300" in names


def test_grad_with_expand_grades_with_expand(run, tmp_path) -> None:  # noqa: ANN001
    answers = tmp_path / "answers.circ"
    answers.write_text(run("grad", REPO / "circuits" / "neuron.circ", "--expand").stdout,
                       encoding="utf-8")
    assert run("grade", REPO / "circuits" / "neuron.circ", answers, "--expand").exit_code == 0


def test_a_def_of_arrays_whose_rule_is_too_long_to_write_still_runs(run, tmp_path) -> None:  # noqa: ANN001
    lines = ["def g0(a) = sum(a * a) * a"]
    lines += [f"def g{i}(a) = g{i - 1}(a) * g{i - 1}(a) + g{i - 1}(a)" for i in range(1, 5)]
    path = tmp_path / "deep.circ"
    path.write_text("\n".join(lines) + "\ninput x = [0.3, 0.1]\nf = sum(g4(x))\n",
                    encoding="utf-8")
    out = run("backward", path)
    assert out.exit_code == 0, out.stderr  # its table says where the gradient comes from
    assert "back through" in out.stdout
    refused = run("grad", path)
    assert refused.exit_code == 2 and "longer than" in refused.stderr


def test_one_hot_of_a_matrix_of_labels_and_its_class_count(run) -> None:  # noqa: ANN001
    out = run("backward", "input W = [[0, 1], [1, 5]]\nf = sum(one_hot(W, 3))")
    assert out.exit_code == 1 and "5 is not a class" in out.stderr
    ok = cb.Circuit("input W = [[0, 1], [1, 2]]\nf = sum(one_hot(W, 3) * 2)").eval()
    assert ok.value == 8.0
    for bad in ("0", "-2", "100000000000"):
        out = run("eval", f"input W = [0, 1]\nf = sum(one_hot(W, {bad}))")
        assert out.exit_code == 2 and "number of classes" in out.stderr, out.stderr
