"""circuit grade: a learner's backward pass, gradient by gradient, and the first wrong step.

Every exercise in exercises/ is graded here: its answer.circ must be right, and each wrong_*.circ
must get exactly the verdicts its first line announces (`# expect: first_wrong=dx; dx=fork`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import circuit_backprop as cb

EXERCISES = Path(__file__).resolve().parents[1] / "exercises"
WRONG = sorted(EXERCISES.glob("*/wrong_*.circ"))
KINDS = {"fork", "upstream", "sign", "factor", "transpose", "broadcast", "axis"}


def expectations(path: Path) -> tuple[str, dict[str, str]]:
    line = path.read_text(encoding="utf-8").splitlines()[0]
    items = dict(item.split("=") for item in re.sub(r"^# expect:\s*", "", line).split("; "))
    return items.pop("first_wrong"), items


def test_every_common_mistake_has_an_exercise() -> None:
    seen = {d for path in WRONG for d in expectations(path)[1].values()}
    assert KINDS <= seen, KINDS - seen
    assert "follows" in seen
    assert len(list(EXERCISES.glob("*/circuit.circ"))) >= 6


@pytest.mark.parametrize("folder", sorted(p.parent.name for p in EXERCISES.glob("*/answer.circ")))
def test_each_exercises_answer_is_right(run, folder: str) -> None:
    out = run("grade", EXERCISES / folder / "circuit.circ", EXERCISES / folder / "answer.circ",
              "--json")
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["first_wrong"] is None and doc["score"] == doc["max_score"] > 0
    assert all(g["ok"] and g["diagnosis"] is None for g in doc["gradients"])


@pytest.mark.parametrize("path", WRONG, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_each_wrong_answer_is_diagnosed_and_its_first_wrong_step_named(run, path: Path) -> None:
    first_wrong, diagnoses = expectations(path)
    out = run("grade", path.parent / "circuit.circ", path, "--json")
    assert out.exit_code == 1, out.output
    doc = json.loads(out.stdout)
    assert doc["first_wrong"] == first_wrong
    got = {g["name"]: g["diagnosis"] for g in doc["gradients"] if not g["ok"]}
    assert got == diagnoses
    right = [g for g in doc["gradients"] if g["ok"]]
    assert doc["score"] == len(right) and doc["max_score"] == len(doc["gradients"])


def test_the_expected_values_are_the_closed_forms(run) -> None:
    doc = json.loads(run("grade", EXERCISES / "seed" / "circuit.circ",
                         EXERCISES / "seed" / "wrong_factor.circ", "--json").stdout)
    by_name = {g["name"]: g for g in doc["gradients"]}
    # f = (x + 2y) z at x = 3, y = -4, z = 19: ∂f/∂x = z, ∂f/∂y = 2z, ∂f/∂z = x + 2y
    assert (by_name["dx"]["expected"], by_name["dy"]["expected"], by_name["dz"]["expected"]) == (
        19.0, 38.0, -5.0)
    assert by_name["dy"]["given"] == 19.0 and by_name["dy"]["detail"] == "off by a factor of 0.5"
    # the affine layer: dW = Xᵀ R, db = Σ_rows R (R is ∂loss/∂a)
    doc = json.loads(run("grade", EXERCISES / "affine" / "circuit.circ",
                         EXERCISES / "affine" / "wrong_transpose.circ", "--json").stdout)
    c = cb.Circuit.load(EXERCISES / "affine" / "circuit.circ")
    X, R = (np.array(c.inputs[n]) for n in ("X", "R"))
    by_name = {g["name"]: g for g in doc["gradients"]}
    np.testing.assert_allclose(by_name["dW"]["expected"], X.T @ R, rtol=1e-14)
    np.testing.assert_allclose(by_name["dW"]["given"], (X.T @ R).T, rtol=1e-14)
    np.testing.assert_allclose(by_name["db"]["expected"], R.sum(0), rtol=1e-14)


def test_a_consequence_is_not_blamed_but_its_cause_is() -> None:
    c = cb.Circuit.load(EXERCISES / "staged_sigmoid" / "circuit.circ")
    report = c.grade((EXERCISES / "staged_sigmoid" / "wrong_upstream.circ").read_text())
    rows = {r.gradient: r for r in report.rows}
    assert report.first_wrong == "dxpy"
    assert rows["dx"].diagnosis == "follows" and rows["dx"].culprits == ["dxpy"]
    assert "from your dxpy, which is wrong" in rows["dx"].detail
    assert rows["dnum"].ok and rows["dsigy"].ok  # before the mistake, and beside it


def test_quiz_answers_are_graded_the_same_way() -> None:
    c = cb.Circuit.load(EXERCISES / "seed" / "circuit.circ")
    assert c.grade('{"dx": 19, "dy": 38, "dz": -5}').ok
    report = c.grade("dx = 19\ndy = 19\ndz = 5")
    assert [r.diagnosis for r in report.rows] == [None, "factor", "sign"]
    assert report.first_wrong == "dy"
    assert c.grade('{"dx": 19.00001}').ok  # within the checks' tolerance


@pytest.mark.parametrize("quiz, shown", [('{"dx": 1e999}', "1e999"), ('{"dx": NaN}', "NaN"),
                                         ('{"dx": [1, -Infinity]}', "-Infinity")])
def test_a_quiz_answer_that_is_not_finite_is_a_usage_error(quiz: str, shown: str) -> None:
    # (json.loads reads 1e999 as inf: it used to become `dx = Infinity`, an unknown name)
    c = cb.Circuit.load(EXERCISES / "seed" / "circuit.circ")
    with pytest.raises(cb.UsageError, match=f"a JSON answer must be a finite number, got {shown}"):
        c.grade(quiz)


def test_gradients_not_answered_are_not_wrong() -> None:
    report = cb.Circuit.load(EXERCISES / "seed" / "circuit.circ").grade("dx = 19")
    assert report.ok and report.score == report.max_score == 1


def test_gradescope_results(run, tmp_path) -> None:
    target = tmp_path / "results.json"
    out = run("grade", EXERCISES / "seed" / "circuit.circ",
              EXERCISES / "seed" / "wrong_factor.circ", "--gradescope", target, "--points", "2.5")
    assert out.exit_code == 1
    doc = json.loads(target.read_text())
    assert doc["score"] == 7.5
    assert [t["name"] for t in doc["tests"]] == ["dq", "dz", "dx", "dy"]
    assert all(t["max_score"] == 2.5 for t in doc["tests"])
    assert doc["tests"][3]["score"] == 0 and "first wrong step" in doc["tests"][3]["output"]


@pytest.mark.parametrize("answer, words, where", [
    ("dq = z +", "syntax error", (1, 9)),
    ("dq = zz", "unknown name 'zz'", (1, 6)),
    ("dw = 1", "'dw' is not the gradient of a name of the circuit", (1, 1)),
    ("q = 1", "'q' is a name of the forward pass", (1, 1)),
    ("dx = dq", "'dq' is read before it is assigned", (1, 6)),
    ("dx = ln(z)", "unknown function 'ln'", (1, 6)),
])
def test_a_bad_answer_file_is_a_clear_error_with_its_place(run, tmp_path, answer, words,
                                                          where) -> None:
    path = tmp_path / "answers.circ"
    path.write_text(answer + "\n")
    out = run("grade", EXERCISES / "seed" / "circuit.circ", path)
    assert out.exit_code == 2, out.output
    assert words in out.stderr and "Traceback" not in out.output
    assert f"answers.circ:{where[0]}:{where[1]}" in out.stderr
    doc = json.loads(run("grade", EXERCISES / "seed" / "circuit.circ", path, "--json").stdout)
    assert (doc["error"]["line"], doc["error"]["column"]) == where


def test_plus_equal_is_for_answers_only(run) -> None:
    out = run("eval", "x += 1")
    assert out.exit_code == 2 and "adds to a gradient in an answer file" in out.stderr


def test_the_grade_report_displays_and_counts() -> None:
    c = cb.Circuit.load(EXERCISES / "staged_sigmoid" / "circuit.circ")
    report = c.grade((EXERCISES / "staged_sigmoid" / "wrong_fork.circ").read_text())
    html = report._repr_html_()
    assert "dx" in html and "fork" in html
    assert report.to_json()["first_wrong"] == "dx"
    assert report.score == report.max_score - 1
