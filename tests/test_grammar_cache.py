"""The analysed grammar is cached on disk: a run with the cache never imports Lark, and a damaged
or missing cache is rebuilt rather than trusted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from circuit_backprop.lang import lalr

CODE = (
    "import sys\n"
    "from circuit_backprop import cli\n"
    "sys.argv = ['circuit', 'eval', '(x + 2*y)*z', '--x', '3', '--y', '-4', '--z', '19']\n"
    "try:\n    cli.main()\nexcept SystemExit as e:\n    code = e.code or 0\n"
    "else:\n    code = 0\n"
    "print('EXIT', code, 'lark' in sys.modules, file=sys.stderr)\n"
)


def _run(cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    return subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, env=env,
                          timeout=120)


def _cached_tables(cache: Path) -> list[Path]:
    return sorted((cache / "circuit-backprop").glob("grammar-*.marshal"))


def test_the_first_run_builds_the_tables_with_lark_and_later_runs_skip_it(tmp_path) -> None:
    first = _run(tmp_path)
    assert "EXIT 0 True" in first.stderr, first.stderr  # no cache yet: Lark analyses the grammar
    assert "f = -95" in first.stdout
    (table,) = _cached_tables(tmp_path)
    assert table.stat().st_size > 1000
    second = _run(tmp_path)
    assert "EXIT 0 False" in second.stderr, second.stderr  # the cache: Lark is never imported
    assert second.stdout == first.stdout


def test_a_damaged_cache_is_rebuilt(tmp_path) -> None:
    _run(tmp_path)
    (table,) = _cached_tables(tmp_path)
    good = table.read_bytes()
    saved = tmp_path / "saved.marshal"
    saved.write_bytes(good)
    for damage in (b"", b"not marshal data", good[: len(good) // 2]):
        table.write_bytes(damage)
        p = _run(tmp_path)
        assert "EXIT 0 True" in p.stderr, p.stderr
        assert "f = -95" in p.stdout
        rebuilt = lalr.load_tables(str(table))  # rewritten whole (Lark may number states anew)
        assert len(rebuilt.states) == len(lalr.load_tables(str(saved)).states)
