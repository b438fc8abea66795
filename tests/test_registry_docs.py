"""The README's lists of functions and op names are the registry's, exactly: an op added to
ops.py and not documented (or documented and not there) fails here."""

from __future__ import annotations

import re
from pathlib import Path

from circuit_backprop.core.ops import CONST, CONSTANTS, FUNCTIONS, INPUT, OPS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
ITEM = re.compile(r"`(\w+)(?:\(([\w, ]*)\))?`")  # `exp`, `max(a, b)`


def bullet(start: str) -> str:
    """The README bullet that starts with `start`, joined onto one line."""
    match = re.search(rf"^- {re.escape(start)}(.*?)(?=^- |^$|^#)", README, re.M | re.S)
    assert match, f"no README bullet starting {start!r}"
    return " ".join(match.group(1).split())


def test_the_functions_line_lists_every_function_with_its_arity() -> None:
    functions, _, constants = bullet("Functions:").partition(" Constants ")
    items = ITEM.findall(functions)
    names = [name for name, _ in items]
    assert len(names) == len(set(names)), names
    assert set(names) == set(FUNCTIONS), set(names) ^ set(FUNCTIONS)
    # unary functions are written bare (`exp`), others with their parameters (`max(a, b)`);
    # a function's integer arguments (sum's axis) are not wires: its arity counts its wires
    arity = {name: len(params.split(",")) if params else 1 for name, params in items
             if name in FUNCTIONS}
    assert arity == {name: op.arity for name, op in FUNCTIONS.items()}
    assert {name for name, _ in ITEM.findall(constants.partition(";")[0])} == set(CONSTANTS)


def test_the_json_sections_op_names_are_the_registrys() -> None:
    section = README[README.index("### JSON (schema 1)"):]
    section = section[: section.index("\n## ")]
    match = re.search(r"`op` is `(\w+)`, `(\w+)` or an op name\s*\(([^)]*)\)", section)
    assert match, "the JSON section's list of op names"
    assert [match.group(1), match.group(2)] == [INPUT, CONST]
    assert [name for name, _ in ITEM.findall(match.group(3))] == list(OPS)
