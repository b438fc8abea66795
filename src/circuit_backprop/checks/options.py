"""The options of the two checks, and their defaults: one place for the command line (cli.py),
the checks themselves (torchcheck.py, numeric.py) and their reports. Importing this module
imports neither torch nor the checks."""

from __future__ import annotations

from dataclasses import dataclass

TORCH_RTOL = 1e-9  # --check-torch: engine and torch agree to float64 rounding
TORCH_ATOL = 1e-12
NUMERIC_EPS = 1e-6  # --check-numeric: central differences, gradcheck-like tolerances
NUMERIC_ATOL = 1e-5
NUMERIC_RTOL = 1e-3


@dataclass
class TorchOptions:
    """The torch-related options of `eval` and `backward`."""

    check: bool = False
    rtol: float = TORCH_RTOL
    atol: float = TORCH_ATOL
    requires_grad: list[str] | None = None  # None: every input
    passes: int = 1
    zero_grad: bool = False
    retain_graph: bool = True

    @property
    def behaviour(self) -> bool:
        """Was autograd's behaviour asked about?"""
        return (self.requires_grad is not None or self.passes != 1 or self.zero_grad
                or not self.retain_graph)

    @property
    def wanted(self) -> bool:
        return self.check or self.behaviour


@dataclass
class NumericOptions:
    check: bool = False
    eps: float = NUMERIC_EPS
    atol: float = NUMERIC_ATOL
    rtol: float = NUMERIC_RTOL
