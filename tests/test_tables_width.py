"""The tables at ordinary terminal widths (issue 10, "Tables for people").

Through the real command, at COLUMNS=60, 80 and 120: in the backward table every line that names
an input wire holds that wire's own local gradient and downstream value (as `--json` gives them),
and a line without an input holds no number of a wire; no number, anywhere, is cut ("…"). The
forward and gradient tables keep each node's number whole on the node's line. Also: the output's
own name in the gradient table, and the numeric check's summary in the terms of its pass rule.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import subprocess

import pytest

from tests.conftest import CIRCUITS, circuit_command

WIDTHS = (60, 80, 120)
SEED = CIRCUITS / "staged.circ"
SIGMOID = CIRCUITS / "staged_sigmoid.circ"
CUT_NUMBER = re.compile(r"[0-9.]…|…[0-9]")


def render(*args: object, columns: int) -> str:
    env = dict(os.environ, COLUMNS=str(columns), NO_COLOR="1")
    p = subprocess.run(circuit_command() + [str(a) for a in args], capture_output=True,
                       text=True, encoding="utf-8", env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    return p.stdout


def backward_json(circuit: object) -> dict:
    return json.loads(render("backward", circuit, "--json", columns=200))


def shown(value: float | None) -> str:
    """How the tables write a number at the default precision, 6 significant digits."""
    if value is None:
        return "—"
    return "0" if value == 0 else f"{value:.6g}"


def gate_label(gate: dict) -> str:
    return gate["name"] if gate["name"] is not None else f"#{gate['id']}"


def wire_label_matches(cell: str, source: dict) -> bool:
    """A wire is named by its gate's name, else by its source (an expression in parentheses)."""
    if source["name"] is not None:
        return cell == source["name"]
    return cell.strip("()") == source["source"] or cell == f"#{source['id']}"


def table_block(text: str, title: str) -> tuple[list[str], list[list[str]]]:
    """(the column headers, the cells of each body line) of the table under `title`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    headers: list[list[str]] = []
    body: list[list[str]] = []
    for line in lines[start + 1:]:
        if line.startswith("┃"):
            headers.append([c.strip() for c in line.split("┃")[1:-1]])
        elif line.startswith("│"):
            body.append([c.strip() for c in line.split("│")[1:-1]])
        elif line.startswith("└"):
            break
    assert headers and body, f"no table under {title!r}:\n{text}"
    names = [" ".join(part for part in column if part) for column in zip(*headers, strict=True)]
    return names, body


def column(names: list[str], wanted: str) -> int:
    assert wanted in names, f"no column {wanted!r} among {names}"
    return names.index(wanted)


def local_number(cell: str) -> str:
    """The number in a local-gradient cell; also read in the form "formula = number" and
    "— (why)", so that this test judges where the numbers are, not how they are written."""
    if cell.startswith("—"):
        return "—"
    return cell.rsplit("= ", 1)[-1]


def check_backward_pairs(text: str, doc: dict) -> None:
    names, body = table_block(text, "Backward pass")
    fname = doc["output"]
    gate_at, input_at = column(names, "gate"), column(names, "input")
    local_at, down_at = column(names, "local gradient"), column(names, "downstream")
    upstream_at = column(names, f"upstream ∂{fname}/∂gate")
    by_label = {gate_label(g): g for g in doc["gates"]}
    by_id = {g["id"]: g for g in doc["gates"]}
    seen: dict[int, int] = {}  # gate id -> the wires found on its lines
    gate = None
    for cells in body:
        if cells[gate_at]:
            gate = by_label[cells[gate_at]]
            seen[gate["id"]] = 0
            upstream = "—" if gate["op"] == "const" else shown(gate["grad"])
            assert cells[upstream_at] == upstream, cells
        if not cells[input_at]:
            # (a wrapped text cell's second line, or a gate without inputs): no wire numbers
            assert not cells[local_at] and not cells[down_at], cells
            continue
        assert gate is not None, cells
        k = seen[gate["id"]]
        assert k < len(gate["inputs"]), f"{gate_label(gate)} has {k + 1} wires? {cells}"
        assert wire_label_matches(cells[input_at], by_id[gate["inputs"][k]]), (cells, k)
        assert local_number(cells[local_at]) == shown(gate["local"][k]), (gate_label(gate), k,
                                                                           cells)
        assert cells[down_at] == shown(gate["downstream"][k]), (gate_label(gate), k, cells)
        seen[gate["id"]] = k + 1
    assert seen == {g["id"]: len(g["inputs"]) for g in doc["gates"]}


def check_node_numbers(text: str, title: str, key_header: str, number_header: str,
                       expected: dict[str, str]) -> None:
    names, body = table_block(text, title)
    key_at, number_at = column(names, key_header), column(names, number_header)
    found = {cells[key_at]: cells[number_at] for cells in body if cells[key_at]}
    assert found == expected


@pytest.mark.parametrize("columns", WIDTHS)
@pytest.mark.parametrize("circuit", [SEED, SIGMOID], ids=["staged", "staged_sigmoid"])
def test_each_input_wire_sits_beside_its_own_numbers(circuit, columns):
    doc = backward_json(circuit)
    text = render("backward", circuit, columns=columns)
    check_backward_pairs(text, doc)
    assert "…" not in text  # (these circuits' sources are short: nothing at all is cut)
    assert max(len(line) for line in text.splitlines()) <= columns


@pytest.mark.parametrize("columns", WIDTHS)
@pytest.mark.parametrize("circuit", [SEED, SIGMOID], ids=["staged", "staged_sigmoid"])
def test_forward_and_gradient_tables_keep_numbers_whole(circuit, columns):
    doc = backward_json(circuit)
    text = render("backward", circuit, columns=columns)
    check_node_numbers(text, "Forward pass", "gate", "value",
                       {gate_label(g): shown(g["value"]) for g in doc["gates"]})
    named = {gate_label(g): shown(g["grad"]) for g in doc["gates"]
             if g["name"] is not None}
    check_node_numbers(text, f"Gradients of {doc['output']}", "node",
                       f"∂{doc['output']}/∂node", named)


@pytest.mark.parametrize("columns", WIDTHS)
def test_with_check_torch_the_pairs_hold_too(columns):
    import torch  # noqa: F401  (the test extra installs it: never skipped)

    doc = backward_json(SIGMOID)
    text = render("backward", SIGMOID, "--check-torch", columns=columns)
    check_backward_pairs(text, doc)
    assert not CUT_NUMBER.search(text)


def test_at_120_columns_nothing_is_left_out_and_formulas_show():
    text = render("backward", SIGMOID, columns=120)
    names, body = table_block(text, "Backward pass")
    assert names == ["#", "gate", "op", "value", "upstream ∂f/∂gate", "input", "local gradient",
                     "downstream", "formula"]
    sigx = next(cells for cells in body if cells[1] == "sigx")
    # f = num/den at x = 3, y = -4: num = 3 + σ(-4), den = σ(3) + 1; ∂f/∂sigx = -num/den²,
    # and sigx sends it times σ'(3) = σ(3)(1 - σ(3)) down to x
    def sigma(v: float) -> float:
        return 1 / (1 + math.exp(-v))

    num, den = 3 + sigma(-4), sigma(3) + 1
    local = sigma(3) * (1 - sigma(3))
    assert sigx[4:] == [shown(-num / den**2), "x", shown(local), shown(-num / den**2 * local),
                        "sigx * (1 - sigx)"]  # sigmoid's rule: out * (1 - out)
    assert "not shown at this width" not in text


def test_a_narrow_table_says_which_columns_it_left_out():
    text = render("backward", SIGMOID, columns=60)
    assert "(not shown at this width: #, op, value, formula)" in text


@pytest.mark.parametrize("columns", [30, 40, 50])
def test_narrower_still_the_rows_become_records_with_whole_numbers(columns):
    doc = backward_json(SIGMOID)
    text = render("backward", SIGMOID, columns=columns)
    assert not CUT_NUMBER.search(text)
    flat = " ".join(text.split())  # (a record continues on the next line without its "; ")
    for g in doc["gates"]:
        for local, down in zip(g["local"], g["downstream"], strict=True):
            local_, down_ = re.escape(shown(local)), re.escape(shown(down))
            pair = rf"local gradient: {local_};? downstream: {down_}"
            assert re.search(pair, flat), (g, flat)


def test_every_width_from_narrow_to_wide_fits_and_cuts_nothing():
    from rich.console import Console

    from circuit_backprop.core import engine
    from circuit_backprop.lang.parse import parse
    from circuit_backprop.views import report

    graph = parse(SIGMOID.read_text(encoding="utf-8"))
    trace = engine.backward(engine.run(graph, {"x": 3.0, "y": -4.0}))
    for width in range(24, 141):
        out = io.StringIO()
        console = Console(file=out, width=width, color_system=None)
        for renderable in report.backward_view(trace, 6):
            console.print(renderable)
        text = out.getvalue()
        assert not CUT_NUMBER.search(text), (width, text)
        assert max(len(line) for line in text.splitlines()) <= width, (width, text)


# --- the output's own name -----------------------------------------------------------------------


def test_the_gradient_table_uses_the_output_s_name(proc):
    out = proc("backward", "loss = (x - 1)^2 * y", "--x", "3", "--y", "2")
    assert out.exit_code == 0, out.stderr
    assert "the output: ∂loss/∂loss = 1" in out.stdout
    assert "∂f" not in out.stdout
    # ∂loss/∂x = 2(x - 1)y = 8, ∂loss/∂y = (x - 1)^2 = 4
    assert "∇loss = [∂loss/∂x, ∂loss/∂y] = [8, 4]" in out.stdout
    names, _ = table_block(out.stdout, "Backward pass")
    assert "upstream ∂loss/∂gate" in names


# --- the numeric check's summary, in the terms of its pass rule ----------------------------------


def summary_line(stdout: str) -> str:
    return next(line for line in stdout.splitlines() if "numeric gradients" in line)


def expected_worst(check: dict, labels: dict[int, str]) -> tuple[str, float, float]:
    """(label, |analytic - numeric|, that as a multiple of atol + rtol·|numeric|), worst ratio."""
    rows = []
    for n in check["nodes"]:
        if n["status"] in ("ok", "mismatch") and n["numeric"] is not None:
            diff = abs(n["analytic"] - n["numeric"])
            rows.append((diff / (check["atol"] + check["rtol"] * abs(n["numeric"])), diff,
                         labels[n["id"]]))
    ratio, diff, label = max(rows, key=lambda row: row[0])  # (the first, on a tie)
    return label, diff, ratio


@pytest.mark.parametrize(
    ("program", "values", "zero"),
    [
        # ∂f/∂x = cos(π/2)·y: 6.1e-17 analytically (cos of the float π/2), 0 numerically
        ("f = sin(x) * y", {"x": math.pi / 2, "y": 1.0}, "numeric"),
        # ∂f/∂x = 2x - 2y = 0 exactly at x = y; the central difference is a rounding -6.9e-12
        ("f = x^2 - 2*x*y + y^2", {"x": 0.3, "y": 0.3}, "analytic"),
    ],
)
def test_a_pass_near_zero_does_not_read_as_a_failure(proc, program, values, zero):
    args = [a for k, v in values.items() for a in (f"--{k}", repr(v))]
    doc = json.loads(proc("backward", program, *args, "--check-numeric", "--json").stdout)
    check = doc["numeric"]
    x = next(n for n in check["nodes"] if n["id"] == doc["gates"][0]["id"])
    assert x[zero] == 0.0 and x["analytic"] != x["numeric"]
    assert x["rel_error"] == 1.0  # (what the summary used to report for this pass)
    if zero == "numeric":
        assert x["analytic"] == pytest.approx(math.cos(math.pi / 2), abs=1e-30)
    out = proc("backward", program, *args, "--check-numeric")
    assert out.exit_code == 0, out.stderr
    labels = {g["id"]: gate_label(g) for g in doc["gates"]}
    label, diff, ratio = expected_worst(check, labels)
    assert ratio <= 1
    assert summary_line(out.stdout) == (
        f"✓ numeric gradients agree on {len(check['nodes'])} nodes (worst: {label}, "
        f"|analytic - numeric| = {diff:.3g} = {ratio:.3g} × (atol + rtol·|numeric|))")
    assert "relative error" not in summary_line(out.stdout)
    numeric_table = out.stdout.split("Numeric check")[1]
    x_row = next(line for line in numeric_table.splitlines() if line.startswith("│ x "))
    assert f"✓ |difference| {abs(x['analytic'] - x['numeric']):.3g}: within tolerance" in x_row


def test_a_failure_reports_how_far_past_its_tolerance(run, run_json, monkeypatch):
    from circuit_backprop.core import ops

    # a test-only op whose local gradient is wrong on purpose: 3a instead of 2a
    op = ops.Op(name="sq", symbol="sq", arity=1, value=lambda a: a * a, arithmetic=True,
                grad=("dout * (3 * a)",), text="sq({a})", torch=lambda t, a: a * a,
                torch_text="{a} * {a}", call="sq")
    monkeypatch.setitem(ops.OPS, "sq", op)
    monkeypatch.setitem(ops.FUNCTIONS, "sq", op)
    out = run("backward", "f = sq(x) + y", "--x", "1.5", "--y", "1", "--check-numeric")
    assert out.exit_code == 1
    # analytic 3·1.5 = 4.5, numeric 2·1.5 = 3: 1.5 off, against atol + rtol·3 = 0.00301
    line = summary_line(out.stdout)
    assert line.startswith("✗ numeric gradients disagree on x (worst: x, |analytic - numeric| = ")
    ratio = float(re.search(r"= ([0-9.e+]+) × \(atol", line).group(1))
    assert ratio == pytest.approx(1.5 / (1e-5 + 1e-3 * 3), rel=1e-2)
