"""The LALR tables ship inside the package: lang/grammar_tables.py is what Lark makes of
grammar.lark, written by `python -m circuit_backprop.lang.tables --write` and committed. These
tests make the tables again with the installed Lark and compare them with the file, as text: a
change to the grammar without the command fails here, and says what to run.
"""

from __future__ import annotations

import ast
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import circuit_backprop
from circuit_backprop.lang import grammar_tables, tables

SOURCE_ROOT = str(Path(circuit_backprop.__file__).resolve().parents[1])  # (the copy under test)


# --- the shipped module ----------------------------------------------------------------------


def test_the_shipped_tables_are_what_the_installed_lark_makes_of_grammar_lark() -> None:
    assert tables.GENERATED.read_text("utf-8") == tables.generated_source(), (
        f"{tables.GENERATED} is not what Lark makes of grammar.lark: run `{tables.REGENERATE}` "
        "and commit the file")


def test_the_shipped_tables_were_made_from_this_grammar_lark() -> None:
    text = tables.GRAMMAR.read_text("utf-8")
    assert grammar_tables.GRAMMAR_SHA256 == hashlib.sha256(text.encode("utf-8")).hexdigest(), (
        f"grammar.lark changed since {tables.GENERATED.name} was made: run `{tables.REGENERATE}`")


def test_the_tables_a_run_reads_equal_those_lark_makes() -> None:
    shipped = tables.shipped_tables()
    made = tables.tables_from_grammar(tables.GRAMMAR.read_text("utf-8"))
    assert shipped == made
    assert (len(shipped.states), len(shipped.rules), shipped.start_state) == (122, 77, 0)
    assert shipped.keywords == {"input": "INPUT", "output": "OUTPUT", "def": "DEF"}


def test_the_shipped_module_is_a_docstring_and_assignments_of_literals() -> None:
    module = ast.parse(tables.GENERATED.read_text("utf-8"))
    docstring, *assignments = module.body
    assert isinstance(docstring, ast.Expr) and isinstance(docstring.value, ast.Constant)
    names = []
    for node in assignments:
        assert isinstance(node, ast.Assign), ast.dump(node)
        (target,) = node.targets
        assert isinstance(target, ast.Name)
        ast.literal_eval(node.value)  # (raises on anything but a literal: no call, no name)
        names.append(target.id)
    assert names == ["GRAMMAR_SHA256", "START_STATE", "END_STATE", "LEXER", "KEYWORDS", "KEPT",
                     "RULES", "STATES"]


@pytest.mark.parametrize("seed", ["0", "1", "2"])
def test_the_check_command_passes_whatever_the_hash_seed(seed: str) -> None:
    """Lark numbers its states in set order, which follows the hash seed: lalr numbers them
    anew, so that the same grammar always gives the same file."""
    env = {**os.environ, "PYTHONPATH": SOURCE_ROOT, "PYTHONHASHSEED": seed}
    done = subprocess.run([sys.executable, "-m", "circuit_backprop.lang.tables", "--check"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.strip().endswith("grammar_tables.py is up to date")


def test_write_writes_the_committed_file(tmp_path, monkeypatch, capsys) -> None:
    target = tmp_path / "grammar_tables.py"
    monkeypatch.setattr(tables, "GENERATED", target)
    assert tables.main(["--write"]) == 0
    assert target.read_text("utf-8") == (Path(tables.__file__).with_name("grammar_tables.py")
                                         .read_text("utf-8"))
    assert f"wrote {target}" in capsys.readouterr().out


def test_check_names_the_command_to_run_when_the_file_is_stale(tmp_path, monkeypatch,
                                                               capsys) -> None:
    stale = tmp_path / "grammar_tables.py"
    stale.write_text(tables.GENERATED.read_text("utf-8").replace("END_STATE = ", "END_STATE = 1"))
    monkeypatch.setattr(tables, "GENERATED", stale)
    assert tables.main(["--check"]) == 1
    out = capsys.readouterr().out
    assert "is not what Lark makes of grammar.lark: run " in out
    assert "`python -m circuit_backprop.lang.tables --write`" in out
