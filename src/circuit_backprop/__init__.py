"""circuit: see a gradient flow through a computation, gate by gate, and prove it.

    import circuit_backprop as cb

    c = cb.Circuit("q = x + 2*y; f = q*z")      # or cb.Circuit.load("circuits/staged.circ")
    r = c.backward(x=3, y=-4, z=19)              # `input` defaults apply; given values override
    r.value, r.grad["x"], r.grad["q"]            # -95.0, 19.0, 19.0
    r.gates                                      # one record per node
    r.check_torch(), r.check_numeric()           # the checks, as displayable reports
    r.to_json()                                  # the document `circuit backward --json` prints
    c.draw()                                     # an SVG diagram (in Jupyter)

The names below are the public API; everything else is the implementation.
"""

from circuit_backprop.version import __version__

__all__ = [
    "Circuit", "Result", "Gate", "TorchReport", "NumericReport", "Drawing", "Steps", "GradeReport",
    "CircuitError", "UsageError", "SourceError", "EvalError", "__version__",
]


def __getattr__(name: str) -> object:
    """The API is imported on first use, so that `circuit --version` stays fast."""
    if name in ("Circuit", "Result", "Gate", "TorchReport", "NumericReport", "Drawing", "Steps",
                "GradeReport"):
        from circuit_backprop import api

        return getattr(api, name)
    if name in ("CircuitError", "UsageError", "SourceError", "EvalError"):
        from circuit_backprop import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'circuit_backprop' has no attribute {name!r}")
