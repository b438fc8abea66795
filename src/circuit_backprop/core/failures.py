"""The errors a run raises at a gate, written once for the reference and the tensor engine:
which gate, why (the op's domain note, or the arithmetic's), at which element of an array, and
with which input values (trace.failure_of)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from circuit_backprop.core.ops import Op
from circuit_backprop.core.trace import failure_of
from circuit_backprop.errors import EvalError

if TYPE_CHECKING:
    from circuit_backprop.core.graph import Graph

NOT_FINITE = "the local gradient is not finite"


def value_error(graph: Graph, node: int, xs: Sequence[Any], exc: Exception | None = None,
                bad: tuple[int, ...] | None = None) -> EvalError:
    """Why a gate has no value: the exception its op raised (`exc`), or, where its value is not
    a finite number, at which element (`bad`: () for a number) and with which inputs there."""
    op = graph.op(node)
    reason = None
    where = ""
    scalar = not any(getattr(x, "ndim", 0) for x in xs)
    if bad:
        where = f" at element {_index(bad)}"
        if op.elementwise and op.domain is not None:
            import numpy as np

            shape = np.broadcast_shapes(*(np.shape(x) for x in xs))
            elements = [float(np.broadcast_to(x, shape)[bad]) for x in xs]
            reason = op.domain(*elements)
            if reason:
                where += " (" + ", ".join(f"{e:g}" for e in elements) + ")"
    elif scalar and op.domain is not None:
        reason = op.domain(*(float(x) for x in xs))
    if reason is None:
        if isinstance(exc, ZeroDivisionError):
            reason = "division by zero"
        elif isinstance(exc, ValueError) and str(exc) and str(exc) != "math domain error":
            reason = str(exc)
        elif isinstance(exc, OverflowError) or exc is None:
            reason = "overflow: the result is too large for float64"
        else:
            reason = f"{op.name} is not defined here"
    return EvalError(f"{op.name} gate: {reason}{where}", failure_of(graph, node, xs))


def gradient_error(graph: Graph, node: int, xs: Sequence[Any], reason: str,
                   k: int | None = None, bad: tuple[int, ...] | None = None) -> EvalError:
    """A gradient that does not exist: with respect to which input (k), where, and why (a
    math error's message, or NOT_FINITE)."""
    op = graph.op(node)
    if reason in ("", "math domain error"):
        reason = NOT_FINITE
    wire = ""
    if k is not None:
        i = graph.args[node][k]
        wire = f" with respect to {graph.label(i) if graph.names[i] else f'input {k + 1}'}"
    where = f" at element {_index(bad)}" if bad else ""
    return EvalError(f"{op.name} gate: no gradient{wire}{where}: {reason}",
                     failure_of(graph, node, xs))


def gradient_overflow(graph: Graph, node: int, k: int, xs: Sequence[Any]) -> EvalError:
    """The gradient a gate sends down wire k is too large for float64."""
    op = graph.op(node)
    wire = graph.label(graph.args[node][k])
    return EvalError(f"{op.name} gate: the gradient sent to {wire} overflows float64 "
                     "(upstream × local is too large)", failure_of(graph, node, xs))


def why_no_gradient(op: Op, k: int, xs: Sequence[Any]) -> str:
    """Why the gradient for input k is not a finite number: the op's note, or in general."""
    reason = op.grad_domain(k, *xs) if op.grad_domain else None
    return reason or NOT_FINITE


def _index(index: tuple[int, ...]) -> str:
    return f"[{', '.join(map(str, index))}]"
