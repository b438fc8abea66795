"""Array helpers every tensor op shares: shapes, NumPy's broadcasting rule and its backward
(summing a gradient over the axes an input was stretched along), and the element where a
computation went wrong. The op entries (ops.py) and the tensor engine (tensor.py) use them.

numpy is imported inside the functions that need it: a scalar circuit never loads it.
"""

from __future__ import annotations

from typing import Any

Shape = tuple[int, ...]


class ShapeError(ValueError):
    """Shapes that do not fit: the message names them all."""


def show(shape: Shape) -> str:
    """(2, 3), (3,) and () as NumPy prints them."""
    return f"({shape[0]},)" if len(shape) == 1 else f"({', '.join(map(str, shape))})"


def broadcast(*shapes: Shape) -> Shape:
    """NumPy's rule: align the shapes on their last axis; two dimensions fit when they are equal
    or one of them is 1 (it is stretched); a missing leading dimension counts as 1."""
    ndim = max(len(s) for s in shapes)
    out = []
    for axis in range(-ndim, 0):
        dims = {s[axis] for s in shapes if len(s) >= -axis} - {1}
        if len(dims) > 1:
            raise ShapeError(f"shapes {' and '.join(map(show, shapes))} do not broadcast: "
                             f"{' and '.join(map(str, sorted(dims)))} differ on axis {ndim + axis}"
                             " (dimensions must be equal, or one of them 1)")
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def broadcast_axes(input_shape: Shape, output_shape: Shape) -> tuple[int, ...]:
    """The axes of the output that an input of `input_shape` was stretched along: the leading
    axes it lacks, and the axes where it has length 1 and the output does not. An elementwise
    gate's VJP sums its gradient over exactly these axes (sum_to_shape)."""
    lead = len(output_shape) - len(input_shape)
    stretched = [axis for axis, dim in enumerate(input_shape)
                 if dim == 1 and output_shape[lead + axis] != 1]
    return tuple(range(lead)) + tuple(lead + axis for axis in stretched)


def axis_of(axis: int, shape: Shape, what: str) -> int:
    """A possibly negative axis of `shape`, checked and made non-negative."""
    ndim = len(shape)
    if not -ndim <= axis < ndim:
        raise ShapeError(f"{what}: axis {axis} is out of range for shape {show(shape)} "
                         f"({ndim} {'axis' if ndim == 1 else 'axes'})")
    return axis % ndim


def sum_to_shape(gradient: Any, shape: Shape) -> Any:
    """A gradient of the broadcast output's shape, summed back to an input's `shape`: the
    backward of broadcasting (an input used along a stretched axis collects from all of it)."""
    grad_shape = getattr(gradient, "shape", ())
    if tuple(grad_shape) == tuple(shape):
        return gradient
    axes = broadcast_axes(shape, tuple(grad_shape))
    return gradient.sum(axis=axes).reshape(shape)


def first_bad_element(array: Any) -> tuple[int, ...] | None:
    """The index of the first element that is not a finite number (NaN, ±inf), or None."""
    import numpy as np

    if np.isfinite(np.sum(array)):  # one pass, no temporary array: a NaN or inf makes it so
        return None
    bad = np.argwhere(~np.isfinite(array))
    return tuple(int(i) for i in bad[0]) if len(bad) else None


def element(array: Any, index: tuple[int, ...], shape: Shape) -> float:
    """array[index] once `array` is broadcast to `shape` (an input of an elementwise gate)."""
    import numpy as np

    return float(np.broadcast_to(array, shape)[index])


def as_array(value: Any) -> Any:
    """A float64 NumPy array of the value (a number gives a 0-d array)."""
    import numpy as np

    return np.asarray(value, dtype=np.float64)
