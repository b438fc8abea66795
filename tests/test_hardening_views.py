"""Issue 14, the views' rows: `circuit torch` on defs, `circuit plot` outside its range, `--all`.

Each test reproduces a row of the issue and checks the numbers against ones computed another way
(autograd in a separate process, the engine's JSON, the API's gate records).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# --- circuit torch: defs whose body is a number, a bare parameter, or leaves a parameter out ---


def _run_program(text: str) -> dict[str, object]:
    """Run the printed PyTorch program with `python -c`; its `name = value` lines, parsed."""
    p = subprocess.run([sys.executable, "-c", text], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    found: dict[str, object] = {}
    for line in p.stdout.splitlines():
        key, _, value = line.partition(" = ")
        found[key] = json.loads("null" if value == "None" else value)
    return found


def _flat(value: object) -> list[float]:
    """A number or nested lists of numbers, as one flat list (a loop, not a recursion)."""
    flat: list[float] = []
    todo = [value]
    while todo:
        item = todo.pop()
        if isinstance(item, list):
            todo.extend(reversed(item))
        else:
            flat.append(float(item))  # type: ignore[arg-type]
    return flat


DEF_PROGRAMS = [
    # the reproducer: a def whose body is a number (KeyError: 1 in _staged)
    ("def k(a) = 5; f = k(x) * x", ["--x", "2"]),
    # the output computed from no input through autograd: no backward(), every gradient 0
    ("def k(a) = 5; f = k(x)", ["--x", "2"]),
    # a def whose body is its parameter: g's .grad must be g's own, not x's (an alias)
    ("def k(a) = a; g = k(x); f = g * x", ["--x", "2"]),
    # a def that leaves a parameter out
    ("def k(a, b) = a * 3; g = k(x, y); f = g * y", ["--x", "2", "--y", "5"]),
    # a def calling one defined after it, whose body is a number
    ("def h(b) = k(b) * 2; def k(a) = 5; f = h(x) + x", ["--x", "2"]),
    # a parameter named like a def the body calls (it would hide the function)
    ("def k(a) = a*3; def h(k) = k(k)*k; f = h(x)", ["--x", "2"]),
    # named constants, a body that is its second parameter, a call on a number
    ("def k(a) = pi; def z(a, b) = b; g = k(x) * z(x, y); f = g + z(y, 2)",
     ["--x", "0.5", "--y", "-3"]),
    # tensor programs
    ("def k(a, b) = a; f = sum(k(x, 2) * x)", ["--x", "[1, 2, 3]"]),
    ("def k(a) = a; g = k(w); f = sum(g * w)", ["--w", "[[1, 2], [3, 4]]"]),
    ("def k(a) = sum(a * a); def sq(a) = a * a; f = k(x) * sum(sq(x) + x)",
     ["--x", "[1, -2, 3]"]),
]


@pytest.mark.parametrize(("source", "values"), DEF_PROGRAMS)
def test_torch_program_of_defs_runs_and_matches_backward(run, source, values) -> None:
    out = run("torch", source, *values)
    assert out.exit_code == 0, out.output
    found = _run_program(out.stdout)
    doc = json.loads(run("backward", source, *values, "--json").stdout)
    assert found[doc["output"]] == pytest.approx(doc["value"], rel=1e-12)
    named = {g["name"]: g for g in doc["gates"] if g["name"] and g["op"] != "const"}
    assert set(doc["inputs"]) <= set(named)
    backward = f"{doc['output']}.backward()" in out.stdout
    for name, gate in named.items():
        got = found[f"{name}.grad"]
        want = _flat(gate["grad"])
        if got is None and name == doc["output"]:  # (no backward(): no seed ∂f/∂f = 1 either)
            assert not backward
            continue
        if got is None:  # autograd never reached it: its gradient is 0
            got = [0.0] * len(want)
        assert _flat(got) == pytest.approx(want, rel=1e-12, abs=1e-15), name


def test_torch_program_of_a_constant_def_says_there_is_no_gradient(run) -> None:
    text = run("torch", "def k(a) = 5; f = k(x)", "--x", "2").stdout
    assert "f.backward()" not in text and "f.retain_grad()" not in text
    assert "return torch.tensor(5.0, dtype=torch.float64)" in text
