"""--check-torch on eval and backward, and torch staying out of the way when not asked for."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

from circuit_backprop.core import ops

SEED = ["circuits/staged.circ"]


def _python(code: str, cwd) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def _cli_code(args: list[str], prelude: str = "") -> str:
    return (
        "import sys\n" + prelude +
        "from circuit_backprop import cli\n"
        f"sys.argv = ['circuit'] + {args!r}\n"
        "try:\n    cli.main()\nexcept SystemExit as e:\n    code = e.code or 0\n"
        "else:\n    code = 0\n"
        "print('EXIT', code, 'torch' in sys.modules, file=sys.stderr)\n"
    )


def test_eval_and_backward_without_the_flag_never_import_torch(repo_dir) -> None:
    for command in ("eval", "backward"):
        p = _python(_cli_code([command, "(x + 2*y)*z", "--x", "3", "--y", "-4", "--z", "19"]),
                    repo_dir)
        assert "EXIT 0 False" in p.stderr, p.stderr
        assert "f = -95" in p.stdout
    p = _python(_cli_code(["eval", "x*y", "--x", "1", "--y", "2", "--check-torch"]), repo_dir)
    assert "EXIT 0 True" in p.stderr, p.stderr  # and the flag really does use it


def test_without_torch_a_clear_message_and_exit_2(repo_dir) -> None:
    block = "sys.modules['torch'] = None  # as if torch were not installed\n"
    for args in (["eval", *SEED, "--check-torch"], ["backward", *SEED, "--check-torch"],
                 ["backward", *SEED, "--passes", "2"]):
        p = _python(_cli_code(args, block), repo_dir)
        assert "EXIT 2" in p.stderr, p.stderr
        assert "Traceback" not in p.stderr
        assert "needs PyTorch, which is not installed" in p.stderr
        assert "pip install torch==2.13.0" in p.stderr
        assert 'pip install -e ".[torch]"' in p.stderr
        assert p.stdout == ""


def test_backward_check_torch_tables_and_summary(run, repo_dir, monkeypatch) -> None:
    monkeypatch.chdir(repo_dir)
    out = run("backward", *SEED, "--check-torch")
    assert out.exit_code == 0, out.output
    import torch

    assert f"torch {torch.__version__} agrees on every gate's value and gradient" in out.stdout
    assert "largest relative error 0" in out.stdout
    # a torch column in each of the three tables, a ✓ on every node's row in each
    assert out.stdout.count("┃ torch ┃") == 3
    assert out.stdout.count("✓") == 7 + 7 + 5
    assert "✗" not in out.stdout


def test_eval_check_torch_compares_values(run) -> None:
    out = run("eval", "(x + 2*y)*z", "--x", "3", "--y", "-4", "--z", "19", "--check-torch")
    assert out.exit_code == 0, out.output
    assert "agrees on every gate's value (7 nodes" in out.stdout
    assert out.stdout.count("✓") == 7


def test_check_torch_json(run, parse) -> None:
    out = run("backward", "q = x + 2*y; f = q*z", "--x", "3", "--y", "-4", "--z", "19",
              "--check-torch", "--json")
    assert out.exit_code == 0, out.output
    doc = parse(out.stdout)
    t = doc["torch"]
    assert t["ok"] is True and t["disagree"] == [] and t["max_rel_error"] == 0.0
    assert t["rtol"] == 1e-9 and t["atol"] == 1e-12
    assert t["version"].startswith("2.13.0")
    by_id = {g["id"]: g for g in t["gates"]}
    for gate in doc["gates"]:
        mine = by_id[gate["id"]]
        assert mine["value"] == gate["value"] and mine["value_ok"] and mine["grad_ok"]
        assert (mine["grad"] or 0.0) == gate["grad"]
    names = {g["name"]: by_id[g["id"]] for g in doc["gates"] if g["name"]}
    assert (names["x"]["grad"], names["y"]["grad"], names["z"]["grad"]) == (19.0, 38.0, -5.0)
    assert names["q"]["grad"] == 19.0 and names["f"]["grad"] == 1.0  # retain_grad on every gate

    out = run("eval", *["(x + 2*y)*z", "--x", "3", "--y", "-4", "--z", "19"], "--check-torch",
              "--json")
    t = parse(out.stdout)["torch"]
    assert t["compared"] == "values" and "grad" not in t["gates"][0]


def test_disagreement_exits_1_and_lists_the_gates(run, monkeypatch) -> None:
    wrong = dataclasses.replace(ops.OPS["mul"], torch=lambda t, a, b: a * b * 1.001)
    monkeypatch.setitem(ops.OPS, "mul", wrong)
    out = run("backward", "q = x + 2*y; f = q*z", "--x", "3", "--y", "-4", "--z", "19",
              "--check-torch")
    assert out.exit_code == 1, out.output
    assert "disagrees" in out.stdout and "✗ -95.2472" in out.stdout
    assert "torch disagrees with the engine on:" in out.stderr
    assert "f (value)" in out.stderr
    out = run("backward", "q = x + 2*y; f = q*z", "--x", "3", "--y", "-4", "--z", "19",
              "--check-torch", "--json")
    assert out.exit_code == 1
    doc = json.loads(out.stdout)
    assert doc["torch"]["ok"] is False and doc["torch"]["disagree"]
    # a loose enough tolerance accepts it
    out = run("backward", "q = x + 2*y; f = q*z", "--x", "3", "--y", "-4", "--z", "19",
              "--check-torch", "--rtol", "0.01")
    assert out.exit_code == 0, out.output


def test_tolerances_are_options(run) -> None:
    out = run("backward", "f = sin(x)*exp(x)", "--x", "0.3", "--check-torch", "--rtol", "0",
              "--atol", "0", "--json")
    doc = json.loads(out.stdout)
    assert doc["torch"]["rtol"] == 0 and doc["torch"]["atol"] == 0


def test_every_example_circuit_agrees(run, circuits_dir) -> None:
    for path in sorted(circuits_dir.glob("*.circ")):
        out = run("backward", str(path), "--check-torch")
        assert out.exit_code == 0, (path, out.output)
        assert "agrees on every gate's value and gradient" in out.stdout


def test_constant_output_is_explained(run) -> None:
    out = run("backward", "f = 2*3", "--check-torch")
    assert out.exit_code == 0, out.output
    assert "depends on no input" in out.stdout


def test_composite_gates_are_checked_too(run) -> None:
    out = run("backward", "def sq(a) = a*a\nf = sq(x) * y", "--x", "3", "--y", "2",
              "--check-torch")
    assert out.exit_code == 0, out.output
    assert "agrees on every gate's value and gradient" in out.stdout
