"""A coverage-guided fuzz target for atheris (libFuzzer for Python); see fuzz/README.md.

    pip install --target /tmp/atheris-lib atheris        # not a dependency of the project
    PYTHONPATH=/tmp/atheris-lib python fuzz/atheris_target.py -atheris_runs=200000 \
        -max_len=2048 fuzz-corpus/

Each input's first byte picks a mode:
- text: the rest of the bytes, decoded as UTF-8 (invalid bytes replaced), is a program: parsed,
  run and written as JSON through the API, its inputs given made-up values;
- structured: the bytes drive fuzz/'s own generators (FuzzedDataProvider as the Chooser), so
  libFuzzer's coverage feedback steers the valid-program builder and the command lines;
  the program goes through the API, and one input in eight through the whole command line.
A failure (see fuzz/runner.py) raises, and libFuzzer saves the input as crash-<sha1>.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

import atheris  # noqa: E402


def _import_the_package() -> None:
    """Every module of the package, now (most import lazily), so that all are instrumented."""
    import importlib
    import pkgutil

    import circuit_backprop

    for module in pkgutil.walk_packages(circuit_backprop.__path__, "circuit_backprop."):
        if not module.name.endswith("__main__"):  # (that one runs the command line)
            importlib.import_module(module.name)


with atheris.instrument_imports(include=["circuit_backprop"]):
    _import_the_package()

from fuzz.cases import generate  # noqa: E402
from fuzz.choices import RandomChooser  # noqa: E402
from fuzz.commands import Info  # noqa: E402
from fuzz.runner import judge, run_api, run_cli  # noqa: E402

T = TypeVar("T")
WORKDIR = Path(tempfile.mkdtemp(prefix="circuit-atheris-"))


class ProviderChooser:
    """fuzz/choices.Chooser over libFuzzer's bytes: each decision consumes some of them (an
    exhausted provider gives the simplest choice, as hypothesis does)."""

    def __init__(self, fdp: Any) -> None:
        self.fdp = fdp

    def integer(self, lo: int, hi: int) -> int:
        return self.fdp.ConsumeIntInRange(lo, hi)

    def pick(self, items: Sequence[T]) -> T:
        return items[self.fdp.ConsumeIntInRange(0, len(items) - 1)]

    def coin(self, p: float = 0.5) -> bool:
        return self.fdp.ConsumeProbability() < p

    def real(self, lo: float, hi: float) -> float:
        return self.fdp.ConsumeFloatInRange(lo, hi)


class Failure(Exception):
    """What libFuzzer reports: a run that fuzz/runner.py judges wrong."""


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    mode = fdp.ConsumeIntInRange(0, 7)
    if mode < 4:
        text = fdp.ConsumeBytes(fdp.remaining_bytes()).decode("utf-8", "replace")
        info = Info.parsed(RandomChooser(len(text)), text)
        problem = run_api(info, gradients=mode != 0, expand=mode == 3)
    elif mode < 7:
        from fuzz.cases import source

        ch = ProviderChooser(fdp)
        info = source(ch, ch.pick(["program", "program", "mutation", "grammar"]))
        problem = run_api(info, gradients=ch.coin(0.8), expand=ch.coin(0.2))
    else:
        case = generate(ProviderChooser(fdp), costly=0.1)
        problem = judge(case, run_cli(case, WORKDIR))
        if problem is not None:
            problem = type(problem)(problem.signature, f"$ {case.shell()}\n{problem.detail}")
    if problem is not None:
        raise Failure(f"{problem.signature}\n{problem.detail}")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
