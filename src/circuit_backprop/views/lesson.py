"""The HTML lesson (`circuit lesson`): both passes, one step at a time, in one offline page.

The page is a single HTML file with everything inline: the circuit drawn by draw.py (Graphviz
SVG), the CSS, a small script, and the steps as a JSON blob. Every number and every caption in
the blob comes from the engine's `Trace` and from the walkthrough's own strings (`--steps`): the
script only shows and hides them, it never computes a value or a gradient.

The steps:

- the forward pass, stage by stage as `--steps` takes it: the gate lights up, its value appears
  in the table and on its out-wires, the caption shows the arithmetic
  (q = x + 2*y = 3 + 2·(-4) = -5);
- the backward pass, right to left, one wire at a time: the upstream gradient arriving at the
  gate, the local gradient (formula and value), and the product sent down the wire
  (∂f/∂x = ∂f/∂q · ∂q/∂x = 19 · 1 = 19); at a fork, the running sum (∂f/∂x += ...).

In "predict first" mode the learner types a value or a gradient before it is shown. The script
finds the drawing's parts by the titles Graphviz gives them: `n<id>` for a node, `n<a>->n<b>` for
a wire; a wire's value and gradient labels by draw.py's two colours.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from typing import Any

from circuit_backprop.core.arrays import show
from circuit_backprop.core.engine import Trace
from circuit_backprop.core.ops import CONST, INPUT
from circuit_backprop.views import draw, walkthrough
from circuit_backprop.views.numberformat import DRAWING_PRECISION, NumberFormat
from circuit_backprop.views.report import local_formula, symbol, wire_label

TOLERANCE = 1e-3  # "predict first": a guess within this relative error is right
OUT = "out"  # the title Graphviz gives the output's label node (draw.to_dot)


@dataclass
class Step:
    """One press of "next": what lights up, what the caption says, what gets revealed."""

    phase: str  # intro, forward, backward, end
    heading: str
    lines: list[str]
    focus: list[int] = field(default_factory=list)  # the gate this step is about
    also: list[int] = field(default_factory=list)  # other nodes lit with it
    lit_edges: list[str] = field(default_factory=list)  # wire keys "src->dst#occurrence"
    values: list[int] = field(default_factory=list)  # nodes whose values appear
    cells: list[dict[str, Any]] = field(default_factory=list)  # gradient cells: node, text
    grad_edges: list[str] = field(default_factory=list)  # wires whose gradients appear
    grad_done: list[int] = field(default_factory=list)  # nodes whose gradient is complete
    ask: dict[str, Any] | None = None  # predict first: prompt lines, question, answer


def _plain(value: Any) -> Any:
    """A value as JSON: a float, or nested lists of floats."""
    return value.tolist() if hasattr(value, "tolist") else (None if value is None
                                                             else float(value))


def _scalar(value: Any) -> bool:
    return value is not None and getattr(value, "ndim", 0) == 0


class _Wires:
    """The key of each drawn wire, "src->dst#i": the i-th wire from src into dst in the order
    the DOT lists them (by dst, then input slot), which is how the SVG lists them too."""

    def __init__(self, drawing: draw.Drawing) -> None:
        self.keys: dict[tuple[int, int, int], str] = {}
        seen: dict[tuple[int, int], int] = {}
        for w in drawing.wires:
            i = seen.get((w.src, w.dst), 0)
            seen[(w.src, w.dst)] = i + 1
            self.keys[(w.src, w.dst, w.k)] = f"{w.src}->{w.dst}#{i}"

    def into(self, trace: Trace, gate: int) -> list[str]:
        return [self.keys[(i, gate, k)] for k, i in enumerate(trace.graph.args[gate])]


def lesson_steps(trace: Trace, number_format: NumberFormat, wires: _Wires) -> list[Step]:
    """Every step of the lesson, from the engine's trace, in order."""
    graph = trace.graph
    tensor = hasattr(trace, "shapes")
    out = graph.label(graph.output)
    steps = [Step("intro", "Ready", [
        f"This circuit computes {out}. Press Next (→) to run the forward pass, gate by gate, "
        "then the backward pass, from the output back to the inputs."])]

    forward = (walkthrough.tensor_forward_steps if tensor else walkthrough.forward_steps)(
        trace, number_format)
    stages = walkthrough.forward_stage_gates(trace)
    inputs = list(graph.inputs.values())
    total = len(stages) + (1 if inputs else 0)
    count = 0
    if inputs:
        count += 1
        steps.append(Step("forward", f"Forward pass · stage {count} of {total}: the inputs",
                          next(forward).plain.split("\n"), also=inputs, values=inputs))
    for (gate, inside), line in zip(stages, forward, strict=True):
        count += 1
        text = line.plain
        value = trace.values[gate]
        step = Step("forward", f"Forward pass · stage {count} of {total}: {graph.label(gate)}",
                    text.split("\n"), focus=[gate], also=inside, values=[gate, *inside],
                    lit_edges=[k for g in [gate, *inside] for k in wires.into(trace, g)])
        shown = number_format.value(value)
        if _scalar(value) and f"= {shown}" in text:
            head, _, tail = text.rpartition(f"= {shown}")
            step.ask = {"prompt": (head + "= ?").split("\n"),
                        "question": f"{graph.label(gate)} = ?", "answer": float(value),
                        "text": shown}
        steps.append(step)

    steps.append(Step("backward", "Backward pass · the output",
                      [f"start at the output: ∂{out}/∂{out} = 1",
                       "the gradient of the output with respect to itself is 1: it flows back "
                       "from here"],
                      focus=[graph.output], cells=[{"node": graph.output, "text": "1"}],
                      grad_edges=[f"{graph.output}->{OUT}#0"], grad_done=[graph.output]))
    backward = (walkthrough.tensor_backward_steps if tensor else walkthrough.backward_steps)(
        trace, number_format)
    next(backward)  # (the start line: the step above)
    flow = list(walkthrough.gradient_flow(trace))
    for n, ((gate, wire_steps), stage) in enumerate(zip(flow, backward, strict=True), 1):
        heading = f"Backward pass · gate {n} of {len(flow)}: {graph.label(gate)}"
        lines = [line.strip() for line in stage.plain.split("\n")] if not tensor else (
            stage.plain.split("\n"))
        all_wires = wires.into(trace, gate)
        if tensor or not wire_steps:
            steps.append(Step("backward", heading, lines, focus=[gate], lit_edges=all_wires,
                              cells=[_cell(w, number_format) for w in wire_steps],
                              grad_edges=all_wires,
                              grad_done=[w.src for w in wire_steps if w.arrival == w.wires]))
            continue
        constant = [all_wires[k] for k, d in enumerate(trace.downstream(gate)) if d is None]
        notes = [line.strip() for k, line in enumerate(lines[2:]) if trace.downstream(gate)[k]
                 is None]
        for j, w in enumerate(wire_steps):
            steps.append(_wire_step(trace, w, number_format, f"{heading}, wire {j + 1} of "
                                    f"{len(wire_steps)}", lines[:2] + (notes if j == 0 else []),
                                    wires.keys[(w.src, gate, w.k)],
                                    constant if j == 0 else []))

    result = walkthrough.step_lines(trace, number_format)
    tail = [t.plain for t in result[-2:]] if graph.inputs and not tensor else [result[-1].plain]
    steps.append(Step("end", "Done: both passes", tail + [
        "every number in the table is the engine's: the same as `circuit backward`."]))
    return steps


def _cell(w: walkthrough.WireStep, number_format: NumberFormat) -> dict[str, Any]:
    """The gradient cell of the wire's source: ∂f/∂src so far."""
    text = number_format.value(w.total)
    if w.arrival < w.wires:
        text += f"  ({w.arrival} of {w.wires})"
    return {"node": w.src, "text": text}


def _wire_step(trace: Trace, w: walkthrough.WireStep, number_format: NumberFormat,
               heading: str, head: list[str], key: str, constant: list[str]) -> Step:
    """One chain-rule step: the local gradient, and upstream × local sent down the wire."""
    graph = trace.graph
    out = graph.label(graph.output)
    me, src = wire_label(graph, w.gate), wire_label(graph, w.src)
    v = number_format.value
    formula = local_formula(graph, w.gate, w.k)
    local = v(w.local)
    shown = local if formula == local else f"{formula} = {local}"
    product = (f"∂{out}/∂{me} · ∂{me}/∂{src} = {v(trace.grads[w.gate])} · "
               f"{number_format.term(w.local)} = ")
    lines = [*head, f"local gradient: ∂{me}/∂{src} = {shown}"]
    if w.wires > 1:
        sends = f"{src} forks: this is wire {w.arrival} of {w.wires}"
        sends += ", all in" if w.arrival == w.wires else ", more to come"
        chain = f"∂{out}/∂{src} += {product}"
        after = [f"{sends}: ∂{out}/∂{src} so far = {v(w.total)}"]
    else:
        chain = f"∂{out}/∂{src} = {product}"
        after = []
    step = Step("backward", heading, [*lines, chain + v(w.down), *after], focus=[w.gate],
                also=[w.src], lit_edges=[key], cells=[_cell(w, number_format)],
                grad_edges=[key, *constant],
                grad_done=[w.src] if w.arrival == w.wires else [])
    if _scalar(w.down):
        step.ask = {"prompt": [*lines, chain + "?"],
                    "question": f"what {me} sends down to {src}: ∂{out}/∂{src}"
                                + (" (this wire's share)" if w.wires > 1 else "") + " = ?",
                    "answer": float(w.down), "text": v(w.down)}
    return step


def _rows(trace: Trace, number_format: NumberFormat) -> list[dict[str, Any]]:
    """The table: every input and gate (constants have no row), with the engine's numbers."""
    graph = trace.graph
    shapes = getattr(trace, "shapes", None)
    rows = []
    for node in range(len(graph)):
        if graph.ops[node] == CONST:
            continue
        grad = trace.grads[node] if trace.depends[node] else None
        rows.append({
            "node": node, "label": graph.label(node),
            # (an unnamed gate by what it computes: an internal #id means nothing to a student)
            "shown": graph.names[node] or graph.source(node, 24),
            "kind": "input" if graph.ops[node] == INPUT else "gate",
            "op": symbol(graph, node), "source": graph.source(node),
            "shape": show(shapes[node]) if shapes is not None and shapes[node] else None,
            "value": _plain(trace.values[node]), "value_text": number_format.value(
                trace.values[node]),
            "grad": _plain(grad), "grad_text": number_format.value(grad),
        })
    return rows


def lesson_data(trace: Trace, number_format: NumberFormat, drawing: draw.Drawing,
                title: str, predict: bool = False) -> dict[str, Any]:
    """The JSON blob the page steps through."""
    graph = trace.graph
    steps = lesson_steps(trace, number_format, _Wires(drawing))
    rows = _rows(trace, number_format)
    reached = {cell["node"] for step in steps for cell in step.cells}
    steps[-1].cells = [{"node": row["node"], "text": row["grad_text"]} for row in rows
                       if row["grad"] is not None and row["node"] not in reached]
    return {
        "title": title, "output": graph.label(graph.output), "predict": predict,
        "tolerance": TOLERANCE, "tensor": hasattr(trace, "shapes"),
        "colors": {"value": draw.DOT_VALUE_COLOR.lower(), "grad": draw.DOT_GRAD_COLOR.lower()},
        "constants": [n for n in range(len(graph)) if graph.ops[n] == CONST],
        "rows": rows,
        "steps": [step.__dict__ for step in steps],
    }


def inline_svg(svg: str) -> str:
    """Graphviz's SVG file as an element inside HTML: no XML prolog, DOCTYPE or comments, no
    namespace URLs (the HTML parser knows <svg>), and it scales to its box."""
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<!--.*?-->\n?", "", svg, flags=re.S)
    svg = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg)
    size = re.search(r'<svg width="([\d.]+)pt" height="[^"]*"', svg)
    most = f' style="max-width: {float(size.group(1)) * 1.6:.0f}px"' if size else ""
    return re.sub(r'<svg width="[^"]*" height="[^"]*"', f'<svg class="circuit"{most}', svg,
                  count=1)


def build(trace: Trace, number_format: NumberFormat, title: str, predict: bool = False,
          limit: int = draw.MAX_NODES) -> str:
    """The lesson as one self-contained HTML page."""
    drawing = draw.select(trace, None, None, limit)
    svg = draw.render(draw.to_dot(drawing, draw.wire_format(trace, NumberFormat(
        min(DRAWING_PRECISION, number_format.precision)))), "svg", None).decode()
    data = lesson_data(trace, number_format, drawing, title, predict)
    blob = json.dumps(data, ensure_ascii=False, allow_nan=False).replace("</", "<\\/")
    return (TEMPLATE.replace("__TITLE__", html.escape(title))
            .replace("__PREDICT__", " checked" if predict else "")
            .replace("__SVG__", inline_svg(svg))
            .replace("__DATA__", blob))


def data_of(page: str) -> dict[str, Any]:
    """The JSON blob inside a lesson page (for tests and tools)."""
    start = page.index('<script id="lesson-data" type="application/json">')
    start = page.index(">", start) + 1
    return json.loads(page[start:page.index("</script>", start)])


TEMPLATE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>
  :root { --value: #1a7f37; --grad: #cf222e; --lit: #f59e0b; --ink: #1f2328; --muted: #59636e; }
  * { box-sizing: border-box; }
  body { margin: 0; padding: 16px 20px; font: 15px/1.45 system-ui, -apple-system, "Segoe UI",
         Helvetica, Arial, sans-serif; color: var(--ink); background: #fafafa; }
  h1 { font-size: 20px; margin: 0 0 10px; }
  .bar { display: flex; flex-wrap: wrap; align-items: center; gap: 8px; margin-bottom: 10px; }
  button { font: inherit; padding: 5px 14px; border: 1px solid #b8bfc7; border-radius: 6px;
           background: white; cursor: pointer; }
  button:hover:not(:disabled) { background: #f0f3f6; }
  button:disabled { opacity: 0.45; cursor: default; }
  button.primary { background: #1f6feb; border-color: #1f6feb; color: white; }
  button.primary:hover:not(:disabled) { background: #1a5fd0; }
  #counter { color: var(--muted); margin-left: 6px; min-width: 7em; }
  #score { font-weight: 600; }
  label.toggle { margin-left: 12px; user-select: none; }
  .keys { color: var(--muted); font-size: 13px; margin-left: auto; }
  #caption-box { background: white; border: 1px solid #d8dee4; border-left: 5px solid #8c959f;
                 border-radius: 6px; padding: 10px 14px; min-height: 9em; }
  #caption-box.forward { border-left-color: var(--value); }
  #caption-box.backward { border-left-color: var(--grad); }
  #heading { font-weight: 600; margin-bottom: 4px; }
  #caption { margin: 0; font: 15px/1.5 "DejaVu Sans Mono", Menlo, Consolas, monospace;
             white-space: pre-wrap; }
  #caption .line { display: block; }
  #caption .line:last-child { font-weight: bold; }
  .forward #caption .line:last-child { color: var(--value); }
  .backward #caption .line:last-child { color: var(--grad); }
  #ask { margin-top: 8px; }
  #ask input { font: 15px monospace; width: 12em; padding: 4px 6px; }
  #feedback { margin-top: 6px; font-weight: 600; }
  #feedback.right { color: var(--value); }
  #feedback.wrong { color: var(--grad); }
  main { display: flex; gap: 16px; align-items: flex-start; }
  #diagram { background: white; border: 1px solid #d8dee4; border-radius: 6px; padding: 6px;
             margin-bottom: 12px; overflow: auto; }
  svg.circuit { width: 100%; height: auto; max-height: 58vh; display: block; margin: auto; }
  #caption-box { flex: 3 1 0; min-width: 0; }
  #side { flex: 2 1 0; min-width: 300px; }
  table { border-collapse: collapse; width: 100%; background: white; font-size: 14px; }
  th, td { border: 1px solid #d8dee4; padding: 3px 7px; text-align: left; vertical-align: top; }
  th { background: #f0f3f6; }
  td.num { text-align: right; font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace;
           white-space: pre; }
  td.value { color: var(--value); }
  td.grad { color: var(--grad); }
  td .src { color: var(--muted); font-size: 12px; }
  td:first-child { white-space: nowrap; }
  tr.lit td { background: #fff4d6; }
  td.fresh { outline: 2px solid var(--lit); outline-offset: -2px; }
  .legend { color: var(--muted); font-size: 13px; margin-top: 6px; }
  /* the drawing: labels hidden until their step, the current gate and wire lit */
  .hidden-label { visibility: hidden; }
  g.node > path, g.node > ellipse, g.node > polygon { transition: stroke-width 0.2s; }
  g.node.done-forward > ellipse, g.node.done-forward > path, g.node.done-forward > polygon {
    stroke: var(--value); stroke-width: 2px; }
  g.node.done-backward > ellipse, g.node.done-backward > path, g.node.done-backward > polygon {
    stroke: var(--grad); stroke-width: 2px; }
  g.node.lit > ellipse, g.node.lit > path, g.node.lit > polygon {
    stroke: var(--lit); stroke-width: 5px; }
  g.node.also > ellipse, g.node.also > path, g.node.also > polygon {
    stroke: var(--lit); stroke-width: 3px; stroke-dasharray: 4 2; }
  g.edge.lit > path { stroke: var(--lit); stroke-width: 4px; }
  g.edge.lit > polygon { stroke: var(--lit); fill: var(--lit); }
  g.edge.lit text { font-weight: bold; }
</style>
</head>
<body>
<h1>__TITLE__</h1>
<div class="bar">
  <button id="restart" title="Back to the start">Restart</button>
  <button id="prev" title="Previous step (←)">◀ Previous</button>
  <button id="play" title="Play or pause (space)">▶ Play</button>
  <button id="next" class="primary" title="Next step (→)">Next ▶</button>
  <span id="counter"></span>
  <label class="toggle"><input type="checkbox" id="predict"__PREDICT__> Predict first</label>
  <span id="score"></span>
  <span class="keys">keys: → next, ← previous, space play/pause</span>
</div>
<div id="diagram">
__SVG__
</div>
<main>
<div id="caption-box">
  <div id="heading"></div>
  <pre id="caption"></pre>
  <div id="ask" hidden>
    <label><span id="question"></span> <input id="guess" autocomplete="off"
      placeholder="type a number"></label>
    <button id="check">Check</button>
    <button id="reveal" title="Show the answer (counts as not right)">Show me</button>
  </div>
  <div id="feedback"></div>
</div>
  <div id="side">
    <table id="table">
      <thead><tr><th>node</th><th>value</th><th>∂out/∂node</th></tr></thead>
      <tbody></tbody>
    </table>
    <div class="legend">Values (green) appear as the forward pass reaches them; gradients
      (red) as the backward pass sends them down the wires. Where a wire forks, its
      gradient is the sum of what comes back along each branch: "(2 of 3)" is its sum so far,
      with 2 of its 3 wires in.</div>
  </div>
</main>
<script id="lesson-data" type="application/json">__DATA__</script>
<script>
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("lesson-data").textContent);
  const steps = data.steps;
  const $ = (id) => document.getElementById(id);
  let at = 0;
  let timer = null;
  const answers = {};  // step index -> {guess, right}

  // --- the drawing's parts, found by their Graphviz titles ---
  const nodes = {};  // node id -> <g class="node">
  const edges = {};  // "src->dst#i" -> <g class="edge">
  const valueLabels = [];  // [src, <text>]
  const gradLabels = [];  // [edge key, <text>]
  const sumLabels = [];  // [node id, <text>]: the Σ of a fork's gradients
  const colour = (t) => (t.getAttribute("fill") || "").toLowerCase();
  document.querySelectorAll("#diagram g.node").forEach((g) => {
    const m = /^n(\d+)$/.exec(g.querySelector("title").textContent.trim());
    if (!m) return;
    nodes[m[1]] = g;
    g.querySelectorAll("text").forEach((t) => {
      if (colour(t) === data.colors.grad) sumLabels.push([m[1], t]);
    });
  });
  const seen = {};
  document.querySelectorAll("#diagram g.edge").forEach((g) => {
    const m = /^n(\d+)->n?(\w+)$/.exec(g.querySelector("title").textContent.trim());
    if (!m) return;
    const pair = m[1] + "->" + m[2];
    const key = pair + "#" + (seen[pair] || 0);
    seen[pair] = (seen[pair] || 0) + 1;
    edges[key] = g;
    g.querySelectorAll("text").forEach((t) => {
      if (colour(t) === data.colors.value) valueLabels.push([m[1], t]);
      else if (colour(t) === data.colors.grad) gradLabels.push([key, t]);
    });
    // (the short line that ties a wire's label to it: hidden while its numbers are)
    g.querySelectorAll("polyline").forEach((t) => valueLabels.push([m[1], t]));
  });

  // --- the table ---
  const cells = {};  // node id -> {row, value, grad}
  const tbody = document.querySelector("#table tbody");
  document.querySelector("#table th:nth-child(3)").textContent =
    "∂" + data.output + "/∂node";
  data.rows.forEach((r) => {
    const tr = document.createElement("tr");
    const name = document.createElement("td");
    name.textContent = r.shown + " ";
    const src = document.createElement("span");
    src.className = "src";
    const shape = r.shape ? "  shape " + r.shape : "";
    src.textContent = (r.kind === "input" ? "input" : r.shown === r.source ? "" : r.source)
      + shape;
    name.appendChild(src);
    const value = document.createElement("td");
    value.className = "num value";
    const grad = document.createElement("td");
    grad.className = "num grad";
    tr.append(name, value, grad);
    tr.dataset.node = r.node;
    tbody.appendChild(tr);
    cells[r.node] = { row: tr, value: value, grad: grad, text: r.value_text };
  });

  // --- predict first ---
  const predicting = () => $("predict").checked;
  const pending = (i) => predicting() && steps[i].ask && !(i in answers);
  const asked = () => steps.filter((s) => s.ask).length;
  function score() {
    const done = Object.values(answers);
    return { right: done.filter((a) => a.right).length, answered: done.length };
  }
  function check(reveal) {
    const step = steps[at];
    if (!pending(at)) return;
    const text = $("guess").value.trim();
    const guess = Number(text);
    if (!reveal && (text === "" || !Number.isFinite(guess))) {
      $("feedback").className = "wrong";
      $("feedback").textContent = "Type a number (like -5 or 0.25), or press Show me.";
      $("guess").focus();
      return;
    }
    const a = step.ask.answer;
    const right = !reveal && Math.abs(guess - a) <= data.tolerance * Math.abs(a) + 1e-12;
    answers[at] = { guess: reveal ? null : text, right: right };
    render();
  }

  // --- showing step `at`: everything up to it, from the blob ---
  function render() {
    const step = steps[at];
    const hold = pending(at);  // the answer of this step stays hidden until predicted
    const values = new Set(data.constants.map(String));
    const grads = {}, gradEdges = new Set(), done = new Set();
    const fwd = new Set(), bwd = new Set();
    const fresh = new Set();
    for (let i = 0; i <= at; i++) {
      if (i === at && hold) break;
      const s = steps[i];
      s.values.forEach((n) => { values.add(String(n)); fwd.add(String(n));
                                if (i === at) fresh.add(n + ":value"); });
      s.cells.forEach((c) => {
        grads[c.node] = c.text;
        if (i === at) fresh.add(c.node + ":grad");
      });
      s.grad_edges.forEach((k) => gradEdges.add(k));
      s.grad_done.forEach((n) => { done.add(String(n)); bwd.add(String(n)); });
      if (s.phase === "backward") s.focus.forEach((n) => bwd.add(String(n)));
    }
    for (const [n, c] of Object.entries(cells)) {
      c.value.textContent = values.has(n) ? c.text : "";
      c.grad.textContent = grads[n] || "";
      c.value.classList.toggle("fresh", fresh.has(n + ":value"));
      c.grad.classList.toggle("fresh", fresh.has(n + ":grad"));
      c.row.classList.toggle("lit", step.focus.includes(Number(n)));
    }
    valueLabels.forEach(([n, t]) => t.classList.toggle("hidden-label", !values.has(n)));
    gradLabels.forEach(([k, t]) => t.classList.toggle("hidden-label", !gradEdges.has(k)));
    sumLabels.forEach(([n, t]) => t.classList.toggle("hidden-label", !done.has(n)));
    for (const [n, g] of Object.entries(nodes)) {
      g.classList.toggle("lit", step.focus.includes(Number(n)));
      g.classList.toggle("also", step.also.includes(Number(n)));
      g.classList.toggle("done-forward", fwd.has(n) && !bwd.has(n));
      g.classList.toggle("done-backward", bwd.has(n));
    }
    for (const [k, g] of Object.entries(edges)) {
      g.classList.toggle("lit", step.lit_edges.includes(k));
    }

    // the caption
    $("caption-box").className = step.phase;
    $("heading").textContent = step.heading;
    const lines = hold ? step.ask.prompt : step.lines;
    const caption = $("caption");
    caption.textContent = "";
    lines.forEach((l) => {
      const span = document.createElement("span");
      span.className = "line";
      span.textContent = l;
      caption.appendChild(span);
    });
    $("ask").hidden = !hold;
    const fb = $("feedback");
    fb.className = "";
    fb.textContent = "";
    if (hold) {
      $("question").textContent = "Predict: " + step.ask.question;
      $("guess").value = "";
      setTimeout(() => $("guess").focus(), 0);
    } else if (at in answers && step.ask) {
      const a = answers[at];
      fb.className = a.right ? "right" : "wrong";
      fb.textContent = a.right ? "Right! It is " + step.ask.text + "."
        : (a.guess === null ? "The answer is " + step.ask.text + "."
           : "Not quite: you said " + a.guess + ", it is " + step.ask.text + ".");
    }
    if (step.phase === "end" && Object.keys(answers).length) {
      const s = score();
      fb.className = "right";
      fb.textContent = "You predicted " + s.right + " of " + asked() + " right.";
    }
    const s = score();
    $("score").textContent = predicting() || s.answered
      ? "Right: " + s.right + " of " + s.answered + " answered" : "";
    $("counter").textContent = "step " + (at + 1) + " of " + steps.length;
    $("prev").disabled = at === 0;
    $("restart").disabled = at === 0;
    $("next").disabled = at === steps.length - 1;
    $("play").textContent = timer ? "⏸ Pause" : "▶ Play";
  }

  function go(i) {
    at = Math.max(0, Math.min(steps.length - 1, i));
    render();
  }
  function next() {
    if (pending(at)) {  // predict first: the guess, if one is typed, is the way on
      if ($("guess").value.trim()) check(false);
      else { $("guess").focus(); stop(); }
      return;
    }
    if (at < steps.length - 1) go(at + 1);
    if (at === steps.length - 1 || pending(at)) stop();
  }
  function stop() {
    if (timer) clearInterval(timer);
    timer = null;
    render();
  }
  function play() {
    if (timer) { stop(); return; }
    if (at === steps.length - 1) go(0);
    timer = setInterval(next, 1600);
    render();
  }
  $("next").addEventListener("click", next);
  $("prev").addEventListener("click", () => { stop(); go(at - 1); });
  $("restart").addEventListener("click", () => { stop(); go(0); });
  $("play").addEventListener("click", play);
  $("check").addEventListener("click", () => check(false));
  $("reveal").addEventListener("click", () => check(true));
  $("predict").addEventListener("change", render);
  $("guess").addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); check(false); }
  });
  document.addEventListener("keydown", (e) => {
    if (e.target instanceof HTMLInputElement && e.target.type !== "checkbox") return;
    if (e.key === "ArrowRight") { e.preventDefault(); next(); }
    else if (e.key === "ArrowLeft") { e.preventDefault(); stop(); go(at - 1); }
    else if (e.key === " ") { e.preventDefault(); play(); }
  });
  render();
})();
</script>
</body>
</html>
"""
