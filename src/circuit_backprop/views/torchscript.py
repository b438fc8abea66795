"""`circuit torch`: the circuit as a standalone PyTorch program, in the seed notebook's style.

Inputs become float64 0-d tensors that require grad, every named statement becomes a statement
of the same name (unnamed gates are written inline, using each op's `torch_text` from the op
registry), every intermediate that requires grad keeps its .grad with retain_grad(), then
`f.backward()` and a print of every .grad. Nothing here imports torch: this only writes text.
"""

from __future__ import annotations

import keyword
from collections.abc import Sequence
from typing import Any

from circuit_backprop.core import notation
from circuit_backprop.core.engine import Trace
from circuit_backprop.core.graph import Graph
from circuit_backprop.core.ops import CONST, INPUT, Op
from circuit_backprop.core.trace import depends_on
from circuit_backprop.version import __version__

ATOM = notation.ATOM  # a name, a call, a literal: never needs parentheses
_RESERVED = {"torch", "print", "None", "True", "False"}


def python_names(graph: Graph, avoid: frozenset[str] = frozenset()) -> dict[int, str]:
    """A Python name for every named node; a name Python reserves, or one in `avoid` (the
    functions a def's body calls: a parameter of that name would hide it), gets a trailing '_'."""
    taken = {name for name in graph.names if name is not None} | avoid
    names: dict[int, str] = {}
    for node, name in enumerate(graph.names):
        if name is None:
            continue
        py = name
        while (keyword.iskeyword(py) or py in _RESERVED or py in avoid
               or (py != name and py in taken)):
            py += "_"
        taken.add(py)
        names[node] = py
    return names


def _shape(op: Op) -> tuple[int, list[int]]:
    """(precedence of the result, least precedence each operand may have unparenthesised), in
    the language's order (core/notation.py), which Python's follows for these operators."""
    template = op.torch_text
    if template.startswith("torch."):
        return ATOM, [0, 0, 0]  # a call's arguments
    if template == "{a}.clone()":
        return ATOM, [ATOM]
    if template == "-{a}":
        return notation.UNARY, [notation.UNARY]
    p = notation.infix_level(op)
    if p is not None and template == op.text and p != notation.POWER:
        return p, [p, p + 1]
    return 0, [ATOM, ATOM, ATOM]  # anything else: parenthesise every operand


def _fresh(name: str, taken: set[str]) -> str:
    while name in taken:
        name += "_"
    return name


def _literal(value: Any) -> str:
    """A number, or an array as nested lists (torch.tensor takes either)."""
    if getattr(value, "ndim", 0):
        return repr(value.tolist())
    return repr(float(value))


Reaches = dict[str, tuple[bool, ...]]
"""A def's name -> for each parameter, whether the def's result is computed from it."""


def _input_masks(graph: Graph, bits: dict[int, int], reaches: Reaches) -> list[int]:
    """Each node's inputs as a bit mask (an input node's bit from `bits`), following what
    autograd follows: a def's call only from the arguments its body uses."""
    masks = [0] * len(graph)
    for node in range(len(graph)):
        kind = graph.ops[node]
        if kind == INPUT:
            masks[node] = bits.get(node, 0)
        elif kind != CONST:
            used = reaches.get(kind)
            for k, i in enumerate(graph.args[node]):
                if used is None or used[k]:
                    masks[node] |= masks[i]
    return masks


def _requires_grad(graph: Graph, reaches: Reaches) -> list[bool]:
    """Which nodes' tensors require grad in the program: computed from an input through gates
    that use it (`def k(a) = 5` makes a tensor that does not, though its call has an input)."""
    masks = _input_masks(graph, {node: 1 for node in graph.inputs.values()}, reaches)
    return [mask != 0 for mask in masks]


def _reaches(defs: list[Any]) -> Reaches:
    """Which parameters each def's result is computed from, defs called before their callers
    (a def may call one defined after it; there is no recursion, so an order exists)."""
    reaches: Reaches = {}
    pending = list(defs)
    names = {d.name for d in defs}
    while pending:
        ready = [d for d in pending
                 if all(kind in reaches for kind in set(d.body.ops) if kind in names)]
        for d in ready or pending:  # (none ready cannot happen: then assume every parameter)
            body: Graph = d.body
            bits = {body.inputs[p]: 1 << k for k, p in enumerate(d.params)}
            mask = _input_masks(body, bits, reaches)[body.output] if ready else -1
            reaches[d.name] = tuple(bool(mask >> k & 1) for k in range(len(d.params)))
        pending = [d for d in pending if d.name not in reaches]
    return reaches


def _constant_tensor(graph: Graph, node: int) -> str:
    return f"torch.tensor({_literal(graph.constant(node))}, dtype=torch.float64)"


def _staged(graph: Graph, depends: Sequence[int], py: dict[int, str], functions: dict[str, str],
            retain: list[bool] | None, comments: bool) -> tuple[list[str], str]:
    """Statements for every named (or multiply used) gate, and the output's expression.

    Unnamed gates are written inline, each op with its `torch_text`; a def is a call of the
    Python function `functions[op name]`. Inputs must already be Python names (in `py`).
    `retain`: the named gates whose .grad is kept (those that require grad), or None."""
    uses = [0] * len(graph)
    for args in graph.args:
        for i in args:
            uses[i] += 1
    out = graph.output
    lines: list[str] = []
    taken = set(py.values()) | set(functions.values())
    text: dict[int, tuple[str, int]] = {}  # node -> (expression, precedence)
    for node in range(len(graph)):
        kind = graph.ops[node]
        if kind == INPUT:
            text[node] = (py[node], ATOM)
            continue
        if kind == CONST:
            if node in py:  # a named constant: `k = 3`
                lines.append(f"{py[node]} = {_constant_tensor(graph, node)}")
                text[node] = (py[node], ATOM)
            continue  # else written where it is used: a literal, or a tensor in torch calls
        op = graph.op(node)
        call = functions.get(graph.ops[node])
        template = "" if call else op.torch_text
        prec, need = (ATOM, [0]) if call else _shape(op)
        literal_ok = depends[node] and not call and not template.startswith("torch.") and (
            prec < ATOM)
        parts: list[str] = []
        for k, i in enumerate(graph.args[node]):
            if graph.ops[i] == CONST and i not in py:
                value = graph.constant(i)
                s, p = ((_literal(value), ATOM) if literal_ok and i not in graph.arrays
                        else (_constant_tensor(graph, i), ATOM))
            else:
                s, p = text[i]
            parts.append(f"({s})" if p < need[min(k, len(need) - 1)] else s)
        if call:
            expr = f"{call}({', '.join(parts)})"
        else:
            expr = graph.op(node).fill(template, parts, graph.params.get(node, ()))
        if node != out and (node in py or uses[node] > 1):
            var = py.get(node) or _fresh(f"_{node}", taken)
            taken.add(var)
            line, _ = graph.position(node)
            note = f"  # line {line}: {graph.source(node, 50)}" if comments else ""
            lines.append(f"{var} = {expr}{note}")
            if retain is not None and retain[node]:
                lines.append(f"{var}.retain_grad()")
            text[node] = (var, ATOM)
        else:
            text[node] = (expr, prec)
    if out in text:
        return lines, text[out][0]
    if out in py:
        return lines, py[out]
    return lines, _constant_tensor(graph, out)  # (a def whose body is a number: `= 5`)


def _definitions(graph: Graph) -> list[Any]:
    """Every def the circuit uses (defs may call other defs), in the program's order."""
    found: dict[str, object] = {}
    todo = [graph]
    while todo:
        g = todo.pop()
        for name, op in g.custom_ops.items():
            definition = getattr(op, "definition", None)
            if definition is not None and name not in found:
                found[name] = definition
                todo.append(definition.body)
    return sorted(found.values(), key=lambda d: d.start)  # type: ignore[attr-defined]


def _function_names(defs: list[Any], taken: set[str]) -> dict[str, str]:
    """A Python function name for every def, clear of the program's names and Python's."""
    names: dict[str, str] = {}
    for d in defs:
        fn = d.name
        while keyword.iskeyword(fn) or fn in _RESERVED or fn in taken:
            fn += "_"
        taken.add(fn)
        names[d.name] = fn
    return names


def _function(d: Any, names: dict[str, str]) -> list[str]:
    """One def as a Python function. Its result is always a new tensor: a body that is a
    parameter returns a copy (an alias would give the call's .grad the parameter's, every use
    of it added up), a body that is a number returns a tensor of it."""
    body: Graph = d.body
    bpy = python_names(body, frozenset(names.values()))
    params = ", ".join(bpy[body.inputs[p]] for p in d.params)
    body_lines, ret = _staged(body, depends_on(body), bpy, names, retain=None, comments=False)
    if body.ops[body.output] == INPUT:
        ret += ".clone()"
    return [f"def {names[d.name]}({params}):  # def {d.name}: {d.text}",
            *("    " + line for line in body_lines), f"    return {ret}", ""]


def _functions(graph: Graph, taken: set[str]) -> tuple[list[str], dict[str, str], Reaches]:
    """A Python function for every def the circuit uses; which parameters each one uses."""
    defs = _definitions(graph)
    names = _function_names(defs, taken)
    lines: list[str] = []
    for d in defs:
        lines += _function(d, names)
    return lines, names, _reaches(defs)


def script(trace: Trace) -> str:
    graph = trace.graph
    depends = trace.depends
    py = python_names(graph)
    out = graph.output
    fname = py[out] if out in py else f"_{out}"
    py.setdefault(out, fname)
    lines = [
        f"# The circuit as a PyTorch program, output {fname} (written by circuit {__version__}).",
        "# Run it with python; every gradient it prints is autograd's.",
        "import torch",
        "",
    ]
    fn_lines, functions, reaches = _functions(graph, set(py.values()))
    requires = _requires_grad(graph, reaches)
    if fn_lines:
        lines += ["# composite gates (def), as Python functions", *fn_lines]
    lines.append("# inputs: float64 tensors that require grad")
    for node in graph.inputs.values():
        lines.append(f"{py[node]} = torch.tensor({_literal(trace.values[node])}, "
                     "dtype=torch.float64, requires_grad=True)")
    renamed = [f"{graph.names[n]} -> {p}" for n, p in py.items() if p != graph.names[n]]
    if renamed:
        lines.append("# renamed (reserved in Python): " + ", ".join(renamed))
    lines += ["", "# forward pass: the staged statements, with the circuit's own names"]
    body, expr = _staged(graph, depends, py, functions, retain=requires, comments=True)
    lines += body
    if graph.is_gate(out):
        line, _ = graph.position(out)
        lines.append(f"{fname} = {expr}  # line {line}: {graph.source(out, 50)}")
        if requires[out]:
            lines.append(f"{fname}.retain_grad()")
    lines += [""]
    shown = [n for n in list(graph.inputs.values()) + sorted(py) if graph.ops[n] != CONST]
    shown = list(dict.fromkeys(shown))
    if requires[out]:
        lines += ["# backward pass", f"{fname}.backward()"]
    elif depends[out]:
        lines += [f"# {fname} is computed from no input (its defs do not use them): there is no "
                  "gradient to compute, every one is 0"]
    else:
        lines += [f"# {fname} depends on no input: there is no gradient to compute"]
    lines += ["", f'print("{fname} =", {fname}.tolist())']
    for node in shown:
        var = py[node]
        lines.append(
            f'print("{var}.grad =", None if {var}.grad is None else {var}.grad.tolist())'
        )
    return "\n".join(lines) + "\n"
