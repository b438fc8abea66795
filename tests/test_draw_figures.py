"""Figures for slides: `circuit draw` with --expand, --title, PDF output and a PNG --scale."""

from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from circuit_backprop.views import draw


def png_size(path) -> tuple[int, int]:  # noqa: ANN001
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_draw_takes_expand_like_backward(run, repo_dir, monkeypatch) -> None:
    monkeypatch.chdir(repo_dir)
    plain = run("draw", "circuits/neuron.circ", "--format", "dot")
    expanded = run("draw", "circuits/neuron.circ", "--expand", "--format", "dot")
    assert plain.exit_code == expanded.exit_code == 0, expanded.output
    assert "<b>σ</b>" in plain.stdout and "<b>σ</b>" not in expanded.stdout
    assert "<b>exp</b>" in expanded.stdout  # cs231n's expanded neuron: 1 / (1 + exp(-dot))


def test_a_title_goes_above_the_circuit(run, repo_dir, monkeypatch) -> None:
    monkeypatch.chdir(repo_dir)
    out = run("draw", "circuits/staged.circ", "--format", "dot", "--title", "Seed <example>")
    assert "labelloc=t" in out.stdout and "<b>Seed &lt;example&gt;</b>" in out.stdout


def test_pdf_and_a_png_scaled_for_a_slide(run, repo_dir, monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(repo_dir)
    pdf = tmp_path / "n.pdf"
    assert run("draw", "circuits/neuron.circ", "-o", pdf).exit_code == 0
    assert pdf.read_bytes()[:5] == b"%PDF-"
    small, big = tmp_path / "small.png", tmp_path / "big.png"
    assert run("draw", "circuits/neuron.circ", "-o", small, "--scale", "1").exit_code == 0
    assert run("draw", "circuits/neuron.circ", "-o", big).exit_code == 0  # default scale 2
    (w1, h1), (w2, h2) = png_size(small), png_size(big)
    assert w2 == pytest.approx(2 * w1, abs=4) and h2 == pytest.approx(2 * h1, abs=4)
    assert w2 >= 1800  # wide enough for a slide


def test_a_binary_format_needs_a_file(run) -> None:
    out = run("draw", "f = x * y", "--x", "1", "--y", "2", "--format", "pdf")
    assert out.exit_code == 2 and "needs an output file" in out.stderr


# --- labels: never an internal id on the picture -------------------------------------------------

SHIPPED = sorted((Path(__file__).parent.parent / "circuits").glob("*.circ"))
COLOR = re.compile(r'"#[0-9a-fA-F]{6}"')  # colours are the only other `#` in the DOT
NODE_ID = re.compile(r"#\d+")


def node_labels(dot: str) -> dict[str, str]:
    """Node name -> its label, from the DOT text."""
    return dict(re.findall(r"^  (n\d+) \[label=(<.*?>|\"[^\"]*\"), ", dot, re.MULTILINE))


@pytest.mark.parametrize("expand", [False, True], ids=["plain", "expand"])
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_no_internal_id_on_the_picture(run, path, expand) -> None:
    flags = ["--expand"] if expand else []
    dot = run("draw", path, *flags, "--format", "dot")
    assert dot.exit_code == 0, dot.stderr
    assert NODE_ID.findall(COLOR.sub("", dot.stdout)) == [], path.name
    text = run("draw", path, *flags)
    assert text.exit_code == 0, text.stderr
    assert NODE_ID.findall(text.stdout) == [], path.name


def test_an_unnamed_gate_is_labelled_by_its_source_or_its_op(run, circuits_dir) -> None:
    labels = node_labels(run("draw", circuits_dir / "neuron.circ", "--format", "dot").stdout)
    assert "<b>×</b>" in labels["n5"] and ">w0*x0<" in labels["n5"]  # w0*x0: its source
    assert "<b>×</b>" in labels["n6"] and ">w1*x1<" in labels["n6"]
    assert ">dot<" in labels["n8"] and ">f<" in labels["n9"]  # named gates: their names
    # w0*x0 + w1*x1 would blow the circle up: the op alone, the source as its tooltip
    n7 = re.search(r"^  n7 \[.*$", run("draw", circuits_dir / "neuron.circ", "--format",
                                         "dot").stdout, re.MULTILINE)
    assert n7 and labels["n7"] == "<<b>+</b>>" and 'tooltip="w0*x0 + w1*x1"' in n7.group()
    expanded = node_labels(run("draw", circuits_dir / "neuron.circ", "--expand", "--format",
                               "dot").stdout)
    assert ">exp(-dot)<" in expanded["n12"] and ">-dot<" in expanded["n11"]


def test_the_text_drawing_names_unnamed_gates_by_their_source(run, circuits_dir) -> None:
    text = run("draw", circuits_dir / "staged.circ").stdout
    assert "[×] 2*y = -8   ∂f/∂(2*y) = 19" in text and "  2*y ── -8 │ 19 ──┴─▶ [+] q" in text
    expanded = run("draw", circuits_dir / "neuron.circ", "--expand").stdout
    assert "[exp] exp(-dot) = 0.3679   ∂f/∂exp(-dot) = -0.5344" in expanded
    assert "[+] 1 + exp(-dot) = 1.368" in expanded  # (1 + exp(-dot)): outer parentheses dropped
    # the same body text twice (sig's body, expanded at two calls): told apart, not merged
    composite = run("draw", circuits_dir / "composite.circ", "--expand").stdout
    assert "[−] -a = 5" in composite and "[−] -a′ = -0.003346" in composite
    assert "  -a′ " in composite


# --- placement: which number belongs to which wire -----------------------------------------------

SVG = "{http://www.w3.org/2000/svg}"


def test_labels_are_tied_to_their_wires_and_commutative_gates_have_no_port_numbers(
        run, circuits_dir) -> None:
    dot = run("draw", circuits_dir / "neuron.circ", "--format", "dot").stdout
    assert re.search(r"^  edge \[.*decorate=true", dot, re.MULTILINE)  # a label's line to its wire
    assert "headlabel" not in dot  # × and + only: the order of their inputs does not matter
    assert "ordering=in" not in dot


def test_ordered_inputs_are_numbered_clear_of_the_arrowheads(run, circuits_dir) -> None:
    dot = run("draw", circuits_dir / "staged_sigmoid.circ", "--format", "dot").stdout
    lines = dot.splitlines()
    invden = next(line for line in lines if line.startswith("  n10 ["))  # invden = 1 / den
    assert "ordering=in" in invden  # input 1 (the numerator) on top
    into = {line.split(" [")[0].strip(): line for line in lines if " -> n10 " in line}
    assert 'headlabel="1"' in into["n9 -> n10"] and "labelangle=-35" in into["n9 -> n10"]
    assert 'headlabel="2"' in into["n8 -> n10"] and "labelangle=35" in into["n8 -> n10"]
    assert all("labeldistance=" in line for line in into.values())
    f_in = [line for line in lines if " -> n11 " in line]  # f = num * invden: no numbers
    assert len(f_in) == 2 and not any("headlabel" in line for line in f_in)

    # in the SVG, each number's box is clear of its arrowhead
    svg = ET.fromstring(draw.render(dot, "svg", None))
    checked = 0
    for g in svg.iter(f"{SVG}g"):
        if g.get("class") != "edge":
            continue
        texts = list(g.iter(f"{SVG}text"))
        head = [t for t in texts if t.get("font-size") == "9.00"]
        if not head:
            continue
        points = [tuple(map(float, p.split(","))) for p in
                  g.find(f"{SVG}polygon").get("points").split()]
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        x, y = float(head[0].get("x")), float(head[0].get("y"))
        box = (x - 3, y - 8, x + 3, y + 1)  # a 9-point digit, centred on x, baseline at y
        apart = (box[2] < min(xs) or box[0] > max(xs) or box[3] < min(ys) or box[1] > max(ys))
        assert apart, (g.find(f"{SVG}title").text, box, points)
        checked += 1
    assert checked == 4  # invden's two inputs and xpysqr's two


def test_node_and_edge_titles_stay_as_the_lesson_finds_them(run, circuits_dir) -> None:
    """An HTML lesson finds nodes and edges by their SVG <title>: n<id> and n<src>->n<dst>."""
    out = run("draw", circuits_dir / "neuron.circ", "--format", "svg")
    titles = {t.text for t in ET.fromstring(out.stdout).iter(f"{SVG}title")}
    edges = {"n0->n5", "n1->n5", "n2->n6", "n3->n6", "n5->n7", "n6->n7", "n7->n8", "n4->n8",
             "n8->n9", "n9->out"}
    assert titles == {"circuit", "out"} | {f"n{i}" for i in range(10)} | edges
