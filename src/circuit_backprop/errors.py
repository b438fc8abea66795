"""Errors a user can cause, each with the exit code the command line gives it.

The engine and the parser raise these; only the CLI turns them into messages and exit codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

EXIT_EVAL = 1  # a math error while evaluating: log of a negative, division by zero, ...
EXIT_USAGE = 2  # bad source text, unknown names, bad inputs, unreadable files


def close_matches(word: str, choices: list[str], n: int = 1, cutoff: float = 0.6) -> list[str]:
    """The choices closest to a misspelt word (difflib is imported only when one is needed)."""
    import difflib

    return difflib.get_close_matches(word, choices, n=n, cutoff=cutoff)


class CircuitError(Exception):
    """Base class: a message for the user, and an exit code."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class UsageError(CircuitError):
    """Bad command-line use: inputs, options, files."""


@dataclass
class SourcePosition:
    line: int
    column: int
    line_text: str


class SourceError(CircuitError):
    """A problem in the program text, pointing at line:column with a caret."""

    def __init__(
        self,
        message: str,
        position: SourcePosition | None = None,
        details: list[str] | None = None,
    ) -> None:
        super().__init__(message, details)
        self.position = position


@dataclass
class GateFailure:
    """Where an evaluation error happened: which gate, its text and its input values."""

    gate: int
    label: str
    source: str
    line: int
    column: int
    inputs: list[tuple[str, float]] = field(default_factory=list)


class EvalError(CircuitError):
    """A math error in one gate: a value or a needed gradient that is not a finite number."""

    exit_code = EXIT_EVAL

    def __init__(self, message: str, failure: GateFailure) -> None:
        super().__init__(message)
        self.failure = failure
