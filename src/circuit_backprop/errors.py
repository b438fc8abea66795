"""Errors a user can cause: a small hierarchy that the library raises and the CLI prints.

    CircuitError            (exit 2 unless said otherwise)
    ├── UsageError          bad use: inputs, options, files
    │   └── SourceTooLarge  a source longer than the size limit
    ├── SourceError         the program text: line, column and the line with a caret
    ├── EvalError           a math error in one gate (exit 1): the gate, its source and inputs
    └── OutOfMemory         the machine ran out of memory (exit 1)

`str(err)` is exactly the message the command line prints after "error: ", so a notebook user
and a terminal user read the same words. `err.to_json()` is the `--json` error object.

User text quoted in a message (a name, a number, a token, a line of the program) is shortened,
so that a 50 MB name makes a message of a few lines, not of 50 MB.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

EXIT_EVAL = 1  # a math error while evaluating: log of a negative, division by zero, ...
EXIT_USAGE = 2  # bad source text, unknown names, bad inputs, unreadable files
QUOTED_LINE_LIMIT = 80  # a quoted source line: this many characters around the caret
WORD_LIMIT = 80  # a run of characters without a space (a name, a number, a token, a path)
LINE_LIMIT = 480  # any one line of a message (a long list of names)
ELLIPSIS = "…"
# Sources longer than this are refused (files, standard input, pipes): about 11 times the 23 MB
# of the largest benchmark (1M gates, 257 MB of memory), so any circuit a machine can run fits,
# while /dev/zero or a wrong file fails at once instead of filling the memory.
SOURCE_BYTES_LIMIT = 256 * 2**20
SOURCE_LIMIT_OPTION = "--max-source-bytes"
_LONG_WORD = re.compile(rf"\S{{{WORD_LIMIT + 1},}}")


def shorten(text: str, limit: int = WORD_LIMIT) -> str:
    """`text` cut in the middle to `limit` characters, '…' where the cut is."""
    if len(text) <= limit:
        return text
    head = limit // 2
    return text[:head] + ELLIPSIS + text[len(text) - (limit - 1 - head):]


def shorten_line(line: str) -> str:
    """A line of a message with every overlong word shortened, and then the line itself."""
    if len(line) > WORD_LIMIT:
        line = _LONG_WORD.sub(lambda m: shorten(m.group()), line)
    return shorten(line, LINE_LIMIT)


def number_hints(text: str) -> list[str]:
    """Why text that Python's float() might read is not a number here: only ASCII digits (float
    reads ٣ as 3 and １２ as 12, the language does not) and no underscores (float reads 1_000)."""
    import unicodedata

    strange = next((c for c in text if not c.isascii()), None)
    if strange is not None:
        name = unicodedata.name(strange, f"U+{ord(strange):04X}")
        return [f"{strange!r} ({name}) is not ASCII: numbers are written with the digits 0-9, "
                "'.', '+', '-' and 'e'"]
    if "_" in text:
        return ["numbers are written without underscores: 1000, not 1_000"]
    return []


def caret_window(text: str, column: int,
                 width: int = QUOTED_LINE_LIMIT) -> tuple[str, int]:
    """A line of at most `width` characters around `column` (1-based), '…' on each side that was
    cut, and the caret's column in it (still under the same character)."""
    if len(text) <= width:
        return text, column
    lo = max(0, min(column - 1 - width // 2, len(text) - width))
    hi = lo + width
    left = ELLIPSIS if lo > 0 else ""
    right = ELLIPSIS if hi < len(text) else ""
    return left + text[lo:hi] + right, column - lo + len(left)


def may_be_close(word: str, choice: str, cutoff: float) -> bool:
    """Whether difflib's ratio of the two can reach `cutoff`: it is at most 2·min(len)/(sum of
    lens), so a choice of the wrong length is never compared (a 5 MB name is then no 5 s of
    difflib for no suggestion)."""
    total = len(choice) + len(word)
    return total == 0 or 2 * min(len(choice), len(word)) >= cutoff * total


def close_matches(word: str, choices: list[str], n: int = 1, cutoff: float = 0.6) -> list[str]:
    """The choices closest to a misspelt word (difflib is imported only when one is needed;
    only the choices that `may_be_close` are compared)."""
    choices = [c for c in choices if may_be_close(word, c, cutoff)]
    if not choices:
        return []
    import difflib

    return difflib.get_close_matches(word, choices, n=n, cutoff=cutoff)


class CircuitError(Exception):
    """Base class: a message for the user, details (hints), and an exit code."""

    exit_code = EXIT_USAGE
    kind = "usage"  # the `--json` error object's "kind"

    def __init__(self, message: str, details: list[str] | None = None) -> None:
        message = shorten_line(message)
        super().__init__(message)
        self.message = message
        self.details = details or []
        self.origin = ""  # the file the program came from, when there is one

    def where(self) -> tuple[int, int] | None:
        """(line, column) in the program, where the error has a place."""
        return None

    def context_lines(self) -> list[str]:
        """What follows the message: where it happened (hints come after)."""
        return []

    def lines(self) -> list[str]:
        return [self.message, *self.context_lines(), *(f"  {d}" for d in self.short_details())]

    def short_details(self) -> list[str]:
        """The hints, each shortened (they may be appended to, and quote user text)."""
        return [shorten_line(d) for d in self.details]

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def to_json(self) -> dict[str, Any]:
        """The `--json` error document: {"schema": 1, "error": {...}}."""
        line, column = self.where() or (None, None)
        return {"schema": 1, "error": {
            "kind": self.kind, "message": self.message, "line": line, "column": column,
            "details": self.short_details(),
        }}

    def _file_prefix(self) -> str:
        return f"{self.origin}:" if self.origin and not self.origin.startswith("<") else ""


class UsageError(CircuitError):
    """Bad use: inputs, options, files."""


@dataclass
class SourcePosition:
    line: int
    column: int
    line_text: str


class SourceError(CircuitError):
    """A problem in the program text, pointing at line:column with a caret."""

    kind = "syntax"

    def __init__(
        self,
        message: str,
        position: SourcePosition | None = None,
        details: list[str] | None = None,
    ) -> None:
        super().__init__(message, details)
        self.position = position

    @property
    def line(self) -> int | None:
        return self.position.line if self.position else None

    @property
    def column(self) -> int | None:
        return self.position.column if self.position else None

    def where(self) -> tuple[int, int] | None:
        return (self.position.line, self.position.column) if self.position else None

    def context_lines(self) -> list[str]:
        pos = self.position
        if pos is None:
            return []
        prefix = self._file_prefix()
        if prefix:
            at = f"  --> {prefix}{pos.line}:{pos.column}"
        else:
            at = f"  --> {pos.line}:{pos.column} (line {pos.line}, column {pos.column})"
        text, caret_at = caret_window(pos.line_text.expandtabs(1), pos.column)
        gutter = str(pos.line)
        return [at, f"  {gutter} | {text}", f"  {' ' * len(gutter)} | {' ' * (caret_at - 1)}^"]


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
    kind = "math"

    def __init__(self, message: str, failure: GateFailure) -> None:
        super().__init__(message)
        self.failure = failure

    @property
    def gate(self) -> str:
        return self.failure.label

    @property
    def source(self) -> str:
        return self.failure.source

    @property
    def inputs(self) -> list[tuple[str, float]]:
        return self.failure.inputs

    def where(self) -> tuple[int, int] | None:
        return (self.failure.line, self.failure.column)

    def context_lines(self) -> list[str]:
        f = self.failure
        lines = [f"  in gate {shorten(f.label)}: {shorten(f.source)}  "
                 f"(at {self._file_prefix()}{f.line}:{f.column})"]
        if f.inputs:
            lines.append(shorten_line("  its inputs: " + ", ".join(
                f"{shorten(label)} = {value!r}" for label, value in f.inputs)))
        return lines


class SourceTooLarge(UsageError):
    """A source longer than the limit: most likely not a program (/dev/zero, a wrong file)."""

    def __init__(self, origin: str, limit: int) -> None:
        size = f"{limit // 2**20} MiB" if limit % 2**20 == 0 else f"{limit:,} bytes"
        super().__init__(
            f"{origin} is larger than the source size limit ({size})",
            [f"to read a larger program, raise the limit: {SOURCE_LIMIT_OPTION} BYTES "
             f"(now {limit}); in Python, Circuit(text) takes text of any length"],
        )
        self.limit = limit


class OutOfMemory(CircuitError):
    """The machine ran out of memory: a circuit (or an array) too large for it."""

    exit_code = EXIT_EVAL
    kind = "memory"

    def __init__(self) -> None:
        super().__init__("out of memory: this circuit is too large for this machine's memory",
                         ["try fewer gates or smaller arrays"])
