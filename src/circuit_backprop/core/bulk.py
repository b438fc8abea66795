"""The bulk engines: the same two passes as engine.py, for large circuits.

engine.py is the reference: one gate at a time, easy to follow, and the one that names a failing
gate. For a large graph, per-gate Python work is the whole cost, so this module cuts it down:

- `run_levels`, for wide graphs: gates are grouped by *level* (one more than their deepest
  input's; graph.Wires keeps it as the parser adds nodes), and every gate of one op on one level
  is done in a single numpy call, since gates on the same level never depend on one another. The
  backward pass walks the levels in reverse.
- `run_tape`, for deep graphs (a chain has one gate per level: nothing to batch): a lean scalar
  tape, one plain loop forward and one back over flat lists.

In both, local gradients are computed with numpy for all gates of one op at once: they depend
only on forward values: each op's gradient rule (ops.py's `grad`, run by rules.py on arrays)
and its `numpy` forward; tests/test_op_parity.py holds them, for every op, to the reference
engine's numbers and PyTorch's.

Both give up (raise `Fallback`) wherever the reference engine has something precise to say: a
value or a needed gradient that is not finite (the reference engine then names the gate and its
inputs), or an op without a numpy version (a program's own def).
"""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING, Any

from circuit_backprop.core.ops import CONST, INPUT, Op, downstream
from circuit_backprop.core.rules import local_gradient
from circuit_backprop.core.trace import LocalGradients, Trace, reaches_output

if TYPE_CHECKING:
    from circuit_backprop.core.graph import Graph

MIN_GATES_PER_LEVEL = 64  # below this average, batching by level does not pay: use the tape


class Fallback(Exception):
    """The bulk engines cannot do this graph: use the reference engine."""


def run(graph: Graph, inputs: dict[str, float], gradients: bool = True) -> Trace:
    """The faster of the two bulk engines for this graph's shape."""

    levels = int(_ints(graph.args.level).max(initial=0)) + 1
    if len(graph) / levels >= MIN_GATES_PER_LEVEL:
        return run_levels(graph, inputs, gradients)
    return run_tape(graph, inputs, gradients)


class _Codes(dict):
    """op name -> a small integer, the next one for each name not seen before."""

    def __missing__(self, kind: str) -> int:
        code = self[kind] = len(self)
        return code


class _Wiring:
    """The graph as numpy arrays (views of graph.Wires, not copies) and its ops' codes."""

    def __init__(self, graph: Graph) -> None:
        import numpy as np

        self.n = n = len(graph)
        # each op's code: one pass over the graph's ops numbers them in order of first use, then
        # the codes follow the ops' names (a fixed order: the same sums in the same order)
        first_use = _Codes()
        kind = np.fromiter(map(first_use.__getitem__, graph.ops), dtype=np.int16, count=n)
        self.kinds = sorted(first_use)
        self.code = {k: i for i, k in enumerate(self.kinds)}
        self.kind = np.array([self.code[k] for k in first_use], dtype=np.int16)[kind]
        self.ops: dict[str, Op] = {}
        for k in self.kinds:
            if k in (INPUT, CONST):
                continue
            op = graph.op_or_none(k)
            if op is None or op.numpy is None or op.body is not None or not op.elementwise:
                raise Fallback("an op without a numpy version")
            self.ops[k] = op
        wires = graph.args
        self.arity = np.frombuffer(wires.arity, dtype=np.int8)  # (3 stands for 3 or more)
        self.arg0 = _ints(wires.first)
        self.arg1 = _ints(wires.second)
        self.level = _ints(wires.level)
        # Inputs past the second (where(c, a, b)'s b) are in wires.more: a column each, and each
        # node's true count of inputs, for the rare graph that has them.
        self.width = max([2, *(op.arity for op in self.ops.values())])
        self.args = [self.arg0, self.arg1]
        self.count = self.arity
        if self.width > 2:
            self.count = self.arity.astype(np.int16)
            for position in range(2, self.width):
                column = np.zeros(n, dtype=np.int64)
                for node, ins in wires.more.items():
                    self.count[node] = len(ins)
                    if len(ins) > position:
                        column[node] = ins[position]
                self.args.append(column)

    def leaves(self, graph: Graph, inputs: dict[str, float]) -> tuple[Any, Any]:
        """Values with inputs and constants filled in, and which nodes are inputs."""
        import numpy as np

        values = np.zeros(self.n)
        depends = np.zeros(self.n, dtype=bool)
        consts = graph.consts
        if consts:
            values[_ints(consts.nodes)] = np.frombuffer(consts.numbers, dtype=np.float64)
        for name, node in graph.inputs.items():
            values[node] = inputs[name]
            depends[node] = True
        return values, depends

    def local_gradients(self, values: Any, depends: Any, reaches: Any) -> tuple[list, Any]:
        """∂gate/∂input for every wire, one numpy call per op and input position; NaN where no
        gradient flows (a constant wire, or a dead gate whose gradient is not finite)."""
        import numpy as np

        n = self.n
        local = [np.full(n, np.nan) for _ in range(self.width)]
        computed = depends & (self.arity > 0)
        with np.errstate(all="ignore"):
            for k, op in self.ops.items():
                idx = np.flatnonzero((self.kind == self.code[k]) & computed)
                if not len(idx):
                    continue
                xs = [values[column[idx]] for column in self.args[: op.arity]]
                out = values[idx]
                for position, d in _local_gradients(op, xs, out, idx.shape):
                    wire = self.args[position][idx]
                    flows = depends[wire]
                    bad = flows & ~np.isfinite(d)
                    if (bad & reaches[idx]).any():
                        raise Fallback("a needed gradient is not finite")
                    local[position][idx] = np.where(flows & ~bad, d, np.nan)
        return local, computed


def _local_gradients(op: Op, xs: list[Any], out: Any, shape: tuple[int, ...]
                     ) -> list[tuple[int, Any]]:
    """(input position, local gradient of every gate in the group) for each input that takes a
    gradient: the op's rule with dout = 1 (rules.local_gradient), on the group's arrays."""
    import numpy as np

    found = []
    for position in range(op.arity):
        d = local_gradient(op, position, xs, out)
        if d is not None:
            found.append((position, np.broadcast_to(d, shape).astype(float)))
    return found


def run_levels(graph: Graph, inputs: dict[str, float], gradients: bool = True) -> Trace:
    """Wide graphs: a level at a time, one numpy call per op on each level."""
    import numpy as np

    w = _Wiring(graph)
    values, depends = w.leaves(graph, inputs)
    arity, arg0, level, kind = w.arity, w.arg0, w.level, w.kind

    # Forward: level by level; within a level, one numpy call per op. One sort serves both
    # passes: by level, and by op within a level.
    key = level * len(w.kinds) + kind
    if key.max(initial=0) < 2**15:
        key = key.astype(np.int16)  # numpy's stable sort of 16-bit integers is a radix sort
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    del key
    cuts = np.flatnonzero(np.diff(sorted_key)) + 1
    starts, ends = np.concatenate(([0], cuts)), np.concatenate((cuts, [w.n]))
    level_groups = np.split(order, np.flatnonzero(np.diff(level[order])) + 1)[::-1]
    # the wiring in group order, so that each group reads a slice, not a gather of indices
    ins = [column[order] for column in w.args]
    # Local gradients depend only on forward values: each group computes its own right away,
    # from the input values it has just gathered. NaN marks a wire without gradient.
    local = [np.full(w.n, np.nan) for _ in range(w.width)] if gradients else []
    suspects = []  # gates with a non-finite local gradient: an error if they reach the output
    with np.errstate(all="ignore"):
        for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
            k = w.kinds[kind[order[lo]]]
            if k in (INPUT, CONST):
                continue
            op = w.ops[k]
            idx = order[lo:hi]
            wires = [column[lo:hi] for column in ins[: op.arity]]
            xs = [values[wire] for wire in wires]
            out = op.numpy(np, *xs)
            if not np.isfinite(out).all():
                raise Fallback("a value is not finite")
            values[idx] = out
            flows = [depends[wire] for wire in wires]
            depends[idx] = np.logical_or.reduce(flows)
            for position, d in _local_gradients(op, xs, out, idx.shape) if gradients else ():
                finite = np.isfinite(d)
                local[position][idx] = np.where(flows[position] & finite, d, np.nan)
                if not finite.all():
                    suspects.append(idx[flows[position] & ~finite])
    del sorted_key, ins
    trace = Trace(graph, _floats(values), bytearray(depends.tobytes()))
    if not gradients:
        return trace

    reaches = _reaches_output_by_level(graph, w, level_groups)
    if any(reaches[gates].any() for gates in suspects):
        raise Fallback("a needed gradient is not finite")
    computed = depends & (arity > 0)

    # Backward: levels from the output's side; gradients add where wires fork (np.add.at).
    grads = np.zeros(w.n)
    grads[graph.output] = 1.0
    # The trace keeps the local gradients (NaN: no gradient on that wire); the numpy columns,
    # no longer needed as they are, become the backward pass's flows in place (NaN -> 0).
    columns = [_floats(column) for column in local]
    flow = [np.nan_to_num(column, nan=0.0, copy=False) for column in local]
    del local  # (flow is the same memory)
    for idx in level_groups:
        idx = idx[computed[idx]]
        if not len(idx):
            continue
        np.add.at(grads, arg0[idx], downstream(grads[idx], flow[0][idx]))
        for position in range(1, w.width):
            more = idx[w.count[idx] > position]
            np.add.at(grads, w.args[position][more], downstream(grads[more], flow[position][more]))
    del flow
    return _finish(trace, _floats(grads), columns, computed)


def run_tape(graph: Graph, inputs: dict[str, float], gradients: bool = True) -> Trace:
    """Deep graphs: one plain loop forward and one back, over flat arrays. (Memory matters as
    much as time on a million-deep chain: no column is copied that need not be.)"""
    import numpy as np

    w = _Wiring(graph)
    start_values, start_depends = w.leaves(graph, inputs)
    values = _floats(start_values)
    depends = bytearray(start_depends.tobytes())
    del start_values, start_depends
    wires = graph.args  # flat arrays: a million gates cost no Python objects here
    arity, first, second = wires.arity, wires.first, wires.second
    scalar = {k: op.value for k, op in w.ops.items()}
    fns = [scalar.get(k) for k in graph.ops]
    try:
        for node, f, k, a, b in zip(range(w.n), fns, arity, first, second, strict=True):
            if k == 2:
                values[node] = f(values[a], values[b])
                depends[node] = depends[a] | depends[b]
            elif k == 1:
                values[node] = f(values[a])
                depends[node] = depends[a]
            elif k:  # three inputs or more (where(c, a, b))
                ins = wires.more[node]
                values[node] = f(*(values[i] for i in ins))
                depends[node] = any(depends[i] for i in ins)
    except (ValueError, ZeroDivisionError, OverflowError):
        raise Fallback("a value is not defined") from None
    del fns
    forward = np.frombuffer(values, dtype=np.float64)
    if not np.isfinite(forward).all():
        raise Fallback("a value is not finite")
    trace = Trace(graph, values, depends)
    if not gradients:
        return trace

    dep = np.frombuffer(depends, dtype=bool)
    reaches = reaches_output(graph)
    local, computed = w.local_gradients(forward, dep, np.frombuffer(reaches, dtype=bool))
    del reaches, w
    local = _columns(local)  # the trace's own columns, NaN where a wire carries no gradient

    grads = array("d", bytes(8 * len(values)))
    grads[graph.output] = 1.0
    local0, local1 = local[:2]
    more = wires.more
    # upstream × local (ops.downstream) written out: a call per wire costs the chain ~10%
    for node in range(len(values) - 1, -1, -1):
        k = arity[node]
        if k:
            up = grads[node]
            if up:
                if k == 3:  # three inputs or more
                    for position, i in enumerate(more[node]):
                        d = local[position][node]
                        if d == d:
                            grads[i] += up * d
                    continue
                d = local0[node]
                if d == d:  # (not NaN)
                    grads[first[node]] += up * d
                if k == 2:
                    d = local1[node]
                    if d == d:
                        grads[second[node]] += up * d
    return _finish(trace, grads, local, computed)


def _reaches_output_by_level(graph: Graph, w: _Wiring, level_groups: list) -> Any:
    """trace.reaches_output's rule, a level at a time from the output's side: one numpy call per
    level. On the 1M-gate wide graph this takes 6 ms where that loop takes 40 ms (some 12% of
    the whole run); the tape, with a level per gate, uses the loop."""
    import numpy as np

    reaches = np.zeros(w.n, dtype=bool)
    reaches[graph.output] = True
    for idx in level_groups:
        live = idx[reaches[idx] & (w.arity[idx] > 0)]
        for position, column in enumerate(w.args):
            reaches[column[live[w.count[live] > position]]] = True
    return reaches


def _finish(trace: Trace, grads: array, local: list[array], computed: Any) -> Trace:
    import numpy as np

    if not np.isfinite(np.frombuffer(grads, dtype=np.float64)).all():
        raise Fallback("a gradient overflows")
    trace.grads = grads
    trace.local = LocalGradients(trace.graph, local, bytearray(computed.tobytes()))
    return trace


def _columns(local: list) -> list[array]:
    """numpy columns as array("d") columns, each numpy column released as soon as it is copied."""
    columns = []
    while local:
        columns.append(_floats(local.pop(0)))
    return columns


def _ints(column: array) -> Any:
    """A Python array of integers as a numpy view (no copy), whatever its item size."""
    import numpy as np

    return np.frombuffer(column, dtype=f"i{column.itemsize}")


def _floats(column: Any) -> array:
    """A numpy float64 array as a Python array("d"): the same 8 bytes a value, no numpy scalars."""
    import numpy as np

    out = array("d")
    out.frombytes(memoryview(np.ascontiguousarray(column, dtype=np.float64)).cast("B"))
    return out

