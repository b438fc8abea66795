"""What a learner (and a teacher) sees of `circuit grade`: the table, the summary, the JSON
document, and Gradescope's results.json. The verdicts come from checks/grade.py."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from circuit_backprop.checks.compare import finite_or_none
from circuit_backprop.checks.grade import Grade, GradeRow
from circuit_backprop.views.numberformat import NumberFormat
from circuit_backprop.views.report import GRAD_STYLE, NUMBER, Column, FittedTable

SCHEMA = 1


def table(grade: Grade, output: str, number_format: NumberFormat) -> FittedTable:
    """One row per answered gradient, in the learner's order."""
    t = FittedTable(f"Your backward pass, gradient by gradient (∂{output}/∂name)", [
        Column("gradient"), Column("line", "right", NUMBER, 2),
        Column("yours", "right", NUMBER), Column("right", "right", NUMBER),
        Column("", "center"), Column("why"),
    ])
    for row in grade.rows:
        t.add_row(row.gradient, str(row.line), number_format.value(row.given),
                  Text(number_format.value(row.expected), style=GRAD_STYLE),
                  Text("✓", style="green") if row.ok else Text("✗", style="bold red"),
                  _why(row))
    return t


def _why(row: GradeRow) -> str:
    if row.ok:
        return ""
    text = f"{row.diagnosis}: {row.detail}" if row.detail else str(row.diagnosis)
    return text + (f" ({row.error})" if row.error else "")


def summary(grade: Grade) -> Text:
    score = f"{_points(grade.score)}/{_points(grade.max_score)}"
    if grade.ok:
        return Text.assemble(("✓ ", "green"), f"every gradient is right ({score})")
    first = next(r for r in grade.rows if r.gradient == grade.first_wrong) if (
        grade.first_wrong) else None
    text = Text.assemble(("✗ ", "bold red"), f"{score}; ")
    if first is not None:
        text.append(f"the first wrong step is {first.gradient} (line {first.line}): "
                    f"{_why(first)}")
        follows = [r.gradient for r in grade.rows if r.diagnosis == "follows"]
        if follows:
            text.append(f"; {', '.join(follows)} only follow{'s' if len(follows) == 1 else ''}"
                        " from it")
    return text


def _points(x: float) -> str:
    return f"{x:g}"


def plain(value: Any) -> Any:
    """A value for JSON: a number or nested lists, None where not finite (JSON has no inf: a
    quiz answer may be 1e999, and --points 1e308 overflows the total)."""
    return finite_or_none(value)


def to_json(grade: Grade) -> dict[str, Any]:
    """The `--json` document (schema 1): stable keys, documented in the README."""
    return {
        "schema": SCHEMA,
        "gradients": [
            {"name": r.gradient, "of": r.of, "given": plain(r.given),
             "expected": plain(r.expected), "ok": r.ok,
             "diagnosis": None if r.ok else r.diagnosis, "detail": r.detail or None,
             "follows_from": r.culprits, "rel_error": r.rel_error if r.rel_error < 1e300 else None,
             "line": r.line, "column": r.column}
            for r in grade.rows],
        "first_wrong": grade.first_wrong,
        "score": plain(grade.score),
        "max_score": plain(grade.max_score),
    }


def gradescope(grade: Grade) -> dict[str, Any]:
    """Gradescope's autograder results.json: one test per gradient."""
    tests = []
    for r in grade.rows:
        output = "right" if r.ok else f"wrong: {_why(r)}"
        if not r.ok and r.gradient == grade.first_wrong:
            output += " (your first wrong step)"
        tests.append({"name": r.gradient, "score": grade.points if r.ok else 0.0,
                      "max_score": grade.points, "output": output})
    return {"tests": tests, "score": plain(grade.score)}
