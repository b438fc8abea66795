"""Peak memory per gate of the parser and of `circuit backward --json`, for the shapes of source
that stress the parser rather than the graph (issue 14). Run from the repository root:

    python bench/memory.py                          # every shape at 1M units (a few minutes)
    python bench/memory.py --units 100000 200000    # several sizes: the cost per unit is the slope
    python bench/memory.py --shapes sum neg --only parse

The shapes, each of `units` units (a unit is one gate, except for `parens`, where it is one
level of nesting and no gate at all):

- wide:   bench/gen.py's wide DAG (`vK = tanh(a * b + c)`, a statement a line): the flat file
          whose cost per gate the others are held to;
- chain:  bench/gen.py's chain (`vK = tanh(vJ)`, ...), a statement a line, 1.25 nodes a unit;
- sum:    one line `f = x+x+x...`: one long line, left-nested (the parser's stack stays low);
- parens: `f = ((((x)))) * 2`: nested parentheses;
- neg:    `f = ---...-x`: nested negations;
- sin:    `f = sin(sin(...sin(x)...))`: nested calls;
- rmul:   `f = x*(x*(x*(...)))`: right-nested products (each level waits on the stack for the
          product to its right).

Each is written to a temporary file and run in a fresh process: `circuit backward F --json >
/dev/null` (`backward`), and a bare `parse()` of the text (`parse`). Peak RSS is the child's own,
from wait4 (as GNU time reports it). Reported: the peak, the peak less that of the same command
on a one-line circuit (the interpreter and its imports), and that excess per unit. The children
run under an address-space limit (`--limit-gb`, 8 by default) so that a shape that needs more
fails with a MemoryError (reported as such) instead of taking the machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.dont_write_bytecode = True  # (nothing written into the installed package)

import gen  # noqa: E402

CIRCUIT = shutil.which("circuit") or str(Path(sys.executable).with_name("circuit"))
PARSE_ONLY = ("import sys; from circuit_backprop.lang.parse import parse; "
              "g = parse(open(sys.argv[1], encoding='utf-8').read()); print(len(g))")


def nested(opening: str, inner: str, closing: str, units: int, after: str = "") -> str:
    return f"input x = 0.5\nf = {opening * units}{inner}{closing * units}{after}\n"


SHAPES: dict[str, Callable[[int], str]] = {
    "wide": gen.wide,
    "chain": gen.chain,
    "sum": lambda n: "input x = 1\nf = x" + "+x" * n + "\n",
    "parens": lambda n: nested("(", "x", ")", n, " * 2"),
    "neg": lambda n: nested("-", "x", "", n),
    "sin": lambda n: nested("sin(", "x", ")", n),
    "rmul": lambda n: nested("x*(", "x", ")", n),
}


def peak_rss(cmd: list[str], limit: int) -> tuple[int | None, str]:
    """The child's peak RSS in bytes (None if it failed), and the end of what it wrote to
    stderr. The child runs with its address space limited to `limit` bytes."""
    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    with tempfile.TemporaryFile() as err:
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env,
                                preexec_fn=limited)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)  # (reaped here, not by Popen)
        err.seek(0)
        message = err.read().decode(errors="replace").strip().splitlines()
    if proc.returncode != 0:
        return None, (message[-1] if message else f"exit status {proc.returncode}")
    return usage.ru_maxrss * 1024, ""


def commands(path: Path) -> dict[str, list[str]]:
    return {"backward": [CIRCUIT, "backward", str(path), "--json"],
            "parse": [sys.executable, "-c", PARSE_ONLY, str(path)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--shapes", nargs="+", choices=list(SHAPES), default=list(SHAPES))
    parser.add_argument("--only", choices=["backward", "parse"], help="one command only")
    parser.add_argument("--limit-gb", type=float, default=8.0,
                        help="address-space limit of each child (GB)")
    args = parser.parse_args()
    limit = int(args.limit_gb * 2**30)
    kinds = [args.only] if args.only else ["backward", "parse"]
    workdir = Path(tempfile.mkdtemp(prefix="circuit-memory-"))
    try:
        tiny = workdir / "tiny.circ"
        tiny.write_text("input x = 0.5\nf = x * 2\n")
        base = {kind: peak_rss(cmd, limit)[0] for kind, cmd in commands(tiny).items()
                if kind in kinds}
        print("baseline (a one-line circuit): "
              + ", ".join(f"{kind} {base[kind] / 2**20:.0f} MB" for kind in kinds))
        print("| shape | units | source | command | peak RSS | less baseline | bytes a unit |")
        print("|---|---|---|---|---|---|---|")
        for shape in args.shapes:
            for units in args.units:
                path = workdir / f"{shape}.circ"
                path.write_text(SHAPES[shape](units))
                size = path.stat().st_size
                for kind in kinds:
                    peak, error = peak_rss(commands(path)[kind], limit)
                    if peak is None:
                        row = f"failed: {error[:80]}", "", ""
                    else:
                        excess = peak - base[kind]
                        row = (f"{peak / 2**20:,.0f} MB", f"{excess / 2**20:,.0f} MB",
                               f"{excess / units:,.0f}")
                    print(f"| {shape} | {units:,} | {size / 2**20:,.1f} MB | {kind} | "
                          + " | ".join(row) + " |", flush=True)
                path.unlink()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
