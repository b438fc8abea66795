"""`circuit torch`: the printed PyTorch program runs, and its gradients are the engine's."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _run_script(text: str, tmp_path) -> dict[str, float | None]:
    path = tmp_path / "circuit_script.py"
    path.write_text(text, encoding="utf-8")
    p = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    found: dict[str, float | None] = {}
    for line in p.stdout.splitlines():
        key, _, value = line.partition(" = ")
        found[key] = None if value == "None" else float(value)
    return found


def test_seed_script_style(run, repo_dir, monkeypatch) -> None:
    monkeypatch.chdir(repo_dir)
    out = run("torch", "circuits/staged.circ")
    assert out.exit_code == 0, out.output
    text = out.stdout
    assert "import torch" in text
    assert "x = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)" in text
    assert "y = torch.tensor(-4.0, dtype=torch.float64, requires_grad=True)" in text
    assert "\nq = x + 2.0 * y" in text and "\nf = q * z" in text
    assert "q.retain_grad()" in text
    assert "f.backward()" in text
    assert 'print("x.grad =",' in text


def test_seed_script_runs_and_matches(run, repo_dir, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(repo_dir)
    found = _run_script(run("torch", "circuits/staged.circ").stdout, tmp_path)
    assert found == {"f": -95.0, "x.grad": 19.0, "y.grad": 38.0, "z.grad": -5.0,
                     "q.grad": 19.0, "f.grad": 1.0}


PROGRAMS = [
    ("circuits/fork.circ", []),
    ("circuits/neuron.circ", []),
    ("circuits/staged_sigmoid.circ", []),
    ("circuits/max_routing.circ", []),
    ("circuits/simple.circ", []),
    ("f = -x^2 + 2^-x - (x - y) - (x / (y / 2))", ["--x", "1.5", "--y", "0.75"]),
    ("a = x*y; b = a*a; f = exp(-b) + sqrt(a) + log(b) + pow(x, y) + tan(x) + cos(y)",
     ["--x", "0.5", "--y", "1.25"]),
    ("f = relu(x) + abs(y) + min(x, y) + tanh(x) + sigmoid(-y) + sin(x*pi) + e", ["--x", "0.5",
                                                                               "--y", "-2"]),
    ("lambda = x * 3; print = lambda - 1; f = print * print", ["--x", "2"]),
    ("k = 3; g = x * k; dead = exp(x); f = g + x", ["--x", "2"]),
    ("input torch = 2\nf = torch * torch", []),
    ("def sq(a) = a*a\ndef h(u, v) = sq(u) - v*u\nf = h(sq(x), 2) + x", ["--x", "3"]),
]


@pytest.mark.parametrize(("source", "values"), PROGRAMS)
def test_script_gradients_are_the_engines(run, repo_dir, tmp_path, monkeypatch, source,
                                          values) -> None:
    monkeypatch.chdir(repo_dir)
    out = run("torch", source, *values)
    assert out.exit_code == 0, out.output
    found = _run_script(out.stdout, tmp_path)
    doc = json.loads(run("backward", source, *values, "--json").stdout)
    assert found[doc["output"] if doc["output"] not in ("lambda", "print", "torch")
                 else doc["output"] + "_"] == pytest.approx(doc["value"], rel=1e-12)
    names = {g["name"]: g for g in doc["gates"] if g["name"] and g["op"] != "const"}
    assert names
    for name, gate in names.items():
        key = (name + "_" if name in ("lambda", "print", "torch") else name) + ".grad"
        got = found[key]
        # a gate that does not reach the output keeps .grad None: its gradient is 0
        assert (0.0 if got is None else got) == pytest.approx(gate["grad"], rel=1e-12, abs=1e-15)


def test_script_errors_like_backward(run) -> None:
    out = run("torch", "f = log(x)", "--x", "-1")
    assert out.exit_code == 1 and "log" in out.stderr
    out = run("torch", "f = x*y", "--x", "1")
    assert out.exit_code == 2 and "missing value for input 'y'" in out.stderr
