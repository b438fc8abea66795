"""The standard streams as the command line uses them: one whose descriptor is closed, standard
error written on a best-effort basis, a stream that failed sent to /dev/null, and narrow
encodings tolerated. A failed write is a failed write, reported once (cli.main), never a
traceback from Python's own flush at exit."""

import errno
import os
import sys
from typing import Any


class ClosedStream:
    """Stands in for a standard stream whose descriptor is closed (`<&-`, `>&-`), where Python
    leaves sys.stdin or sys.stdout None: no terminal, and writing to it fails as a write to a
    closed descriptor does (EBADF), to be reported as any failed write."""

    encoding = "utf-8"
    errors = "strict"

    def __init__(self, name: str) -> None:
        self.name = name

    def isatty(self) -> bool:
        return False

    def _fail(self, *args: Any) -> Any:
        raise OSError(errno.EBADF, "it is closed")

    write = read = readline = fileno = _fail

    def flush(self) -> None:
        pass


class BestEffortStream:
    """Standard error for messages that may not get through (/dev/full, a closed descriptor,
    EIO): one that cannot be written is dropped, with every later one, so that a command's exit
    code never depends on whether its message could be written."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.lost = False

    def write(self, text: str) -> int:
        if not isinstance(text, str):  # (as a text stream does: click probes with b"")
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if not self.lost:
            try:
                self.stream.write(text)
            except (OSError, ValueError):
                self._lose()
        return len(text)

    def flush(self) -> None:
        if not self.lost:
            try:
                self.stream.flush()
            except (OSError, ValueError):
                self._lose()

    def _lose(self) -> None:
        self.lost = True
        discard(self.stream)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def best_effort(stream: Any) -> BestEffortStream:
    if isinstance(stream, BestEffortStream):
        return stream
    return BestEffortStream(stream if stream is not None else ClosedStream("standard error"))


def discard(stream: Any) -> None:
    """Point a stream that failed at /dev/null: what it still buffers, and Python's own flush of
    it at exit ("Exception ignored ... BrokenPipeError"), then go nowhere instead of failing
    again."""
    try:
        fd = stream.fileno()
        null = os.open(os.devnull, os.O_WRONLY)
    except (AttributeError, OSError, ValueError):  # (no descriptor: a test's stream, a stand-in)
        return
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)


def tolerate_narrow_encodings() -> None:
    """On a terminal or pipe that cannot encode ×, ∂ or ∇ (PYTHONIOENCODING=ascii, a latin-1
    locale), print '?' for them rather than fail with a UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        try:
            "∂×∇│".encode(stream.encoding)
        except UnicodeEncodeError:
            stream.reconfigure(errors="replace")
        except (AttributeError, TypeError, LookupError):
            pass  # (a stream replaced by a test runner, or an unknown encoding name)
