"""`circuit torch`: the circuit as a standalone PyTorch program, in the seed notebook's style.

Inputs become float64 0-d tensors that require grad, every named statement becomes a statement
of the same name (unnamed gates are written inline, using each op's `torch_text` from the op
registry), every intermediate that requires grad keeps its .grad with retain_grad(), then
`f.backward()` and a print of every .grad. Nothing here imports torch: this only writes text.
"""

from __future__ import annotations

import keyword

from circuit_backprop import __version__
from circuit_backprop.engine import Trace
from circuit_backprop.graph import Graph
from circuit_backprop.ops import CONST, INPUT

ATOM = 4  # a name, a call, a literal: never needs parentheses
_RESERVED = {"torch", "print", "None", "True", "False"}


def python_names(graph: Graph) -> dict[int, str]:
    """A Python name for every named node; a name Python reserves gets a trailing '_'."""
    taken = {name for name in graph.names if name is not None}
    names: dict[int, str] = {}
    for node, name in enumerate(graph.names):
        if name is None:
            continue
        py = name
        while keyword.iskeyword(py) or py in _RESERVED or (py != name and py in taken):
            py += "_"
        taken.add(py)
        names[node] = py
    return names


def _shape(template: str) -> tuple[int, list[int]]:
    """(precedence of the result, least precedence each operand may have unparenthesised)."""
    if template.startswith("torch."):
        return ATOM, [0, 0]
    if template == "{a}.clone()":
        return ATOM, [ATOM]
    if template.startswith("-"):
        return 3, [3]
    for ops, prec in ((("+", "-"), 1), (("*", "/"), 2)):
        if any(template == "{a} " + op + " {b}" for op in ops):
            return prec, [prec, prec + 1]
    return 0, [ATOM, ATOM]  # anything else: parenthesise every operand


def _fresh(name: str, taken: set[str]) -> str:
    while name in taken:
        name += "_"
    return name


def _literal(value: float) -> str:
    return repr(float(value))


def script(trace: Trace) -> str:
    graph = trace.graph
    depends = trace.depends
    py = python_names(graph)
    uses = [0] * len(graph)
    for args in graph.args:
        for i in args:
            uses[i] += 1
    out = graph.output
    fname = py[out] if out in py else f"_{out}"
    lines = [
        f"# The circuit as a PyTorch program, output {fname} (written by circuit {__version__}).",
        "# Run it with python; every gradient it prints is autograd's.",
        "import torch",
        "",
        "# inputs: float64 0-d tensors that require grad",
    ]
    for node in graph.inputs.values():
        lines.append(f"{py[node]} = torch.tensor({_literal(trace.values[node])}, "
                     "dtype=torch.float64, requires_grad=True)")
    renamed = [f"{graph.names[n]} -> {p}" for n, p in py.items() if p != graph.names[n]]
    if renamed:
        lines.append("# renamed (reserved in Python): " + ", ".join(renamed))
    lines += ["", "# forward pass: the staged statements, with the circuit's own names"]
    text: dict[int, tuple[str, int]] = {}  # node -> (expression, precedence) of inlined nodes
    for node in range(len(graph)):
        kind = graph.ops[node]
        if kind == INPUT:
            text[node] = (py[node], ATOM)
            continue
        if kind == CONST:
            if node in py:  # a named constant: `k = 3`
                lines.append(f"{py[node]} = torch.tensor({_literal(graph.consts[node])}, "
                             "dtype=torch.float64)")
                text[node] = (py[node], ATOM)
            continue  # else written where it is used: a literal, or a tensor in torch calls
        op = graph.op(node)
        prec, need = _shape(op.torch_text)
        literal_ok = depends[node] and not op.torch_text.startswith("torch.") and prec < ATOM
        parts: dict[str, str] = {}
        for k, (slot, i) in enumerate(zip("ab", graph.args[node], strict=False)):
            if graph.ops[i] == CONST and i not in py:
                value = graph.consts[i]
                s, p = ((_literal(value), ATOM) if literal_ok
                        else (f"torch.tensor({_literal(value)}, dtype=torch.float64)", ATOM))
            else:
                s, p = text[i]
            parts[slot] = f"({s})" if p < need[min(k, len(need) - 1)] else s
        expr = op.torch_text.format(**parts)
        named = node in py
        if named or uses[node] > 1 or node == out:
            var = py.get(node) or _fresh(f"_{node}", set(py.values()))
            line, _ = graph.position(node)
            lines.append(f"{var} = {expr}  # line {line}: {graph.source(node, 50)}")
            if depends[node]:
                lines.append(f"{var}.retain_grad()")
            text[node] = (var, ATOM)
        else:
            text[node] = (expr, prec)
    lines += [""]
    shown = [n for n in list(graph.inputs.values()) + sorted(py) if graph.ops[n] != CONST]
    shown = list(dict.fromkeys(shown))
    if depends[out]:
        lines += ["# backward pass", f"{fname}.backward()"]
    else:
        lines += [f"# {fname} depends on no input: there is no gradient to compute"]
    lines += ["", f'print("{fname} =", {fname}.item())']
    for node in shown:
        var = py[node]
        lines.append(
            f'print("{var}.grad =", None if {var}.grad is None else {var}.grad.item())'
        )
    return "\n".join(lines) + "\n"
