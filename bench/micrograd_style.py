"""A micrograd-style engine, written for the benchmark: one Python object per value, a closure per
gate for its backward step, and a recursive topological sort, as people write and run it.

Only the ops the benchmark circuits use are here (add, mul, tanh, sin, and the identity).
"""

from __future__ import annotations

import math


class Value:
    def __init__(self, data: float, children: tuple[Value, ...] = (), op: str = "") -> None:
        self.data = data
        self.grad = 0.0
        self._backward = lambda: None
        self._prev = set(children)
        self._op = op

    def __add__(self, other: Value) -> Value:
        out = Value(self.data + other.data, (self, other), "+")

        def _backward() -> None:
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other: Value) -> Value:
        out = Value(self.data * other.data, (self, other), "*")

        def _backward() -> None:
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def tanh(self) -> Value:
        t = math.tanh(self.data)
        out = Value(t, (self,), "tanh")

        def _backward() -> None:
            self.grad += (1 - t * t) * out.grad

        out._backward = _backward
        return out

    def sin(self) -> Value:
        out = Value(math.sin(self.data), (self,), "sin")

        def _backward() -> None:
            self.grad += math.cos(self.data) * out.grad

        out._backward = _backward
        return out

    def backward(self) -> None:
        topo: list[Value] = []
        visited: set[Value] = set()

        def build_topo(v: Value) -> None:  # recursive, as in micrograd
            if v not in visited:
                visited.add(v)
                for child in v._prev:
                    build_topo(child)
                topo.append(v)

        build_topo(self)
        self.grad = 1.0
        for v in reversed(topo):
            v._backward()


GATES = {
    "add": lambda a, b: a + b,
    "mul": lambda a, b: a * b,
    "tanh": lambda a: a.tanh(),
    "sin": lambda a: a.sin(),
}


def run(ops: list[str], args: list[tuple[int, ...]], leaf_values: dict[int, float],
        output: int) -> list[Value]:
    """Forward (building Value objects) and backward, over a graph given as parallel lists."""
    values: list[Value] = []
    for node, op in enumerate(ops):
        if op in ("input", "const"):
            values.append(Value(leaf_values[node]))
        else:
            values.append(GATES[op](*(values[i] for i in args[node])))
    values[output].backward()
    return values
