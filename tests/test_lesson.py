"""The HTML lesson without a browser: one self-contained file, and the JSON blob it steps through
holds the engine's numbers (tests/test_lesson_browser.py drives the page itself)."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

import circuit_backprop as cb
from circuit_backprop.views.lesson import data_of
from tests.conftest import REPO

CIRCUITS = sorted(p.stem for p in (REPO / "circuits").glob("*.circ"))


def _lesson(name: str, **options) -> str:
    circuit = cb.Circuit.load(REPO / "circuits" / f"{name}.circ")
    values = circuit.random_values(0)
    return circuit.lesson(values, **options).html


@pytest.mark.parametrize("name", CIRCUITS)
def test_every_example_is_one_self_contained_page(name):
    page = _lesson(name)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page)
    assert "http://" not in page and "https://" not in page
    assert "<svg" in page and "<?xml" not in page and "<!DOCTYPE svg" not in page
    assert page.count("<script") == 2  # the data and the script, both inline
    assert not re.search(r"<(link|img|iframe)\b", page)
    data = data_of(page)
    assert data["steps"][0]["phase"] == "intro" and data["steps"][-1]["phase"] == "end"


@pytest.mark.parametrize("name", ["staged", "staged_sigmoid", "fork", "tensor_neuron",
                                  "two_layer_net"])
def test_the_blob_holds_the_engines_numbers(name):
    circuit = cb.Circuit.load(REPO / "circuits" / f"{name}.circ")
    values = circuit.random_values(0)
    result = circuit.backward(values)
    data = data_of(result.lesson().html)
    rows = {row["node"]: row for row in data["rows"]}
    for gate in result.gates:
        if gate.op == "const":
            assert gate.id not in rows
            continue
        row = rows[gate.id]
        assert np.array_equal(np.asarray(row["value"]), np.asarray(gate.value))
        assert np.array_equal(np.asarray(row["grad"]), np.asarray(gate.grad))
        assert row["value_text"] == result.number_format.value(gate.value)
        assert row["grad_text"] == result.number_format.value(gate.grad)
    # every gradient cell ends at the engine's ∂f/∂node, as the table shows it
    last = {}
    for step in data["steps"]:
        for cell in step["cells"]:
            last[cell["node"]] = cell["text"]
    assert last == {n: r["grad_text"] for n, r in rows.items() if r["grad"] is not None}
    # each question's answer is the engine's number: a value forward, a wire's gradient back
    answers = [s["ask"]["answer"] for s in data["steps"] if s["ask"]]
    gates = [g for g in result.gates if g.op not in ("input", "const")]
    forward = [float(result.gates[s["focus"][0]].value) for s in data["steps"]
               if s["ask"] and s["phase"] == "forward"]
    backward = [float(d) for g in reversed(gates) for d in g.downstream
                if d is not None and np.ndim(d) == 0]
    if not result.tensor:
        assert answers == forward + backward


def test_the_seed_example_step_by_step():
    data = data_of(cb.Circuit("q = x + 2*y; f = q*z").lesson(x=3, y=-4, z=19).html)
    lines = [line for step in data["steps"] for line in step["lines"]]
    assert "q = x + 2*y = 3 + 2·(-4) = -5" in lines
    assert "∂f/∂x = ∂f/∂q · ∂q/∂x = 19 · 1 = 19" in lines
    assert "local gradient: ∂f/∂q = z = 19" in lines
    assert lines[-2] == "∇f = [∂f/∂x, ∂f/∂y, ∂f/∂z] = [19, 38, -5]"


def test_a_fork_shows_the_running_sum():
    data = data_of(_lesson("staged_sigmoid"))
    lines = [line for step in data["steps"] for line in step["lines"]]
    assert "∂f/∂x += ∂f/∂xpy · ∂xpy/∂x = 1.58319 · 1 = 1.58319" in lines
    assert "x forks: this is wire 3 of 3, all in: ∂f/∂x so far = 2.05957" in lines


def test_tensor_captions_give_the_rule_and_shapes():
    data = data_of(_lesson("tensor_neuron"))
    text = "\n".join(line for step in data["steps"] for line in step["lines"])
    # tensorreport.gradient_rule: matmul's rule for two vectors (a dot product), dw = dout * x
    assert "∂f/∂w = ∂f/∂#3 * x   (2,)" in text
    assert "= [-0.196612, -0.393224]" in text
    assert "#3 = w @ x   (@ gate: (2,), (2,) → ())" in text
    assert data["tensor"] is True


def test_api_lesson_object(tmp_path):
    lesson = cb.Circuit.load(REPO / "circuits" / "staged.circ").lesson(predict=True)
    assert data_of(lesson.html)["predict"] is True
    assert 'id="predict" checked' in lesson.html
    path = lesson.save(tmp_path / "l.html")
    assert path.read_text(encoding="utf-8") == lesson.html
    shown = lesson._repr_html_()
    assert shown.startswith("<iframe srcdoc=") and "<script" not in shown  # (escaped)
    eval_result = cb.Circuit.load(REPO / "circuits" / "staged.circ").eval()
    assert eval_result.lesson().html.count('"phase": "backward"') > 0


def test_cli_lesson(tmp_path):
    out = tmp_path / "lesson.html"
    done = subprocess.run(
        [sys.executable, "-m", "circuit_backprop", "lesson", "q = x + 2*y; f = q*z",
         "--x", "3", "--y", "-4", "--z", "19", "-o", str(out)],
        capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    rows = {r["label"]: r for r in data_of(out.read_text(encoding="utf-8"))["rows"]}
    assert rows["x"]["grad"] == 19 and rows["y"]["grad"] == 38 and rows["f"]["value"] == -95
    expanded = subprocess.run(
        [sys.executable, "-m", "circuit_backprop", "lesson", str(REPO / "circuits/neuron.circ"),
         "--expand"], capture_output=True, text=True, check=False)
    assert expanded.returncode == 0, expanded.stderr
    assert expanded.stdout.startswith("<!DOCTYPE html>")
    bad = subprocess.run([sys.executable, "-m", "circuit_backprop", "lesson", "f = x*y",
                          "--x", "1"], capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "missing value for input 'y'" in bad.stderr
