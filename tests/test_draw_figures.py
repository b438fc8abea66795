"""Figures for slides: `circuit draw` with --expand, --title, PDF output and a PNG --scale."""

from __future__ import annotations

import struct

import pytest


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
