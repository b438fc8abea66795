"""The gate graph: one node per input, constant and gate, stored as parallel lists.

Node ids are assigned as the parser reduces, so every node's inputs have smaller ids than the
node itself: id order *is* a topological order, and the engine can simply loop over it. The lists
(rather than one object per node) keep million-gate circuits cheap to build and to walk.
"""

from __future__ import annotations

import bisect
import operator
import re
from array import array
from collections.abc import Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

from circuit_backprop.core.ops import CONST, INPUT, OPS, Op

_NEEDS_CLEANING = re.compile(r"\s\s|[\t\n\r\f\v]")  # what source() folds to one space
_NEEDS_CLEANING_IN_LINE = re.compile(r"[ \t\r\f\v][ \t\r\f\v]|[\t\r\f\v]")
SOURCE_LIMIT = 80  # a gate's source text is shortened to this many characters in reports


class Wires(Sequence):
    """graph.args: the input node ids of every node, each as a tuple, as `graph.args[node]`.

    Stored flat: how many inputs each node has, its first and second input in two int32 arrays,
    and the rare node with more (a def with three parameters) in a dict. A million gates then cost
    a few arrays, not a million tuples; the bulk engine reads the arrays without copying them.
    Each node's level (1 + its deepest input's, 0 for inputs and constants) is kept beside them:
    nodes on the same level never depend on one another (see bulk.py).
    """

    def __init__(self) -> None:
        self.arity = array("b")
        # 4-byte node ids: 2**31 nodes would take hundreds of GB in any case
        self.first = array("i")
        self.second = array("i")
        self.level = array("i")
        self.more: dict[int, tuple[int, ...]] = {}  # nodes with more than two inputs

    def append(self, args: tuple[int, ...]) -> None:
        node = len(self.arity)
        n = len(args)
        self.arity.append(n if n < 3 else 3)
        level = self.level
        if n == 0:
            self.first.append(0)
            self.second.append(0)
            level.append(0)
        elif n == 1:
            a = args[0]
            self.first.append(a)
            self.second.append(0)
            level.append(level[a] + 1)
        elif n == 2:
            a, b = args
            self.first.append(a)
            self.second.append(b)
            la, lb = level[a], level[b]
            level.append((la if la > lb else lb) + 1)
        else:
            self.first.append(args[0])
            self.second.append(args[1])
            self.more[node] = tuple(args)
            level.append(max(level[i] for i in args) + 1)

    def __len__(self) -> int:
        return len(self.arity)

    def pop(self) -> None:
        """Remove the last node's wiring."""
        self.more.pop(len(self.arity) - 1, None)
        for column in (self.arity, self.first, self.second, self.level):
            column.pop()

    def __getitem__(self, node: int) -> tuple[int, ...]:  # type: ignore[override]
        if isinstance(node, slice):
            return [self[i] for i in range(*node.indices(len(self)))]
        n = self.arity[node]
        if n == 2:
            return (self.first[node], self.second[node])
        if n == 1:
            return (self.first[node],)
        if n == 0:
            return ()
        return self.more[node]

    def __iter__(self) -> Iterator[tuple[int, ...]]:
        first, second, more = self.first, self.second, self.more
        for node, n in enumerate(self.arity):
            if n == 2:
                yield (first[node], second[node])
            elif n == 1:
                yield (first[node],)
            elif n == 0:
                yield ()
            else:
                yield more[node]


class Consts(MutableMapping):
    """graph.consts: the value of each constant node, as `graph.consts[node]`.

    Kept as two flat arrays sorted by node (ids come in increasing order as the parser adds
    nodes), found by bisection. A dict would hold an int and a float object per constant: made
    during the parse among millions of short-lived objects, they would pin the allocator's memory
    arenas, and a million-gate parse would keep about 100 MB it no longer uses.
    """

    def __init__(self) -> None:
        self.nodes = array("i")
        self.numbers = array("d")

    def _find(self, node: int) -> int:
        """Where the node is in `nodes`; a KeyError if it is not there."""
        i = bisect.bisect_left(self.nodes, node)
        if i < len(self.nodes) and self.nodes[i] == node:
            return i
        raise KeyError(node)

    def __setitem__(self, node: int, value: float) -> None:
        nodes = self.nodes
        if not nodes or node > nodes[-1]:  # the usual case: a new node, after all others
            nodes.append(node)
            self.numbers.append(value)
            return
        try:
            self.numbers[self._find(node)] = value
        except KeyError:
            i = bisect.bisect_left(nodes, node)
            nodes.insert(i, node)
            self.numbers.insert(i, value)

    def __getitem__(self, node: int) -> float:
        return self.numbers[self._find(node)]

    def __delitem__(self, node: int) -> None:
        i = self._find(node)
        del self.nodes[i]
        del self.numbers[i]

    def __iter__(self) -> Iterator[int]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)


class Names(Sequence):
    """graph.names: each node's name, or None.

    Most names are a statement's own text (`v12 = ...`): such a name is kept as the span of that
    text, 8 bytes, rather than as a string of its own (about 60 bytes, on a million statements);
    any other name (`f` for a bare output, a body's parameters) is kept as a string.
    """

    NONE, OTHER = -1, -2  # in `start`: no name; a name kept in `other`

    def __init__(self, text: str) -> None:
        self.text = text
        self.start = array("i" if len(text) < 2**31 else "q")
        self.end = array(self.start.typecode)
        self.other: dict[int, str] = {}

    def append(self, name: str | None) -> None:
        self.start.append(self.NONE)
        self.end.append(0)
        if name is not None:
            self[len(self.start) - 1] = name

    def set_span(self, node: int, start: int, end: int) -> None:
        """Name a node by the text at [start, end)."""
        node = range(len(self.start))[node]
        self.start[node], self.end[node] = start, end
        self.other.pop(node, None)

    def __setitem__(self, node: int, name: str | None) -> None:
        node = range(len(self.start))[node]  # (a negative index, as a list takes it)
        self.other.pop(node, None)
        if name is None:
            self.start[node] = self.NONE
        else:
            self.start[node] = self.OTHER
            self.other[node] = name

    def __len__(self) -> int:
        return len(self.start)

    def __getitem__(self, node: int) -> str | None:  # type: ignore[override]
        if isinstance(node, slice):
            lo, hi, step = node.indices(len(self))
            if step != 1:
                return [self[i] for i in range(lo, hi, step)]
            text, other = self.text, self.other
            return [text[s:e] if s >= 0 else None if s == self.NONE else other[i]
                    for i, s, e in zip(range(lo, hi), self.start[lo:hi], self.end[lo:hi],
                                           strict=True)]
        node = range(len(self.start))[node]  # (a negative index, as a list takes it)
        start = self.start[node]
        if start >= 0:
            return self.text[start : self.end[node]]
        return None if start == self.NONE else self.other[node]

    def __iter__(self) -> Iterator[str | None]:
        return map(self.__getitem__, range(len(self.start)))


@dataclass
class Graph:
    text: str  # the program source
    ops: list[str] = field(default_factory=list)  # "input", "const" or an op name from OPS
    args: Wires = field(default_factory=lambda: Wires())  # input node ids of each node
    names: Names = field(init=False)  # statement or input name, or None
    consts: Consts = field(default_factory=Consts)  # value of each constant node
    starts: array = field(default_factory=lambda: array("i"))  # each node's source span:
    ends: array = field(default_factory=lambda: array("i"))  # text[start:end]
    inputs: dict[str, int] = field(default_factory=dict)  # input name -> node, in first-use order
    defaults: dict[str, Any] = field(default_factory=dict)  # input name -> default (float, array)
    output: int = -1
    custom_ops: dict[str, Op] = field(default_factory=dict)  # this program's own ops (def)
    # Arrays (tensor circuits only; a scalar circuit leaves these empty):
    arrays: dict[int, Any] = field(default_factory=dict)  # constant node -> its NumPy array
    params: dict[int, tuple[int, ...]] = field(default_factory=dict)  # gate -> sum(x, 0)'s (0,)
    declared_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # input W[2, 3]
    _line_starts: array | None = None
    _plain: bool | None = None  # see sources()

    def __post_init__(self) -> None:
        self.names = Names(self.text)
        if len(self.text) >= 2**31:  # offsets past what 4 bytes hold (a 2 GB program)
            self.starts, self.ends = array("q", self.starts), array("q", self.ends)

    def __len__(self) -> int:
        return len(self.ops)

    def add_node(self, op: str, args: tuple[int, ...], start: int, end: int) -> int:
        self.ops.append(op)
        self.args.append(args)
        names = self.names
        names.start.append(Names.NONE)  # (names.append(None), without the call: a hot path)
        names.end.append(0)
        self.starts.append(start)
        self.ends.append(end)
        return len(self.ops) - 1

    def pop_node(self) -> None:
        """Remove the last node added (an integer argument parsed as an expression, such as the
        0 of sum(x, 0), becomes part of its gate: see parse.py)."""
        node = len(self.ops) - 1
        self.ops.pop()
        self.args.pop()
        self.names.start.pop()
        self.names.end.pop()
        self.names.other.pop(node, None)
        self.starts.pop()
        self.ends.pop()
        if node in self.consts:
            del self.consts[node]
        self.arrays.pop(node, None)
        self.params.pop(node, None)

    @property
    def has_arrays(self) -> bool:
        """Does the program itself use arrays (a literal, a declared shape or default, an op that
        is not elementwise)? Then it runs on the tensor engine whatever its inputs."""
        return bool(self.arrays or self.declared_shapes or self.params
                    or any(hasattr(v, "shape") for v in self.defaults.values())
                    or any(not op.elementwise for op in map(self.op_or_none, set(self.ops)) if op))

    def op(self, node: int) -> Op:
        """The registry entry of a gate: a built-in op, or one this program defines."""
        kind = self.ops[node]
        return OPS.get(kind) or self.custom_ops[kind]

    def op_or_none(self, kind: str) -> Op | None:
        return OPS.get(kind) or self.custom_ops.get(kind)

    def constant(self, node: int) -> Any:
        """A constant node's value: its number, or its array."""
        array = self.arrays.get(node)
        return self.consts[node] if array is None else array

    def is_gate(self, node: int) -> bool:
        return self.ops[node] not in (INPUT, CONST)

    def source(self, node: int, limit: int = SOURCE_LIMIT) -> str:
        """The node's own source text on one line, shortened to `limit` characters."""
        start, end = self.starts[node], self.ends[node]
        text = self.text[start : min(end, start + 4 * limit)]
        if "\n" in text or "\t" in text or "  " in text or "\r" in text:
            text = " ".join(text.split())
        return text if len(text) <= limit else text[: limit - 1] + "…"

    def sources(self, lo: int, hi: int, limit: int = SOURCE_LIMIT) -> list[str]:
        """`source` of nodes lo..hi-1: the common case (short, one line) without a call each."""
        text, source = self.text, self.source
        if self._plain is None:  # no tab, no double space anywhere: no span needs cleaning
            self._plain = not _NEEDS_CLEANING_IN_LINE.search(text)
        starts, ends = self.starts[lo:hi], self.ends[lo:hi]
        if max(map(operator.sub, ends, starts), default=0) > limit:
            # Spans are sliced to limit + 1 characters at most (a longer one is shortened by
            # `source` in any case): whole, the spans of a 1M-gate line or nesting, each gate's
            # running to the start of the line, would copy terabytes.
            most = repeat(limit + 1)
            ends = array(ends.typecode, map(min, ends, map(operator.add, starts, most)))
        spans = (text[s:e] for s, e in zip(starts, ends, strict=True))
        if self._plain:
            return [span if len(span) <= limit and "\n" not in span else source(node)
                    for node, span in zip(range(lo, hi), spans, strict=True)]
        return [span if len(span) <= limit and not _NEEDS_CLEANING.search(span) else source(node)
                for node, span in zip(range(lo, hi), spans, strict=True)]

    def label(self, node: int) -> str:
        """How a node is called in tables: its name, or its number."""
        name = self.names[node]
        return name if name is not None else f"#{node}"

    def position(self, node: int) -> tuple[int, int]:
        """1-based line and column where the node's source text starts."""
        return self.line_column(self.starts[node])

    def positions(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """`position` of nodes lo..hi-1, in one pass (one numpy call for a big block)."""
        self.line_column(0)  # builds the table of line starts
        line_starts, find = self._line_starts, bisect.bisect_right
        if hi - lo >= 4096:
            import numpy as np

            table = np.frombuffer(line_starts, dtype=np.int64)
            starts = np.frombuffer(self.starts, dtype=f"i{self.starts.itemsize}")[lo:hi]
            lines = np.searchsorted(table, starts, side="right")
            columns = starts - table[lines - 1] + 1
            return list(zip(lines.tolist(), columns.tolist(), strict=True))
        lines = [find(line_starts, start) for start in self.starts[lo:hi]]
        return [(line, start - line_starts[line - 1] + 1)
                for line, start in zip(lines, self.starts[lo:hi], strict=True)]

    def line_column(self, offset: int) -> tuple[int, int]:
        if self._line_starts is None:
            starts = array("q", [0])  # where each line starts
            find = self.text.find
            i = find("\n")
            while i != -1:
                starts.append(i + 1)
                i = find("\n", i + 1)
            self._line_starts = starts
        line = bisect.bisect_right(self._line_starts, offset)
        return line, offset - self._line_starts[line - 1] + 1

    def named_nodes(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.names) if name is not None}


_NOT_IN_A_NAME = re.compile(r"[^A-Za-z0-9_]+")
MADE_NAME_LIMIT = 16  # characters of a gate's source text kept in the name made for it


def made_name(graph: Graph, node: int, taken: set[str], counts: dict[str, int]) -> str:
    """A valid, readable name for an unnamed gate, from its source text: `2*y` is `_2y`,
    `exp(-dot)` is `_expdot`; one already taken, or whose gradient's name `d_2y` is, gets
    `_2`, `_3`, ... (it joins `taken`; `counts` remembers each stem's last number, so that a
    thousand gates `x*y` cost a thousand steps, not half a million)."""
    stem = "_" + _NOT_IN_A_NAME.sub("", graph.source(node))[:MADE_NAME_LIMIT]
    if stem == "_":
        stem = f"_gate{node}"
    k = counts.get(stem, 1)
    name = stem if k == 1 else f"{stem}_{k}"
    while name in taken or "d" + name in taken:
        k += 1
        name = f"{stem}_{k}"
    counts[stem] = k
    taken.add(name)
    return name


def readable_names(graph: Graph) -> dict[int, str]:
    """A name for every input and gate: its own, or one made from its source text (made_name).
    Where a person reads or writes a gate (circuit grad, circuit grade), this names it."""
    names = {node: name for node, name in enumerate(graph.names) if name is not None}
    taken = set(names.values())
    counts: dict[str, int] = {}
    for node in range(len(graph)):
        if node not in names and graph.is_gate(node):
            names[node] = made_name(graph, node, taken, counts)
    return names


def answer_names(graph: Graph) -> dict[str, int]:
    """The names an answer file may use (circuit grade; circuit grad writes them): the inputs
    and named gates (summary_nodes), then every unnamed gate by the name made for it."""
    readable = readable_names(graph)
    named = summary_nodes(graph)
    unnamed = [node for node in range(len(graph))
               if graph.is_gate(node) and graph.names[node] is None]
    output = [] if graph.output in named + unnamed else [graph.output]  # (f = 0)
    return {readable[node]: node for node in named + unnamed + output}


def summary_nodes(graph: Graph) -> list[int]:
    """The nodes a user names: inputs first (in their order), then named gates in topological
    order. Tables, checks and the API's `grad` list these."""
    inputs = list(graph.inputs.values())
    named = [i for i, name in enumerate(graph.names)
             if name is not None and graph.ops[i] not in (INPUT, CONST)]
    return inputs + named
