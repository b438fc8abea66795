"""PyTorch as a second opinion: rebuild a circuit in torch and compare, gate by gate.

Two experiments, both on the graph the engine already evaluated:

- `check`: the proof. Every input a float64 0-d tensor that requires grad, every gate built with
  its op's own PyTorch counterpart (`Op.torch`, in the op registry), `retain_grad()` on every
  intermediate gate, then forward and backward; every gate's value and gradient is compared with
  the engine's.
- `behave`: autograd's behaviour, as in the seed notebook. The user picks which nodes require
  grad (a named gate that requires grad becomes a leaf: its value is detached and
  `requires_grad_()`), how many backward passes run, whether `.grad` is reset between them and
  whether the graph is retained. `predict` says, from the graph alone, what each `.grad` will
  hold and which error torch will raise; `behave` runs torch and records what really happened.

torch is imported only here, and only when one of these is asked for. Nothing here prints.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from circuit_backprop.checks.compare import close, relative_error
from circuit_backprop.checks.options import TORCH_ATOL, TORCH_RTOL
from circuit_backprop.core.engine import Trace, reaches_output
from circuit_backprop.core.graph import Graph
from circuit_backprop.core.ops import CONST, INPUT
from circuit_backprop.core.rules import local_gradient, reads_values
from circuit_backprop.errors import EXIT_EVAL, CircuitError, UsageError, close_matches

TORCH_PIN = "2.13.0"
INSTALL_HINTS = [
    f"install it with: pip install torch=={TORCH_PIN}",
    'or, from a clone of this repository: pip install -e ".[torch]"',
]

NO_GRAD_FN = "element 0 of tensors does not require grad and does not have a grad_fn"
SECOND_TIME = "Trying to backward through the graph a second time"


class TorchMissing(UsageError):
    """PyTorch is needed for what was asked, and is not installed (exit 2)."""


class TorchDisagrees(CircuitError):
    """torch computed something other than the engine, or than it predicted (exit 1)."""

    exit_code = EXIT_EVAL


def load_torch(what: str = "--check-torch") -> ModuleType:
    try:
        import torch
    except ImportError:
        raise TorchMissing(f"{what} needs PyTorch, which is not installed", INSTALL_HINTS) from None
    return torch


def build(torch: ModuleType, trace: Trace, leaves: set[int], retain: bool) -> list[Any]:
    """The circuit as float64 0-d tensors, one per node, in the engine's (topological) order.

    Inputs in `leaves` require grad; a gate in `leaves` is detached and made a leaf that requires
    grad. With `retain`, every other gate that requires grad keeps its .grad (retain_grad()), and
    a gate computed from inputs that require grad whose tensor does not (a def whose body is a
    number, `def k(a) = 5`: autograd follows only the parameters a body uses) is made a leaf
    that requires grad: the engine gives it the gradient from its consumers, which torch then
    computes too, and nothing flows from it to its inputs in either (their local gradients are
    0). Every gate has its own tensor: a def whose body is a parameter (`def k(a) = a`) returns
    its argument's tensor, which is copied (an alias's .grad would be the argument's).
    """
    graph = trace.graph
    f64 = torch.float64
    tensors: list[Any] = []
    params = graph.params
    for node in range(len(graph)):
        kind = graph.ops[node]
        if kind == INPUT:
            t = torch.tensor(trace.values[node], dtype=f64, requires_grad=node in leaves)
        elif kind == CONST:
            t = torch.tensor(graph.constant(node), dtype=f64)
        else:
            inputs = [tensors[i] for i in graph.args[node]]
            t = graph.op(node).torch_forward(torch, inputs, params.get(node, ()))
            if any(t is x for x in inputs):
                t = t.clone()
            if node in leaves:
                t = t.detach().requires_grad_()
            elif retain and t.requires_grad:
                t.retain_grad()
            elif retain and any(x.requires_grad for x in inputs):
                t = t.detach().requires_grad_()
        tensors.append(t)
    return tensors


def _item(t: Any) -> Any:
    """A tensor's value: a float for a 0-d tensor, a NumPy array for any other."""
    if t is None:
        return None
    return float(t.item()) if t.dim() == 0 else t.detach().numpy().copy()


# --- the proof: every gate's value and gradient ------------------------------------------------


@dataclass
class GateCheck:
    node: int
    value: float  # torch's value
    value_ok: bool
    grad: float | None = None  # torch's .grad (None: torch computed none, which means 0)
    grad_ok: bool | None = None  # None: gradients were not compared (eval)
    rel_error: float = 0.0  # the larger of the value's and the gradient's relative error


@dataclass
class TorchCheck:
    version: str
    rtol: float
    atol: float
    gradients: bool  # were gradients compared (backward), or values only (eval)
    gates: list[GateCheck]
    note: str | None = None  # e.g. why torch ran no backward pass

    @property
    def disagreeing(self) -> list[GateCheck]:
        return [g for g in self.gates if not g.value_ok or g.grad_ok is False]

    @property
    def ok(self) -> bool:
        return not self.disagreeing

    @property
    def max_rel_error(self) -> float:
        return max((g.rel_error for g in self.gates), default=0.0)


def check(trace: Trace, rtol: float = TORCH_RTOL, atol: float = TORCH_ATOL) -> TorchCheck:
    """Rebuild the circuit in torch and compare every gate (gradients too after a backward pass)."""
    torch = load_torch()
    graph = trace.graph
    gradients = trace.grads is not None
    note = None
    with torch.enable_grad():
        tensors = build(torch, trace, set(graph.inputs.values()), retain=True)
        out = tensors[graph.output]
        if gradients:
            if out.requires_grad:
                out.backward()
            else:
                note = (f"{graph.label(graph.output)} depends on no input, so torch has no "
                        "gradient to compute: only values are compared")
    gates: list[GateCheck] = []
    for node, t in enumerate(tensors):
        value = _item(t)
        assert value is not None
        mine = trace.values[node]
        gate = GateCheck(node, value, close(mine, value, rtol=rtol, atol=atol),
                         rel_error=relative_error(mine, value))
        if gradients and note is None:
            grad = _item(t.grad)
            engine_grad = trace.grads[node]  # type: ignore[index]
            theirs = 0.0 * mine if grad is None else grad  # no .grad: nothing flowed back: 0
            gate.grad = grad
            gate.grad_ok = close(engine_grad, theirs, rtol=rtol, atol=atol)
            gate.rel_error = max(gate.rel_error, relative_error(engine_grad, theirs))
        tensors[node] = None  # free as we go
        gates.append(gate)
    return TorchCheck(torch.__version__, rtol, atol, gradients, gates, note)


# --- autograd's behaviour: requires_grad, leaves, passes -----------------------------------------


def chosen_nodes(graph: Graph, names: list[str] | None) -> set[int]:
    """The nodes named by --requires-grad (None: every input). Names may be comma-separated."""
    if names is None:
        return set(graph.inputs.values())
    named = graph.named_nodes()
    chosen: set[int] = set()
    for item in names:
        for name in (n.strip() for n in item.split(",")):
            if not name:
                continue
            if name not in named or graph.ops[named[name]] == CONST:
                known = [n for n, i in named.items() if graph.ops[i] != CONST]
                close_names = close_matches(name, known)
                raise UsageError(
                    f"--requires-grad: '{name}' is not an input or a named gate of this circuit",
                    [f"did you mean {close_names[0]}?" if close_names
                     else "inputs and named gates: " + ", ".join(known)],
                )
            chosen.add(named[name])
    return chosen


def saves_values(graph: Graph, node: int) -> bool:
    """Does torch's backward of this gate need saved values? Yes unless its local gradients are
    constants (+, −, negation, identity): those are the gates whose rules read only dout.
    A def runs its body's gates in torch, so it saves values if any of them does."""
    todo = [(graph, node)]
    while todo:
        g, n = todo.pop()
        op = g.op(n)
        definition = getattr(op, "definition", None)
        if definition is not None:
            body = definition.body
            todo += [(body, i) for i in range(len(body)) if body.is_gate(i)]
            continue
        if reads_values(op):
            return True
    return False


def used_arguments(op: Any, cache: dict[int, tuple[bool, ...]]) -> tuple[bool, ...] | None:
    """Which of a gate's arguments autograd follows: every one (None), or, for a def, those its
    body's result is computed from (`def k(a, b) = a * 3` leaves b out, `def k(a) = 5` all).
    A def's body may call other defs, defined before or after it; none calls itself, so they
    are resolved callees first. `cache`: a def's id -> its answer, shared between calls."""
    top = getattr(op, "definition", None)
    if top is None:
        return _tracked(op)
    todo = [top]
    while todo:
        d = todo[-1]
        if id(d) in cache:
            todo.pop()
            continue
        body: Graph = d.body
        callees = [getattr(body.op(n), "definition", None) for n in range(len(body))
                   if body.is_gate(n)]
        missing = [e for e in callees if e is not None and id(e) not in cache]
        if missing:
            todo += missing
            continue
        todo.pop()
        masks = [0] * len(body)
        bits = {body.inputs[p]: 1 << k for k, p in enumerate(d.params)}
        for n in range(len(body)):
            kind = body.ops[n]
            if kind == INPUT:
                masks[n] = bits.get(n, 0)
            elif kind != CONST:
                inner = getattr(body.op(n), "definition", None)
                used = _tracked(body.op(n)) if inner is None else cache[id(inner)]
                for k, i in enumerate(body.args[n]):
                    if used is None or used[k]:
                        masks[n] |= masks[i]
        out = masks[body.output]
        cache[id(d)] = tuple(bool(out >> k & 1) for k in range(len(d.params)))
    return cache[id(top)]


def _tracked(op: Any) -> tuple[bool, ...] | None:
    """A built-in op's inputs autograd follows: those with a gradient rule (a comparison's
    twin gives a tensor without grad_fn, one_hot's an integer one); None: every one."""
    tracked = tuple(rule is not None for rule in op.grad)
    return None if all(tracked) else tracked


@dataclass
class Prediction:
    """What the engine expects torch to do, from the graph alone."""

    requires_grad: list[bool]
    is_leaf: list[bool]
    reaches: list[bool]  # on a path to the output in torch's graph (stopping at leaves)
    one_pass: list[float]  # the gradient one backward pass leaves in a leaf that requires grad
    error: tuple[int, str] | None  # (pass, start of torch's message)
    completed: int  # backward passes that run to the end
    grads: list[float | None]  # predicted .grad of every node after all passes


def _local(trace: Trace, node: int, k: int) -> float:
    row = trace.local[node] if trace.local else None
    if row is not None and row[k] is not None:
        return row[k]  # type: ignore[return-value]
    graph = trace.graph
    xs = [trace.values[i] for i in graph.args[node]]
    try:
        d = local_gradient(graph.op(node), k, xs, trace.values[node])
    except (ValueError, ZeroDivisionError, OverflowError):
        return math.nan
    return math.nan if d is None else d


def predict(trace: Trace, chosen: set[int], passes: int, zero_grad: bool,
            retain_graph: bool) -> Prediction:
    graph = trace.graph
    n = len(graph)
    args = graph.args
    req = [False] * n
    leaf = [True] * n
    cache: dict[int, tuple[bool, ...]] = {}
    follows: list[tuple[bool, ...] | None] = [None] * n  # a def's gate: the arguments it uses
    for node in range(n):
        kind = graph.ops[node]
        if kind == INPUT:
            req[node] = node in chosen
        elif kind != CONST:
            used = follows[node] = used_arguments(graph.op(node), cache)
            if node in chosen:
                req[node] = True
            else:
                req[node] = any(req[i] for k, i in enumerate(args[node])
                                if used is None or used[k])
                leaf[node] = not req[node]
    out = graph.output
    reaches = [False] * n
    one = [0.0] * n
    saved = False
    if req[out]:
        reaches[out] = True
        one[out] = 1.0
        for node in range(out, -1, -1):
            if not reaches[node] or leaf[node]:
                continue  # backpropagation stops at a leaf
            saved = saved or saves_values(graph, node)
            used = follows[node]
            for k, i in enumerate(args[node]):
                if req[i] and (used is None or used[k]):
                    reaches[i] = True
                    one[i] += one[node] * _local(trace, node, k)
    error: tuple[int, str] | None = None
    if not req[out]:
        error = (1, NO_GRAD_FN)
    elif passes > 1 and not retain_graph and saved:
        error = (2, SECOND_TIME)
    completed = passes if error is None else error[0] - 1
    if zero_grad:  # .grad = None before every pass after the first: even one that fails
        times = 0 if error is not None and error[0] > 1 else min(completed, 1)
    else:
        times = completed
    grads: list[float | None] = [
        times * one[node] if req[node] and leaf[node] and reaches[node] and times else None
        for node in range(n)
    ]
    return Prediction(req, leaf, reaches, one, error, completed, grads)


def why(graph: Graph, pred: Prediction, node: int, chosen: set[int], depends_on_path: bool) -> str:
    """Why torch's .grad of a node holds a number or None."""
    if not pred.requires_grad[node]:
        return "does not require grad"
    if not pred.is_leaf[node]:
        return "non-leaf (torch keeps .grad of leaves only)"
    if not pred.reaches[node]:
        if depends_on_path:
            return ("leaf that requires grad, cut off from the output (by a detached leaf, or a "
                    "def that does not use it)")
        return "leaf that requires grad, not on a path to the output"
    if graph.is_gate(node):
        return "leaf that requires grad (a detached gate)"
    return "leaf that requires grad"


@dataclass
class NodeOutcome:
    node: int
    why: str
    predicted: float | None  # the engine's prediction of .grad
    grad: float | None  # torch's .grad
    requires_grad: bool  # torch's
    is_leaf: bool  # torch's
    agrees: bool


@dataclass
class Behaviour:
    version: str
    chosen: list[int]
    passes: int
    zero_grad: bool
    retain_graph: bool
    prediction: Prediction
    nodes: list[NodeOutcome]  # inputs, then named gates
    error: tuple[int, str] | None  # (pass, torch's message) when torch raised
    completed: int  # passes torch ran to the end
    error_agrees: bool = True
    details: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error_agrees and all(n.agrees for n in self.nodes)

    @property
    def accumulated(self) -> bool:
        """Did several passes add up in .grad, making it wrong?"""
        return not self.zero_grad and self.completed > 1


def behave(trace: Trace, chosen: set[int], shown: list[int], passes: int = 1,
           zero_grad: bool = False, retain_graph: bool = True,
           rtol: float = TORCH_RTOL, atol: float = TORCH_ATOL) -> Behaviour:
    """Run autograd as asked, without retain_grad(), and compare with `predict`."""
    what = "--requires-grad/--passes"
    torch = load_torch(what)
    graph = trace.graph
    if getattr(trace, "shapes", None):
        raise UsageError(f"{what} show autograd's behaviour on scalar circuits only, and this "
                         "one carries arrays", ["--check-torch checks every gate of it"])
    pred = predict(trace, chosen, passes, zero_grad, retain_graph)
    error: tuple[int, str] | None = None
    completed = 0
    with torch.enable_grad():
        tensors = build(torch, trace, chosen, retain=False)
        out = tensors[graph.output]
        leaves = [t for t in tensors if t.is_leaf and t.requires_grad]
        for p in range(1, passes + 1):
            if zero_grad and p > 1:
                for t in leaves:
                    t.grad = None
            try:
                out.backward(retain_graph=retain_graph)
            except RuntimeError as exc:
                error = (p, str(exc))
                break
            completed += 1
    reaches_plain = reaches_output(graph)
    nodes: list[NodeOutcome] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # reading a non-leaf's .grad warns; we explain it instead
        for node in shown:
            t = tensors[node]
            grad = _item(t.grad)
            expected = pred.grads[node]
            if expected is None or grad is None:
                agrees = expected is None and grad is None
            else:
                agrees = close(expected, grad, rtol=rtol, atol=atol)
            if not agrees and error is not None and error[0] > 1 and grad is not None:
                # torch may add part of the failing pass into a leaf before it reaches the gate
                # whose saved values were freed: one more pass's worth is still explained.
                partial = (1 if zero_grad else pred.completed + 1) * pred.one_pass[node]
                agrees = close(partial, grad, rtol=rtol, atol=atol)
            agrees = agrees and t.requires_grad == pred.requires_grad[node] and (
                t.is_leaf == pred.is_leaf[node]
            )
            nodes.append(NodeOutcome(
                node, why(graph, pred, node, chosen, reaches_plain[node]), expected, grad,
                bool(t.requires_grad), bool(t.is_leaf), agrees,
            ))
    if error is None or pred.error is None:
        error_agrees = error is None and pred.error is None
    else:
        error_agrees = error[0] == pred.error[0] and pred.error[1] in error[1]
    return Behaviour(torch.__version__, sorted(chosen), passes, zero_grad, retain_graph, pred,
                     nodes, error, completed, error_agrees)


def first_sentence(message: str) -> str:
    """The first sentence of a torch error message, on one line."""
    text = " ".join(message.split())
    match = re.match(r"(.+?[.)])(\s|$)", text)
    return match.group(1) if match and len(match.group(1)) < len(text) else text
