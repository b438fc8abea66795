"""The LALR tables ship inside the package, and a run reads no other file for them.

lang/grammar_tables.py is what Lark makes of grammar.lark, written by
`python -m circuit_backprop.lang.tables --write` and committed. The first tests make the tables
again with the installed Lark and compare them with the file, as text: a change to the grammar
without the command fails here, and says what to run.

Until this file, the tables were cached at run time with marshal, in ~/.cache/circuit-backprop
(or $XDG_CACHE_HOME/circuit-backprop), else in <tmp>/circuit-backprop-<uid>: a damaged file there
broke every later run, and another local user could plant one that swapped + and *. The other
tests plant such files where that cache read and wrote them (truncated, corrupted, of the wrong
type, symlinked, good tables with + and * swapped, the folder itself a symlink, every folder
writable by anyone) and run the CLI as a subprocess with HOME, XDG_CACHE_HOME and TMPDIR pointing
at them: each run gives the right numbers, exits 0, never imports Lark, and leaves every planted
file and folder as it was.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import marshal
import os
import subprocess
import sys
import zlib
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import pytest

import circuit_backprop
from circuit_backprop.lang import grammar_tables, lalr, tables

SOURCE_ROOT = str(Path(circuit_backprop.__file__).resolve().parents[1])  # (the copy under test)
EVAL = ["eval", "2+3*x", "--x", "4"]
BACKWARD = ["backward", "(x + 2*y)*z", "--x", "3", "--y", "-4", "--z", "19", "--json"]


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
    assert (len(shipped.states), len(shipped.rules), shipped.start_state) == (134, 83, 0)
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


def test_a_run_never_imports_lark(tmp_path) -> None:
    env = {**_isolated_env(tmp_path, "xdg"), "PYTHONPROFILEIMPORTTIME": "1"}
    done = subprocess.run([sys.executable, "-m", "circuit_backprop", *EVAL], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 0 and "f = 14" in done.stdout
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:")]
    assert "circuit_backprop.lang.grammar_tables" in imported
    assert [name for name in imported if name.split(".")[0] in ("lark", "hashlib")] == []


# --- files planted where the run-time cache was ------------------------------------------------


def _good_cache() -> dict:
    """The tables as the removed cache wrote them: marshal of the Tables' fields."""
    return asdict(tables.shipped_tables())


def _with_plus_and_star_swapped_in_the_lexer(doc: dict) -> dict:
    """2+3*x lexed as 2*3+x: with x = 4, 10 instead of 14 (another user's planted file)."""
    plus, star = r"(?P<PLUS>\+)", r"(?P<STAR>\*)"
    assert plus in doc["lexer"] and star in doc["lexer"]
    lexer = doc["lexer"].replace(plus, "\0").replace(star, r"(?P<STAR>\+)")
    return {**doc, "lexer": lexer.replace("\0", r"(?P<PLUS>\*)")}


def _with_add_and_mul_swapped_in_the_rules(doc: dict) -> dict:
    """x + y parsed as a product and x * y as a sum: (x + 2*y)*z becomes (x * (2+y)) + z."""
    swap = {"add": "mul", "mul": "add"}
    rules = [{**rule, "alias": swap.get(rule["alias"], rule["alias"])} for rule in doc["rules"]]
    assert rules != doc["rules"]
    return {**doc, "rules": rules}


def _corrupted(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 64]) + data[middle + 64:]


def _write(data: bytes) -> Callable[[Path, Path], None]:
    return lambda path, victims: path.write_bytes(data)


def _directory(path: Path, victims: Path) -> None:
    path.mkdir()
    (path / "inside").write_text("a directory where the tables were\n")


def _fifo(path: Path, victims: Path) -> None:
    os.mkfifo(path)  # (the removed cache's open() would wait on it for ever)


def _symlink_to_a_victim(path: Path, victims: Path) -> None:
    path.symlink_to(victims / "secret.txt")


def _dangling_symlink(path: Path, victims: Path) -> None:
    path.symlink_to(victims / "no-such-file")


GOOD = marshal.dumps(_good_cache())
PLANTS: dict[str, Callable[[Path, Path], None]] = {
    "empty": _write(b""),
    "truncated": _write(GOOD[: len(GOOD) // 2]),
    "corrupted": _write(_corrupted(GOOD)),
    "json, not marshal": _write(json.dumps(_good_cache()).encode()),
    "a list, not tables": _write(marshal.dumps(["states", "rules", "lexer"])),
    "states of the wrong type": _write(marshal.dumps({**_good_cache(), "states": "none"})),
    "+ and * swapped in the lexer": _write(
        marshal.dumps(_with_plus_and_star_swapped_in_the_lexer(_good_cache()))),
    "add and mul swapped in the rules": _write(
        marshal.dumps(_with_add_and_mul_swapped_in_the_rules(_good_cache()))),
    "a directory": _directory,
    "a fifo": _fifo,
    "a symlink to another file": _symlink_to_a_victim,
    "a dangling symlink": _dangling_symlink,
}
# where the removed cache looked: $XDG_CACHE_HOME, else ~/.cache, else (when the first could not
# be made, here because $XDG_CACHE_HOME is a file) a folder of the user's in the temporary one
LOCATIONS = ["xdg", "home", "tmp"]


def _old_cache_name() -> str:
    """The file name the removed cache read the tables from: a hash of the grammar, the
    installed Lark (its file's path, size and time), lalr.py and Python's version."""
    spec = importlib.util.find_spec("lark")
    assert spec is not None and spec.origin
    stat = os.stat(spec.origin)
    lark_id = f"{spec.origin}:{stat.st_size}:{stat.st_mtime_ns}"
    data = (tables.GRAMMAR.read_text("utf-8").encode() + lark_id.encode()
            + Path(lalr.__file__).read_bytes() + sys.version.encode())
    return f"grammar-{zlib.crc32(data):08x}{zlib.adler32(data):08x}.marshal"


def _isolated_env(root: Path, location: str) -> dict[str, str]:
    """The environment of a run whose cache folders are all under `root`."""
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CACHE_HOME", "TMPDIR")}
    env.update(HOME=str(root / "home"), TMPDIR=str(root / "tmp"), PYTHONPATH=SOURCE_ROOT)
    for folder in ("home", "tmp", "xdg"):
        (root / folder).mkdir(exist_ok=True)
    if location == "xdg":
        env["XDG_CACHE_HOME"] = str(root / "xdg")
    elif location == "tmp":
        (root / "not-a-folder").write_text("")
        env["XDG_CACHE_HOME"] = str(root / "not-a-folder")
    return env


def _cache_folders(root: Path) -> list[Path]:
    return [root / "xdg" / "circuit-backprop", root / "home" / ".cache" / "circuit-backprop",
            root / "tmp" / f"circuit-backprop-{os.getuid()}"]


def _plant(root: Path, plant: Callable[[Path, Path], None]) -> None:
    """The damaged file at every name the removed cache could read, in every one of its
    folders, each folder writable by anyone; and a file another user would want overwritten."""
    victims = root / "victims"
    victims.mkdir()
    (victims / "secret.txt").write_text("root's own data\n")
    for folder in _cache_folders(root):
        folder.mkdir(parents=True)
        for name in (_old_cache_name(), "grammar-0123456789abcdef.marshal"):
            plant(folder / name, victims)
        folder.chmod(0o777)
    folder = root / "home" / ".cache"
    folder.chmod(0o777)


def _snapshot(root: Path) -> dict[str, tuple]:
    """Every path under `root` (symlinks not followed): its kind, mode, size, time, contents."""
    seen = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            if os.path.islink(path):
                seen[path] = ("link", os.readlink(path))
            elif os.path.isfile(path):
                data = Path(path).read_bytes()
                seen[path] = ("file", st.st_mode, st.st_mtime_ns, hashlib.sha256(data).digest())
            else:
                seen[path] = ("other", st.st_mode, st.st_mtime_ns)
    return seen


def _circuit(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "circuit_backprop", *args], capture_output=True,
                          text=True, env=env, timeout=60)


@pytest.mark.parametrize("location", LOCATIONS)
@pytest.mark.parametrize("kind", list(PLANTS))
def test_a_file_planted_where_the_cache_was_changes_nothing(tmp_path, kind, location) -> None:
    _plant(tmp_path, PLANTS[kind])
    env = _isolated_env(tmp_path, location)
    before = _snapshot(tmp_path)

    evaluated = _circuit(EVAL, env)
    assert (evaluated.returncode, evaluated.stderr) == (0, "")
    assert evaluated.stdout.splitlines()[-1] == "f = 14"

    backward = _circuit(BACKWARD, env)
    assert (backward.returncode, backward.stderr) == (0, "")
    result = json.loads(backward.stdout)
    assert result["value"] == -95.0
    assert result["gradients"] == {"x": 19.0, "y": 38.0, "z": -5.0}

    assert _snapshot(tmp_path) == before  # nothing read there was written, nor anything new


def test_a_cache_folder_that_is_a_symlink_to_another_folder_is_not_written(tmp_path) -> None:
    victims = tmp_path / "victims"
    victims.mkdir()
    (victims / "secret.txt").write_text("root's own data\n")
    (tmp_path / "xdg").mkdir()
    (tmp_path / "xdg" / "circuit-backprop").symlink_to(victims, target_is_directory=True)
    (tmp_path / "home" / ".cache").mkdir(parents=True)
    (tmp_path / "home" / ".cache" / "circuit-backprop").symlink_to(victims)
    (tmp_path / "tmp").mkdir()
    (tmp_path / "tmp" / f"circuit-backprop-{os.getuid()}").symlink_to(victims)
    envs = [_isolated_env(tmp_path, location) for location in LOCATIONS]
    before = _snapshot(tmp_path)
    for env in envs:
        done = _circuit(EVAL, env)
        assert (done.returncode, done.stderr, done.stdout.splitlines()[-1]) == (0, "", "f = 14")
    assert _snapshot(tmp_path) == before
    assert sorted(p.name for p in victims.iterdir()) == ["secret.txt"]
