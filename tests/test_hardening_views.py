"""Issue 14, the views' rows: `circuit torch` on defs, `circuit plot` outside its range, `--all`.

Each test reproduces a row of the issue and checks the numbers against ones computed another way
(autograd in a separate process, the engine's JSON, the API's gate records).
"""

from __future__ import annotations

import json
import math
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
    ("def k(a) = 5; f = sum(k(x) * x)", ["--x", "[1, 2, 3]"]),  # a number, over an array
    ("def k(a) = sum(a * a); def first(a, b) = a; f = k(x) * first(2, x)",
     ["--x", "[1, -2, 3]"]),  # an array parameter left out
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


# --- circuit plot: a range that does not contain the point, and other edge cases ---------------


def _plot_json(run, source: str, *args: str) -> dict:
    out = run("plot", source, "--wrt", "x", *args, "--json")
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout, parse_constant=lambda name: pytest.fail(f"{name} in JSON"))


def _grid(stdout: str, height: int = 18) -> list[str]:
    """The plot's rows, each the characters right of the y-axis's │."""
    return [line.split("│", 1)[1] for line in stdout.splitlines()[:height]]


def test_plot_of_a_range_without_the_point_draws_the_range_and_says_where_it_is(run) -> None:
    out = run("plot", "x*x", "--x", "3", "--wrt", "x", "--range", "0:1")
    assert out.exit_code == 0, out.output
    rows = _grid(out.stdout)
    assert "●" not in out.stdout.split("\n• ")[0]  # not drawn: it is not in the range
    assert [r.rstrip()[-1:] for r in rows].count("→") == 1  # an arrow at the right edge
    assert rows[0].rstrip().endswith("→")  # f(3) = 9 is above the curve's values too
    assert sum(r.count("•") for r in rows) > 50
    assert "(3, 9): outside the range plotted (x from 0 to 1), to its right" in out.stdout
    assert "slope ∂f/∂x = 6" in out.stdout
    data = _plot_json(run, "x*x", "--x", "3", "--range", "0:1", "--points", "5")
    assert data["xs"] == [0, 0.25, 0.5, 0.75, 1]
    assert data["ys"] == [pytest.approx(x * x) for x in data["xs"]]
    assert data["tangent"] == [pytest.approx(9 + 6 * (x - 3)) for x in data["xs"]]


def test_plot_arrow_is_level_with_the_point_on_the_side_it_is() -> None:
    from circuit_backprop.core import engine
    from circuit_backprop.lang.parse import parse
    from circuit_backprop.views import plot

    graph = parse("f = x*x")
    data = plot.sample(engine.run(graph, {"x": -0.5}), "x", 0.0, 1.0, points=101)
    assert data.side == "left"
    rows = [line.plain.split("│", 1)[1] for line in plot.text_lines(data)[:18]]
    # the axis: the curve's 0..1 and 5% either side; f(-0.5) = 0.25 on the row it falls on
    ylo, yhi = -0.05, 1.05
    level = round((yhi - 0.25) / (yhi - ylo) * 17)
    assert [k for k, r in enumerate(rows) if r.startswith("←")] == [level]


@pytest.mark.parametrize(("range_text", "message"), [
    ("1:1", "its two ends are the same number"),
    ("2:1", "the smaller end comes first"),
    ("nan:1", "finite numbers"),
    ("0:inf", "finite numbers"),
])
def test_plot_of_an_empty_or_reversed_range_is_a_usage_error(run, range_text, message) -> None:
    out = run("plot", "x*x", "--x", "3", "--wrt", "x", "--range", range_text)
    assert out.exit_code == 2, out.output
    assert message in out.stderr and "Traceback" not in out.output


def test_plot_sample_refuses_a_reversed_range_too() -> None:
    from circuit_backprop.core import engine
    from circuit_backprop.errors import UsageError
    from circuit_backprop.lang.parse import parse
    from circuit_backprop.views import plot

    trace = engine.run(parse("f = x*x"), {"x": 1.0})
    with pytest.raises(UsageError, match="smaller end comes first"):
        plot.sample(trace, "x", 2.0, 1.0)


def test_plot_json_starts_with_the_schema_as_every_json_document_does(run) -> None:
    data = _plot_json(run, "x*x*y", "--x", "3", "--y", "2", "--range", "0:2", "--points", "3")
    assert list(data)[0] == "schema" and data["schema"] == 1
    assert data["wrt"] == "x" and data["output"] == "f" and data["fixed"] == {"y": 2.0}
    assert (data["x0"], data["y0"], data["slope"]) == (3.0, 18.0, 12.0)  # f = 2x², f' = 4x
    assert data["xs"] == [0.0, 1.0, 2.0] and data["ys"] == [0.0, 2.0, 8.0]
    assert data["tangent"] == [-18.0, -6.0, 6.0] and data["skipped"] == 0  # 18 + 12(x - 3)
    error = run("plot", "x*x", "--x", "3", "--wrt", "x", "--range", "2:1", "--json")
    assert error.exit_code == 2 and list(json.loads(error.stdout))[0] == "schema"


def test_plot_of_log_across_zero_skips_the_points_where_it_is_undefined(run) -> None:
    data = _plot_json(run, "log(x)", "--x", "1", "--range", "-1:2", "--points", "31")
    undefined = [x for x in data["xs"] if x <= 0]
    assert data["skipped"] == len(undefined) == 11
    assert data["ys"] == [None] * 11 + [pytest.approx(math.log(x)) for x in data["xs"][11:]]
    out = run("plot", "log(x)", "--x", "1", "--wrt", "x", "--range", "-2:-1")
    assert out.exit_code == 0, out.output
    assert "all 201 points skipped: f is undefined there" in out.stdout
    assert "to its right" in out.stdout


def test_plot_of_a_constant_puts_every_point_on_one_row(run) -> None:
    out = run("plot", "input x = 2\nf = 0*x + 20", "--wrt", "x")
    assert out.exit_code == 0, out.output
    rows = _grid(out.stdout)
    curve = [k for k, r in enumerate(rows) if "•" in r or "●" in r]
    assert len(curve) == 1 and "●" in rows[curve[0]]
    assert out.stdout.splitlines()[curve[0]].lstrip().startswith("20 │")


@pytest.mark.parametrize(("source", "args"), [
    ("x*x", ["--x", "3", "--range", "-1e308:1e308"]),  # the range's width is beyond float64
    ("x*1e300", ["--x", "1", "--range", "-1e8:1e8"]),  # values near float64's largest
    ("x", ["--x", "1e308"]),  # the default range would end at infinity
    ("x*x", ["--x", "1e150", "--range", "-1e308:1e308"]),  # the tangent beyond float64
    ("x*x", ["--x", "3", "--range", "0:1e-300"]),  # a tiny range, the point far outside it
    ("exp(x)", ["--x", "1", "--range", "0:800"]),  # exp overflows in the range
])
def test_plot_of_huge_values_is_a_plot(run, tmp_path, source, args) -> None:
    out = run("plot", source, "--wrt", "x", *args)
    assert out.exit_code == 0, out.output
    assert "tangent at x" in out.stdout
    data = _plot_json(run, source, *args, "--points", "21")
    assert all(math.isfinite(x) for x in data["xs"]) and len(data["xs"]) == 21
    assert data["xs"][0] < data["xs"][-1]
    for x, y in zip(data["xs"], data["ys"], strict=True):
        if y is not None:
            assert y == pytest.approx(eval_plain(source, x), rel=1e-12)
    png = tmp_path / "huge.png"
    assert run("plot", source, "--wrt", "x", *args, "-o", png).exit_code == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


def eval_plain(source: str, x: float) -> float:
    """The few test functions above, in plain Python."""
    return {"x*x": lambda: x * x, "x*1e300": lambda: x * 1e300, "x": lambda: x,
            "exp(x)": lambda: math.exp(x)}[source]()


# --- --all on a large circuit: the tables streamed, a block of rows at a time ------------------


def _wide_program(statements: int, inputs: int = 6, seed: int = 14) -> tuple[str, list[tuple]]:
    """`vK = tanh(a * b + c)` over recent names (so most gates reach the output), and
    f = v_last + relu(a0 - a0) + 2 * v_before (a kink: the note column; a constant wire)."""
    import random

    rng = random.Random(seed)
    lines = [f"input a{i} = {rng.uniform(-1, 1):.3f}" for i in range(inputs)]
    names = [f"a{i}" for i in range(inputs)]
    steps = []
    for k in range(statements):
        a, b, c = (names[max(0, len(names) - 1 - rng.randrange(12))] for _ in range(3))
        lines.append(f"v{k} = tanh({a} * {b} + {c})")
        steps.append((f"v{k}", a, b, c))
        names.append(f"v{k}")
    last, before = steps[-1][0], steps[-2][0]
    lines.append(f"f = {last} + relu(a0 - a0) + 2 * {before}")
    return "\n".join(lines) + "\n", steps


def _by_hand(program: str, steps: list[tuple]) -> tuple[dict[str, float], dict[str, float]]:
    """Every named node's value and ∂f/∂node, by plain Python: forward, then backward."""
    value = {line.split()[1]: float(line.split()[3]) for line in program.splitlines()
             if line.startswith("input ")}
    for name, a, b, c in steps:
        value[name] = math.tanh(value[a] * value[b] + value[c])
    last, before = steps[-1][0], steps[-2][0]
    value["f"] = value[last] + max(0.0, value["a0"] - value["a0"]) + 2 * value[before]
    grad = dict.fromkeys(value, 0.0)
    grad["f"] = 1.0
    grad[last] += 1.0
    grad[before] += 2.0  # (relu(a0 - a0): a0 - a0 is 0 whatever a0 is, so nothing reaches a0)
    for name, a, b, c in reversed(steps):
        pre = grad[name] * (1 - value[name] ** 2)
        grad[a] += pre * value[b]
        grad[b] += pre * value[a]
        grad[c] += pre
    return value, grad


def _render(*args: object, columns: int, color: bool = False) -> str:
    import os

    from tests.conftest import circuit_command

    env = dict(os.environ, COLUMNS=str(columns))
    env.pop("FORCE_COLOR" if not color else "NO_COLOR", None)
    env.update({"FORCE_COLOR": "1"} if color else {"NO_COLOR": "1"})
    p = subprocess.run(circuit_command() + [str(a) for a in args], capture_output=True,
                       text=True, encoding="utf-8", env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    return p.stdout


def _section(text: str, title: str) -> list[str]:
    """The lines of the table (or records) under `title`: the title once, then up to the blank
    line (or the output's line) that ends it."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(title)]
    assert len(starts) == 1, f"{title!r} {len(starts)} times"
    section = []
    for line in lines[starts[0] + 1:]:
        if not line.strip() or line.startswith(("f = ", "Gradients of")):
            break
        section.append(line)
    return section


def _one_layout(head: list[str], body: list[str]) -> None:
    """Every line of the table as wide as the header, its column rules in the same places."""
    def rules(line: str, bar: str) -> list[int]:
        return [i for i, ch in enumerate(line) if ch == bar]

    assert len({len(line) for line in head + body}) == 1
    assert {tuple(rules(line, "│")) for line in body} == {tuple(rules(head[0], "┃"))}


def _table_rows(section: list[str], starts_a_row: list[str]) -> list[dict[str, str]]:
    """The rows of a table: one header (checked), one layout in every block (checked); a line
    with a number in one of `starts_a_row` begins a row, the lines after it (a wrapped text
    cell) add their pieces to its cells; spaces dropped."""
    bottom = max(i for i, line in enumerate(section) if line.startswith("└"))
    assert all(line.startswith("(not shown at this width") for line in section[bottom + 1:2])
    section = section[:bottom + 1]
    head = [line for line in section if line.startswith("┃")]
    body = [line for line in section if line.startswith("│")]
    kinds = "".join(line[0] for line in section)
    assert kinds.startswith("┏" + "┃" * len(head) + "┡") and kinds.endswith("└"), kinds[:9]
    assert set(kinds[2 + len(head):-1]) == {"│"}  # (one header; no edge between blocks)
    _one_layout(head, body)
    parts = [[c.strip() for c in line.split("┃")[1:-1]] for line in head]
    names = [" ".join(p for p in column if p) for column in zip(*parts, strict=True)]
    rows: list[dict[str, str]] = []
    for line in body:
        cells = dict(zip(names, (c.strip() for c in line.split("│")[1:-1]), strict=True))
        if any(cells[name] for name in starts_a_row if name in cells):
            rows.append(cells)
        else:
            for name, piece in cells.items():
                rows[-1][name] += piece
    return [{k: v.replace(" ", "") for k, v in row.items()} for row in rows]


def _record_rows(section: list[str]) -> list[dict[str, str]]:
    """The rows written as records ("header: cell; header: cell", a row continued on lines
    indented four more); spaces dropped."""
    records: list[str] = []
    for line in section:
        if line.startswith("    "):
            records[-1] += "; " + line.strip()
        else:
            records.append(line.strip())
    rows = []
    for record in records:
        pairs = [pair.split(": ", 1) for pair in record.split("; ")]
        rows.append({k.strip(): v.replace(" ", "") for k, v in pairs})
    return rows


def _rows(text: str, title: str, starts_a_row: list[str]) -> tuple[list[dict[str, str]], bool]:
    """The rows under `title`, from its table or its records; and whether it was a table."""
    section = _section(text, title)
    if section and section[0].startswith("┏"):
        return _table_rows(section, starts_a_row), True
    return _record_rows(section), False


def _shown(value: float | None) -> str:
    return "—" if value is None else "0" if value == 0 else f"{value:.6g}"


def _wire_named(cell: str, gate) -> bool:
    """An input wire is named as the tables do: its name, else its source or #id."""
    if gate.name is not None:
        return cell == gate.name
    source = gate.source.replace(" ", "")
    return cell in (source, f"({source})", f"#{gate.id}")


@pytest.fixture(scope="module")
def wide_circuit(tmp_path_factory):
    import circuit_backprop as cb
    from circuit_backprop.views import report

    program, steps = _wide_program(300)
    path = tmp_path_factory.mktemp("wide") / "wide.circ"
    path.write_text(program)
    result = cb.Circuit(program).backward()
    assert len(result.gates) > 3 * report.STREAM_BLOCK  # several blocks in every table
    return path, result, _by_hand(program, steps)


@pytest.mark.parametrize("columns", [60, 80, 120])
def test_all_streams_every_row_from_its_own_gate_in_one_layout(wide_circuit, columns) -> None:
    path, result, (value, grad) = wide_circuit
    gates = result.gates
    text = _render("backward", path, "--all", columns=columns)
    assert max(len(line) for line in text.splitlines()) <= columns
    tables = []

    rows, table = _rows(text, "Forward pass", ["value"])
    tables.append(table)
    assert len(rows) == len(gates)
    noted = [row.get("note") for row, gate in zip(rows, gates, strict=True) if gate.note]
    assert noted == ["reluat0:gradient0(asPyTorch)"]  # (its own row, wrapped or not)
    for row, gate in zip(rows, gates, strict=True):
        assert row["gate"] == gate.label.replace(" ", "") and row["value"] == _shown(gate.value)
        assert row.get("#", str(gate.id)) == str(gate.id)
        assert row.get("note", "") in ("", (gate.note or "").replace(" ", ""))
        if gate.name in value:  # the numbers of plain Python, not the engine's
            assert float(row["value"]) == pytest.approx(value[gate.name], rel=1e-5, abs=1e-9)

    rows, table = _rows(text, "Backward pass", ["upstream ∂f/∂gate", "local gradient"])
    tables.append(table)
    expected = [(gate, k) for gate in reversed(gates) for k in range(max(1, len(gate.inputs)))]
    assert len(rows) == len(expected)
    for row, (gate, k) in zip(rows, expected, strict=True):
        if k == 0:
            assert row["gate"] == gate.label
            upstream = _shown(gate.grad) if gate.op != "const" else "—"
            assert row["upstream ∂f/∂gate"] == upstream, (gate.label, row)
        else:
            assert not row.get("gate") and not row.get("upstream ∂f/∂gate")
        if not gate.inputs:
            assert not (row.get("input") or row.get("local gradient") or row.get("downstream"))
            continue
        assert _wire_named(row["input"], gates[gate.inputs[k]]), (gate.label, k, row)
        assert row["local gradient"] == _shown(gate.local[k]), (gate.label, k, row)
        assert row["downstream"] == _shown(gate.downstream[k]), (gate.label, k, row)

    rows, table = _rows(text, "Gradients of f", ["∂f/∂node"])
    tables.append(table)
    listed = [g for g in gates if g.op == "input"] + [
        g for g in gates if g.name is not None and g.op not in ("input", "const")]
    assert [row["node"] for row in rows] == [g.label for g in listed]
    for row, gate in zip(rows, listed, strict=True):
        assert row["∂f/∂node"] == _shown(gate.grad)
        assert float(row["∂f/∂node"]) == pytest.approx(grad[gate.name], rel=1e-5, abs=1e-9)
    assert text.rstrip().endswith("]") and f"f = {_shown(result.value)}" in text
    # (at 60 columns no layout of the backward table fits these numbers: its rows are records)
    assert tables == ([True, False, True] if columns == 60 else [True, True, True])


def test_all_in_colour_is_the_same_table(wide_circuit) -> None:
    import re

    path, _, _ = wide_circuit
    plain = _render("backward", path, "--all", columns=100)
    coloured = _render("backward", path, "--all", columns=100, color=True)
    assert "\x1b[" in coloured
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == plain


def test_eval_all_streams_the_forward_table(wide_circuit) -> None:
    import circuit_backprop as cb

    path, _, (value, _) = wide_circuit
    result = cb.Circuit(path.read_text()).eval()
    text = _render("eval", path, "--all", columns=80)
    rows, table = _rows(text, "Forward pass", ["value"])
    assert table
    assert [(r["gate"], r["value"]) for r in rows] == [
        (g.label.replace(" ", ""), _shown(g.value)) for g in result.gates]
    assert float(rows[-1]["value"]) == pytest.approx(value["f"], rel=1e-5)
    assert "Backward pass" not in text and text.splitlines()[-1] == f"f = {_shown(value['f'])}"


def test_all_at_a_width_no_table_fits_prints_records(wide_circuit) -> None:
    path, result, _ = wide_circuit
    text = _render("backward", path, "--all", columns=24)
    assert text.startswith("Forward pass (left to")  # (the title, wrapped)
    out = result.gates[-1]
    assert f"value: {_shown(out.value)}" in text and "┃" not in text


def test_streamed_tables_make_their_rows_a_block_at_a_time(wide_circuit) -> None:
    """The view is pieces, each block's rows made only when it is printed."""
    from circuit_backprop.views import report

    _, result, _ = wide_circuit
    table = report.streamed_backward_table(result.trace, report.as_number_format(6))
    made: list[int] = []
    rows_of = table.rows_of
    table.rows_of = lambda k: made.append(k) or rows_of(k)
    pieces = table.pieces()
    assert len(pieces) == table.blocks + 2 and table.blocks > 3
    table.fitted(80)  # (the widths: from the sample blocks only)
    assert len(made) <= report.SAMPLE_BLOCKS
    made.clear()
    from rich.console import Console

    console = Console(width=80, file=__import__("io").StringIO(), color_system=None)
    console.print(pieces[0])
    console.print(pieces[1])
    assert made == [0]


def test_contributions_a_block_at_a_time_are_the_traces() -> None:
    """The gradient table's index gives, for any few nodes, what trace.contributions gives:
    forks, a wire used twice by one gate (x*x), a def with three parameters, constants."""
    import circuit_backprop as cb
    from circuit_backprop.core.graph import summary_nodes
    from circuit_backprop.views import report

    program, _ = _wide_program(120)
    program += "def lin(p, q, r) = p*q + r\ng = lin(v3, v3, a1) * lin(a2, 2, v7) + a2*a2\n"
    program += "output g\n"
    trace = cb.Circuit(program).backward().trace
    shown = summary_nodes(trace.graph)
    index = report.Contributions(trace, shown)
    for lo in range(0, len(shown), 7):
        block = shown[lo:lo + 7]
        assert index.of(block) == trace.contributions(set(block))
    assert any(len(terms) > 2 for terms in index.of(shown).values())


def test_widest_number_is_never_narrower_than_a_number_written() -> None:
    """The width a streamed table gives its number columns, from magnitudes only: at least
    every number's own text, at every precision, never more than the widest possible."""
    import random

    from circuit_backprop.views import report
    from circuit_backprop.views.numberformat import NumberFormat

    rng = random.Random(14)
    for _ in range(2000):
        number_format = NumberFormat(precision=rng.randint(1, 17))
        values = [rng.choice([-1, 1]) * rng.choice([
            rng.random(), 10 ** rng.uniform(-320, 308), float(rng.randint(0, 10**6)),
            9.99999999999999 * 10.0 ** rng.randint(-12, 20), 10.0 ** rng.randint(-7, 17),
            5e-324, 0.0]) for _ in range(rng.randint(1, 6))] + [math.nan]
        widest = max(len(number_format.value(None if v != v else v)) for v in values)
        assert widest <= report.widest_number([values], number_format) <= report.number_width(
            number_format), values
    typical = [rng.uniform(-1, 1) for _ in range(1000)]
    assert report.widest_number([typical], NumberFormat()) == max(
        len(f"{v:.6g}") for v in typical)
