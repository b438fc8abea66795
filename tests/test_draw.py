"""circuit draw: the text drawing, Graphviz DOT rendered by the real `dot`, SVG/PNG files."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from circuit_backprop.views import draw

SEED_TEXT = """\
Circuit for f: inputs at the top, output at the bottom; each wire: value │ gradient ∂f/∂wire
inputs
  x = 3    ∂f/∂x = 19
  y = -4   ∂f/∂y = 38
  z = 19   ∂f/∂z = -5
gates (forward ↓, backward ↑)
  2   ──  2 │  — ──┐
  y   ── -4 │ 38 ──┴─▶ [×] 2*y = -8   ∂f/∂(2*y) = 19
  x   ──  3 │ 19 ──┐
  2*y ── -8 │ 19 ──┴─▶ [+] q = -5   ∂f/∂q = 19
  q   ── -5 │ 19 ──┐
  z   ── 19 │ -5 ──┴─▶ [×] f = -95   ∂f/∂f = 1   output
"""

# (from, to) -> (value, gradient) on each wire of the seed circuit, output wire included
SEED_WIRES = {
    ("n3", "n4"): ("2", "—"),  # the constant 2: no gradient flows into it
    ("n1", "n4"): ("-4", "38"),
    ("n0", "n5"): ("3", "19"),
    ("n4", "n5"): ("-8", "19"),
    ("n5", "n6"): ("-5", "19"),
    ("n2", "n6"): ("19", "-5"),
    ("n6", "out"): ("-95", "1"),
}

SHARED = "s = sigmoid(x); f = s + s*s"  # s is used 3 times


def dot_program() -> str:
    exe = shutil.which("dot")
    assert exe, "Graphviz `dot` is required for these tests: apt-get install graphviz"
    return exe


def svg_edges(svg: str) -> dict[tuple[str, str], list[list[str]]]:
    """Each edge's title (from, to) -> the text lines of its label, from dot's SVG."""
    ns = {"svg": "http://www.w3.org/2000/svg"}
    root = ET.fromstring(svg)
    edges: dict[tuple[str, str], list[list[str]]] = {}
    for g in root.iter("{http://www.w3.org/2000/svg}g"):
        if g.get("class") != "edge":
            continue
        title = g.find("svg:title", ns)
        assert title is not None and title.text
        src, dst = title.text.split("->")
        texts = [t.text or "" for t in g.iter("{http://www.w3.org/2000/svg}text")]
        edges.setdefault((src, dst), []).append(texts)
    return edges


def render_svg(dot_text: str) -> str:
    done = subprocess.run([dot_program(), "-Tsvg"], input=dot_text, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr and "Error" not in done.stderr, done.stderr
    return done.stdout


def test_text_drawing_snapshot_seed(run, circuits_dir):
    out = run("draw", circuits_dir / "staged.circ")
    assert out.exit_code == 0, out.stderr
    assert out.stdout == SEED_TEXT


def test_dot_rendered_by_graphviz_has_value_and_gradient_on_every_wire(run, circuits_dir):
    out = run("draw", circuits_dir / "staged.circ", "--format", "dot")
    assert out.exit_code == 0, out.stderr
    assert "rankdir=LR" in out.stdout
    edges = svg_edges(render_svg(out.stdout))
    assert set(edges) == set(SEED_WIRES)
    for wire, (value, grad) in SEED_WIRES.items():
        assert edges[wire][0][:2] == [value, grad], (wire, edges[wire])


def test_dot_labels_match_the_backward_json(run, run_json, circuits_dir):
    """Every wire of fork.circ carries its value and the gradient the gate sends back."""
    doc = run_json("backward", circuits_dir / "fork.circ", "--json")
    out = run("draw", circuits_dir / "fork.circ", "--format", "dot", "--precision", "6")
    assert out.exit_code == 0, out.stderr
    edges = svg_edges(render_svg(out.stdout))
    gates = doc["gates"]
    count = 0
    for gate in gates:
        for k, i in enumerate(gate["inputs"]):
            grad = gate["downstream"][k]
            labels = [e[:2] for e in edges[(f"n{i}", f"n{gate['id']}")]]
            expected = [draw.fmt(gates[i]["value"]), "—" if grad is None else draw.fmt(grad)]
            assert expected in labels, (gate["id"], k, labels)
            count += 1
    assert count == 9
    # x forks three ways: its node shows the sum of the three gradients
    assert "Σ (-0.5) + 0.159159 + 2.99248 = 2.65164" in out.stdout


def test_dot_node_styles_and_symbols(run, circuits_dir):
    out = run("draw", circuits_dir / "neuron.circ", "--format", "dot")
    assert out.exit_code == 0, out.stderr
    text = out.stdout
    assert "<b>σ</b>" in text and "<b>×</b>" in text and "<b>+</b>" in text
    assert 'fillcolor="#dbeafe"' in text  # inputs
    assert "peripheries=2" in text  # the output
    assert text.count("peripheries=2") == 1
    again = run("draw", circuits_dir / "neuron.circ", "--format", "dot")
    assert again.stdout == text  # deterministic
    render_svg(text)


def test_dag_shared_node_drawn_once(run):
    dot = run("draw", SHARED, "--x", "0", "--format", "dot")
    assert dot.exit_code == 0, dot.stderr
    lines = dot.stdout.splitlines()
    assert sum(1 for line in lines if line.strip().startswith("n1 [")) == 1
    assert sum(1 for line in lines if line.strip().startswith("n1 -> ")) == 3
    assert "Σ 0.5 + 0.5 + 1 = 2" in dot.stdout
    edges = svg_edges(render_svg(dot.stdout))
    assert sorted(e[:2] for e in edges[("n1", "n2")]) == [["0.5", "0.5"], ["0.5", "0.5"]]
    assert [e[:2] for e in edges[("n1", "n3")]] == [["0.5", "1"]]

    text = run("draw", SHARED, "--x", "0")
    assert text.exit_code == 0, text.stderr
    assert text.stdout.count("[σ] s") == 1
    assert len(re.findall(r"^  s +── ", text.stdout, re.MULTILINE)) == 3
    assert "∂f/∂s = 0.5 + 0.5 + 1 = 2" in text.stdout


def test_dag_does_not_blow_up(run):
    # 30 levels of a = b + b: a tree would have 2^30 leaves; the DAG has 31 gates
    program = "; ".join(["a0 = x"] + [f"a{i} = a{i-1} + a{i-1}" for i in range(1, 31)])
    out = run("draw", program, "--x", "1", "--format", "dot")
    assert out.exit_code == 0, out.stderr
    assert out.stdout.count(" -> ") == 1 + 60 + 1
    assert "1.074e+09" in out.stdout  # the output value 2^30


def test_forward_only(run, circuits_dir):
    out = run("draw", circuits_dir / "staged.circ", "--forward-only")
    assert out.exit_code == 0, out.stderr
    assert "│" not in out.stdout and "∂" not in out.stdout
    assert "[×] f = -95" in out.stdout
    dot = run("draw", circuits_dir / "staged.circ", "--forward-only", "--format", "dot")
    assert "#cf222e" not in dot.stdout
    edges = svg_edges(render_svg(dot.stdout))
    assert edges[("n5", "n6")][0][:1] == ["-5"]


def test_svg_and_png_files(run, tmp_path):
    svg = tmp_path / "c.svg"
    png = tmp_path / "c.png"
    dot = tmp_path / "c.dot"
    out = run("draw", "-cos(x)", "--x", "1", "-o", dot)
    assert out.exit_code == 0, out.stderr
    assert dot.read_text().startswith("digraph circuit {")  # format from the extension
    out = run("draw", "-cos(x)", "--x=-1", "--format", "svg", "-o", svg)
    assert out.exit_code == 0, out.stderr
    assert "<svg" in svg.read_text() and "0.5403" in svg.read_text()
    out = run("draw", "--format", "png", "-o", png, "-cos(x)", "--x", "-1")
    assert out.exit_code == 0, out.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_graphviz_says_how_to_install(run, tmp_path, monkeypatch):
    monkeypatch.setattr(draw.shutil, "which", lambda name: None)
    out = run("draw", "x*y", "--x", "1", "--y", "2", "--format", "svg", "-o", tmp_path / "a.svg")
    assert out.exit_code == 2
    assert "apt-get install graphviz" in out.stderr
    assert "Traceback" not in out.output


def test_large_circuit_refused_with_a_way_out(run):
    program = "; ".join(["a0 = x"] + [f"a{i} = a{i-1} + 1" for i in range(1, 300)])
    out = run("draw", program, "--x", "1")
    assert out.exit_code == 2
    assert "too many to draw" in out.stderr and "--around" in out.stderr
    part = run("draw", program, "--x", "1", "--around", "a150", "--depth", "2")
    assert part.exit_code == 0, part.stderr
    assert "[+] a150 = 151" in part.stdout
    assert "[+] a152 = 153" in part.stdout
    assert "[+] a153" not in part.stdout
    assert "a147…" in part.stdout  # an input from outside the part drawn
    dot = run("draw", program, "--x", "1", "--around", "a150", "--depth", "1",
              "--format", "dot")
    assert dot.exit_code == 0, dot.stderr
    assert "n300 [" in dot.stdout and "style=dashed" in dot.stdout
    render_svg(dot.stdout)


@pytest.mark.parametrize("args, message", [
    (["--format", "jpg"], "--format must be one of"),
    (["--around", "qq"], "no node named 'qq'"),
    (["--depth", "2"], "--depth needs --around"),
    (["--format", "png"], "needs an output file"),
])
def test_usage_errors(run, circuits_dir, args, message):
    out = run("draw", circuits_dir / "staged.circ", *args)
    assert out.exit_code == 2
    assert message in out.stderr


def test_math_error_exits_1(run):
    out = run("draw", "log(x)", "--x", "-1")
    assert out.exit_code == 1
    assert "log" in out.stderr


def test_readme_svg_is_current(repo_dir: Path, tmp_path):
    """docs/staged.svg is what the README's documented command produces."""
    from typer.testing import CliRunner

    from circuit_backprop.cli import app

    target = tmp_path / "staged.svg"
    result = CliRunner().invoke(app, ["draw", str(repo_dir / "circuits/staged.circ"),
                                      "--format", "svg", "-o", str(target)])
    assert result.exit_code == 0
    committed = repo_dir / "docs" / "staged.svg"
    assert svg_edges(committed.read_text()) == svg_edges(target.read_text())


def test_around_does_not_follow_every_use_of_a_hub(run):
    # x feeds all 500 gates: the part around a250 stays small, and x's node shows its Σ
    program = "; ".join(["a0 = x"] + [f"a{i} = a{i-1} * 0.5 + x" for i in range(1, 500)])
    out = run("draw", program, "--x", "1", "--around", "a250", "--depth", "2", "--format", "dot")
    assert out.exit_code == 0, out.stderr
    assert "(500 terms) = 2" in out.stdout  # ∂f/∂x = 1 + 0.5 + 0.25 + ... = 2
    assert out.stdout.count(" -> ") < 20
    render_svg(out.stdout)


def test_unknown_output_extension_is_refused(run, tmp_path):
    target = tmp_path / "out.jpg"
    out = run("draw", "x*x", "--x", "1", "-o", str(target))
    assert out.exit_code == 2
    assert "cannot tell the format" in out.stderr
    assert not target.exists()


def test_readme_text_drawing_is_current(repo_dir: Path):
    """The README shows the seed's text drawing as `circuit draw` prints it (no ids, #4)."""
    readme = (repo_dir / "README.md").read_text(encoding="utf-8")
    assert SEED_TEXT in readme
