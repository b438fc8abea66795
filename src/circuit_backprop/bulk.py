"""The bulk engine: the same two passes as engine.py, many gates at a time, with numpy.

engine.py is the reference: one gate at a time, easy to follow. For a large graph, this module
groups the gates by *level* (a gate's level is one more than its deepest input's) and does every
gate of one op on one level in a single numpy call, since gates on the same level never depend on
one another. The backward pass walks the levels in reverse. A local gradient depends only on
forward values, so all local gradients of one op are computed in one call, whatever their level.

It gives up (raises `Fallback`) wherever the reference engine has something precise to say: a
value or a needed gradient that is not finite (the reference engine then names the gate), a
program's own op without a numpy version, or a graph so deep that levels hold few gates (a chain:
nothing to batch, and the reference engine's plain loop is faster there).
"""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING, Any

from circuit_backprop.engine import LocalGradients
from circuit_backprop.ops import CONST, INPUT

if TYPE_CHECKING:
    from circuit_backprop.engine import Trace
    from circuit_backprop.graph import Graph

MIN_GATES_PER_LEVEL = 64  # below this average, batching by level does not pay


class Fallback(Exception):
    """The bulk engine cannot do this graph well: use the reference engine."""


def levels_of(graph: Graph) -> array:
    """A node's level: 0 for inputs and constants, else 1 + its deepest input's level."""
    level = array("q", bytes(8 * len(graph)))
    for node, args in enumerate(graph.args):
        if len(args) == 2:
            a, b = level[args[0]], level[args[1]]
            level[node] = (a if a > b else b) + 1
        elif args:
            level[node] = max(level[i] for i in args) + 1
    return level


def run(graph: Graph, inputs: dict[str, float], gradients: bool = True) -> Trace:
    import numpy as np

    from circuit_backprop.engine import Trace

    n = len(graph)
    kinds = sorted(set(graph.ops))
    ops = {k: graph.op_or_none(k) for k in kinds if k not in (INPUT, CONST)}
    if any(op is None or op.vec is None or op.arity > 2 for op in ops.values()):
        raise Fallback("an op without a numpy version")
    level = np.frombuffer(levels_of(graph), dtype=np.int64)
    depth = int(level.max()) + 1
    if n / depth < MIN_GATES_PER_LEVEL:
        raise Fallback("too deep to batch")

    code = {k: i for i, k in enumerate(kinds)}
    kind = np.fromiter((code[k] for k in graph.ops), dtype=np.int16, count=n)
    arity = np.fromiter((len(a) for a in graph.args), dtype=np.int8, count=n)
    arg0 = np.fromiter((a[0] if a else 0 for a in graph.args), dtype=np.int32, count=n)
    arg1 = np.fromiter((a[1] if len(a) > 1 else 0 for a in graph.args), dtype=np.int32, count=n)

    values = np.zeros(n)
    depends = np.zeros(n, dtype=bool)
    if graph.consts:
        values[list(graph.consts)] = list(graph.consts.values())
    for name, node in graph.inputs.items():
        values[node] = inputs[name]
        depends[node] = True

    # Forward: level by level; within a level, one numpy call per op.
    order = np.lexsort((kind, level))
    sorted_key = level[order] * len(kinds) + kind[order]
    cuts = np.flatnonzero(np.diff(sorted_key)) + 1
    groups = np.split(order, cuts)
    with np.errstate(all="ignore"):
        for idx in groups:
            k = kinds[kind[idx[0]]]
            if k in (INPUT, CONST):
                continue
            op = ops[k]
            xs = [values[arg0[idx]]] + ([values[arg1[idx]]] if op.arity == 2 else [])
            out = op.vec(np, *xs)
            if not np.isfinite(out).all():
                raise Fallback("a value is not finite")
            values[idx] = out
            dep = depends[arg0[idx]]
            if op.arity == 2:
                dep = dep | depends[arg1[idx]]
            depends[idx] = dep

    del order, sorted_key, cuts, groups
    trace = Trace(graph, _floats(values), bytearray(depends.tobytes()))
    if not gradients:
        return trace

    # Which gates reach the output (their needed gradients must exist): levels in reverse.
    by_level = np.argsort(level, kind="stable")
    level_cuts = np.flatnonzero(np.diff(level[by_level])) + 1
    level_groups = np.split(by_level, level_cuts)[::-1]
    reaches = np.zeros(n, dtype=bool)
    reaches[graph.output] = True
    for idx in level_groups:
        live = idx[reaches[idx] & (arity[idx] > 0)]
        reaches[arg0[live]] = True
        reaches[arg1[live[arity[live] == 2]]] = True

    # Local gradients: all gates of one op at once (they depend only on forward values).
    local = [np.full(n, np.nan), np.full(n, np.nan)]
    computed = depends & (arity > 0)
    with np.errstate(all="ignore"):
        for k, op in ops.items():
            idx = np.flatnonzero((kind == code[k]) & computed)
            if not len(idx):
                continue
            xs = [values[arg0[idx]]] + ([values[arg1[idx]]] if op.arity == 2 else [])
            out = values[idx]
            for position, partial in enumerate(op.vec_partials):
                wire = (arg0, arg1)[position][idx]
                d = np.broadcast_to(partial(np, *xs, out), idx.shape).astype(float)
                flows = depends[wire]
                bad = flows & ~np.isfinite(d)
                if (bad & reaches[idx]).any():
                    raise Fallback("a needed gradient is not finite")
                local[position][idx] = np.where(flows & ~bad, d, np.nan)

    # Backward: levels from the output's side; gradients add where wires fork (np.add.at).
    grads = np.zeros(n)
    grads[graph.output] = 1.0
    flow = [np.nan_to_num(column, nan=0.0) for column in local]
    for idx in level_groups:
        idx = idx[computed[idx]]
        if not len(idx):
            continue
        up = grads[idx]
        np.add.at(grads, arg0[idx], up * flow[0][idx])
        two = idx[arity[idx] == 2]
        np.add.at(grads, arg1[two], grads[two] * flow[1][two])

    del flow
    if not np.isfinite(grads).all():
        raise Fallback("a gradient overflows")
    trace.grads = _floats(grads)
    trace.local = LocalGradients(graph, [_floats(c) for c in local],
                                 bytearray(computed.tobytes()))
    return trace


def _floats(column: Any) -> array:
    """A numpy float64 array as a Python array("d"): the same 8 bytes a value, no numpy scalars."""
    import numpy as np

    out = array("d")
    out.frombytes(memoryview(np.ascontiguousarray(column, dtype=np.float64)).cast("B"))
    return out
