"""--steps: the staged walkthrough of the forward and backward passes, with real numbers."""

from __future__ import annotations

from rich.console import Console

from circuit_backprop.core import engine
from circuit_backprop.lang.parse import parse
from circuit_backprop.views import walkthrough

SEED_FORWARD = [
    "  1. inputs: x = 3, y = -4, z = 19",
    "  2. q = x + 2*y = 3 + 2·(-4) = -5",
    "  3. f = q*z = (-5)·19 = -95",
]

SEED_BACKWARD = [
    "  1. start at the output: ∂f/∂f = 1",
    "  2. f = q * z   (× gate)",
    "    upstream ∂f/∂f = 1",
    "    local ∂f/∂q = z = 19; sends 1 × 19 = 19 to q   ∂f/∂q = 19",
    "    local ∂f/∂z = q = -5; sends 1 × (-5) = -5 to z   ∂f/∂z = -5",
    "  3. q = x + 2*y   (+ gate)",
    "    upstream ∂f/∂q = 19",
    "    local ∂q/∂x = 1; sends 19 × 1 = 19 to x   ∂f/∂x = 19",
    "    local ∂q/∂(2*y) = 1; sends 19 × 1 = 19 to (2*y)   ∂f/∂(2*y) = 19",
    "  4. #4 = 2*y   (× gate)",
    "    upstream ∂f/∂(2*y) = 19",
    "    2: a constant wire, no gradient flows into it",
    "    local ∂(2*y)/∂y = 2; sends 19 × 2 = 38 to y   ∂f/∂y = 38",
]


def test_seed_backward_steps(run, circuits_dir):
    out = run("backward", circuits_dir / "staged.circ", "--steps")
    assert out.exit_code == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "Forward pass, one stage at a time (left to right)"
    assert lines[1:4] == SEED_FORWARD
    start = lines.index("  1. start at the output: ∂f/∂f = 1")
    assert lines[start - 1].startswith("Backward pass, one gate at a time (right to left)")
    assert lines[start : start + len(SEED_BACKWARD)] == SEED_BACKWARD
    assert lines[-2:] == ["f = -95", "∇f = [∂f/∂x, ∂f/∂y, ∂f/∂z] = [19, 38, -5]"]


def test_eval_steps_forward_only(run):
    out = run("eval", "q = x + 2*y; f = q * z", "--x", "3", "--y", "-4", "--z", "19", "--steps")
    assert out.exit_code == 0, out.stderr
    assert out.stdout.splitlines() == [
        "Forward pass, one stage at a time (left to right)", *SEED_FORWARD, "f = -95"]


def test_fork_accumulates(run, circuits_dir):
    out = run("backward", circuits_dir / "fork.circ", "--steps", "--precision", "4")
    assert out.exit_code == 0, out.stderr
    text = out.stdout
    assert "  5. f = a + b*c = (-0.75) + 0.9975·2.25 = 1.494" in text
    steps = [
        "local ∂c/∂x = 2 * x = 3; sends 0.9975 × 3 = 2.992 to x   "
        "∂f/∂x += 2.992 → 2.992  (fork: wire 1 of 3, more to come)",
        "local ∂b/∂x = cos(x) = 0.07074; sends 2.25 × 0.07074 = 0.1592 to x   "
        "∂f/∂x += 0.1592 → 3.152  (fork: wire 2 of 3, more to come)",
        "local ∂a/∂x = y = -0.5; sends 1 × (-0.5) = -0.5 to x   "
        "∂f/∂x += -0.5 → 2.652  (fork: wire 3 of 3, all in)",
    ]
    where = [text.index(s) for s in steps]
    assert where == sorted(where)  # in reverse gate order: c, then b, then a
    assert text.rstrip().endswith("∇f = [∂f/∂x, ∂f/∂y] = [2.652, 1.5]")


def test_stages_for_one_line_program_and_calls(run):
    out = run("backward", "sigmoid(w*x + b)", "--w", "2", "--x", "-1", "--b", "-3", "--steps")
    assert out.exit_code == 0, out.stderr
    assert "  2. f = sigmoid(w*x + b) = sigmoid(2·(-1) + (-3)) = 0.00669285" in out.stdout
    assert "local ∂f/∂(w*x + b) = f * (1 - f) = 0.00664806" in out.stdout  # sigmoid's rule


def test_constant_subexpressions_and_unused_gates(run):
    out = run("backward", "u = x*3; g = -(x - 2)^2; f = g / 2", "--x", "5", "--steps")
    assert out.exit_code == 0, out.stderr
    assert "  3. g = -(x - 2)^2 = -(5 - 2)^2 = -9" in out.stdout
    assert "  4. f = g/2 = (-9) / 2 = -4.5" in out.stdout
    assert "u = x * 3" not in out.stdout.split("Backward pass")[1]  # u does not reach f


def test_steps_with_json_is_a_usage_error(run, circuits_dir):
    out = run("backward", circuits_dir / "staged.circ", "--steps", "--json")
    assert out.exit_code == 2
    assert "--steps" in out.stderr


def test_pause_without_a_terminal_does_not_wait(run, circuits_dir):
    out = run("backward", circuits_dir / "staged.circ", "--steps", "--pause", input="")
    assert out.exit_code == 0, out.stderr
    assert "Enter" not in out.output
    assert "∇f = [∂f/∂x, ∂f/∂y, ∂f/∂z] = [19, 38, -5]" in out.stdout


def test_pause_waits_between_stages(circuits_dir):
    graph = parse((circuits_dir / "staged.circ").read_text())
    trace = engine.run(graph, dict(graph.defaults))
    prompts: list[str] = []
    console = Console(record=True, width=120)
    walkthrough.print_steps(console, trace, 6, pause=True, read=prompts.append)
    assert len(prompts) == 3 + 4  # 3 forward stages, 4 backward ones
    assert all("Enter" in p for p in prompts)


def test_math_error_in_steps_exits_1(run):
    out = run("backward", "sqrt(x)", "--x", "0", "--steps")
    assert out.exit_code == 1
    assert "sqrt" in out.stderr and "Traceback" not in out.output


def test_steps_refuses_checks_instead_of_ignoring_them(run, circuits_dir):
    out = run("backward", circuits_dir / "staged.circ", "--steps", "--check-torch")
    assert out.exit_code == 2
    assert "--steps is a walkthrough" in out.stderr
    out = run("eval", circuits_dir / "staged.circ", "--steps", "--check-numeric")
    assert out.exit_code == 2
