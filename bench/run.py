"""Scale benchmark for circuit: run with `python bench/run.py` (see bench/README.md).

Measures, in one run on this machine:
1. engine: forward + backward on the same 1M-gate graphs, circuit's engine against a
   micrograd-style engine (bench/micrograd_style.py) and PyTorch eager with 0-d float64 tensors;
2. end to end: `circuit backward big.circ --json > out.json` and the table view, against stock
   Lark LALR merely building a parse tree of the same file; peak memory of each;
3. start-up: `circuit eval "(x + 2*y)*z" ...` against `python -c "import typer, rich, lark"`;
4. depth: a 100,000-deep nested expression end to end.
Speed is reported, never asserted: the tests check correctness at scale, this measures it.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import gen  # noqa: E402
import micrograd_style  # noqa: E402

import circuit_backprop  # noqa: E402

CIRCUIT = shutil.which("circuit") or "circuit"


def timed(fn, repeat: int = 1) -> tuple[float, object]:  # noqa: ANN001
    """Median wall time of `repeat` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def run_command(cmd: list[str], stdout_path: str | None = None) -> tuple[float, int]:
    """Wall time and peak RSS (KB) of a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = open(stdout_path, "w") if stdout_path else subprocess.DEVNULL  # noqa: SIM115
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if stdout_path:
        out.close()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, max(peak, before)


def peak_rss_kb(cmd: list[str]) -> int:
    """Peak RSS of one child, via GNU time when available."""
    gnu_time = shutil.which("time") or "/usr/bin/time"
    if not os.path.exists(gnu_time):
        return -1
    proc = subprocess.run([gnu_time, "-f", "%M", *cmd], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    try:
        return int(proc.stderr.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return -1


def engine_bench(path: Path, repeat: int, with_torch: bool, rows: list[str]) -> None:
    from circuit_backprop.core import engine
    from circuit_backprop.lang.parse import parse

    graph = parse(path.read_text())
    inputs = dict(graph.defaults)
    leaves = {node: inputs[name] for name, node in graph.inputs.items()}
    leaves.update(graph.consts)
    import numpy  # noqa: F401  (imported before timing, as torch is below: no one's imports count)

    first, trace = timed(lambda: engine.run(graph, inputs))  # memory fresh from the system
    ours, trace = timed(lambda: engine.run(graph, inputs), repeat)
    line = f"| {path.stem} | {len(graph):,} | {ours:.3f} s (first run {first:.3f} s) |"

    wiring = list(graph.args)  # plain tuples for the other engines, made outside their timing

    def micrograd() -> object:
        return micrograd_style.run(graph.ops, wiring, leaves, graph.output)

    try:
        mg, values = timed(micrograd)
        check = values[graph.inputs[next(iter(graph.inputs))]].grad
        expected = trace.grads[graph.inputs[next(iter(graph.inputs))]]
        assert abs(check - expected) <= 1e-9 * (1 + abs(expected)), (check, expected)
        del values
        gc.collect()
        gc.disable()
        mg_off, values = timed(micrograd)
        gc.enable()
        del values
        gc.collect()
        line += f" {mg:.2f} s ({mg / ours:.0f}×); gc off {mg_off:.2f} s ({mg_off / ours:.0f}×) |"
    except RecursionError:
        gc.enable()
        line += " RecursionError (recursive topological sort) |"
    if with_torch:
        import torch  # noqa: F401

        t, _ = timed(lambda: torch_eager(graph, wiring, leaves))
        line += f" {t:.2f} s ({t / ours:.0f}×) |"
    else:
        line += " (skipped) |"
    rows.append(line)


def torch_eager(graph, wiring: list, leaves: dict[int, float]) -> float:  # noqa: ANN001
    import torch

    tensors = []
    for node, kind in enumerate(graph.ops):
        if kind == "input":
            tensors.append(torch.tensor(leaves[node], dtype=torch.float64, requires_grad=True))
        elif kind == "const":
            tensors.append(torch.tensor(leaves[node], dtype=torch.float64))
        else:
            op = graph.op(node)
            tensors.append(op.torch(torch, *(tensors[i] for i in wiring[node])))
    tensors[graph.output].backward()
    return float(tensors[next(iter(graph.inputs.values()))].grad)


def end_to_end(path: Path, workdir: Path, rows: list[str], repeat: int) -> None:
    out_json = str(workdir / "out.json")
    json_times = [run_command([CIRCUIT, "backward", str(path), "--json"], out_json)[0]
                  for _ in range(repeat)]
    table_times = [run_command([CIRCUIT, "backward", str(path)], str(workdir / "out.txt"))[0]
                   for _ in range(repeat)]
    json_peak = peak_rss_kb([CIRCUIT, "backward", str(path), "--json"])
    stock_script = (
        "import sys; from importlib import resources; from lark import Lark; "
        "g = resources.files('circuit_backprop.lang').joinpath('grammar.lark').read_text(); "
        "p = Lark(g, parser='lalr', maybe_placeholders=True); "
        "p.parse(open(sys.argv[1]).read())"
    )
    stock, _ = run_command([sys.executable, "-c", stock_script, str(path)])
    j, t = statistics.median(json_times), statistics.median(table_times)
    size = os.path.getsize(out_json) / 1e6
    rows.append(
        f"| {path.stem} | {j:.2f} s ({size:.0f} MB of JSON) | {t:.2f} s | {stock:.2f} s |"
        f" {stock / j:.1f}× | {json_peak / 1024:.0f} MB |"
    )


def startup(rows: list[str], repeat: int = 31) -> None:
    """Side by side, alternating. Twice: as this environment runs Python, and with bytecode
    caching on (PYTHONDONTWRITEBYTECODE unset), as on a usual machine: with it set, Python
    compiles circuit's own modules again at every start, while site-packages come precompiled."""
    base = [sys.executable, "-c", "import typer, rich, lark"]
    ours = [CIRCUIT, "eval", "(x + 2*y)*z", "--x", "3", "--y", "-4", "--z", "19"]
    cached = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    compiled = "bytecode compiled, as `pip install .` leaves it"
    for label, env in (("as is", None), (compiled, cached)):
        if env is None:  # as is: no bytecode left over from an earlier run with caching on
            shutil.rmtree(Path(circuit_backprop.__file__).parent / "__pycache__", True)
        else:
            subprocess.run(ours, env=env, stdout=subprocess.DEVNULL)  # writes the caches
        b_times, o_times = [], []
        for _ in range(repeat):
            for cmd, times in ((base, b_times), (ours, o_times)):
                start = time.perf_counter()
                subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL)
                times.append(time.perf_counter() - start)
        b, o = statistics.median(b_times), statistics.median(o_times)
        rows.append(f"| `import typer, rich, lark` ({label}) | {b * 1000:.0f} ms |")
        rows.append(f"| `circuit eval \"(x + 2*y)*z\" --x 3 --y -4 --z 19` ({label}) |"
                    f" {o * 1000:.0f} ms ({o / b:.2f}×) |")


def depth(workdir: Path, rows: list[str]) -> None:
    nested = workdir / "nested.circ"
    nested.write_text("input x = 0.5\nf = " + "(" * 100_000 + "x" + ")" * 100_000 + " * 2\n")
    t, _ = run_command([CIRCUIT, "backward", str(nested), "--json"], str(workdir / "n.json"))
    rows.append(f"| `backward --json`, a 100,000-deep nested expression | {t:.2f} s |")
    negations = workdir / "negations.circ"
    negations.write_text("input x = 0.5\nf = " + "-" * 100_000 + "x\n")
    t, _ = run_command([CIRCUIT, "backward", str(negations), "--json"], str(workdir / "m.json"))
    rows.append(f"| `backward --json`, 100,000 nested negations | {t:.2f} s |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gates", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5,
                        help="runs of circuit's engine after its first")
    parser.add_argument("--e2e-repeat", type=int, default=1, help="runs of each whole command")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch eager")
    parser.add_argument("--only", choices=["engine", "e2e", "startup"], help="one part only")
    args = parser.parse_args()
    sys.setrecursionlimit(10_000)
    workdir = Path(tempfile.mkdtemp(prefix="circuit-bench-"))
    wide, chain = workdir / "wide.circ", workdir / "chain.circ"
    wide.write_text(gen.wide(args.gates))
    chain.write_text(gen.chain(args.gates))

    print(f"# circuit scale benchmark: {args.gates:,} gates")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, {platform.platform()}")
    print()
    print("## Engine: forward + backward on the same graph "
          f"(circuit: median of {args.repeat} after a first run)")
    print("| graph | nodes | circuit | micrograd-style | PyTorch eager 0-d float64 |")
    print("|---|---|---|---|---|")
    rows: list[str] = []
    for path in (wide, chain) if args.only in (None, "engine") else ():
        engine_bench(path, args.repeat, not args.no_torch, rows)
        print(rows[-1], flush=True)
    print()
    print(f"## End to end (wall time, median of {args.e2e_repeat})")
    print("| file | `circuit backward F --json > out.json` | table view | stock Lark LALR tree "
          "of F | ratio | peak RSS (--json) |")
    print("|---|---|---|---|---|---|")
    rows = []
    for path in (wide, chain) if args.only in (None, "e2e") else ():
        end_to_end(path, workdir, rows, args.e2e_repeat)
        print(rows[-1], flush=True)
    print()
    print("## Start-up (median of 31, alternating)")
    print("| command | wall |")
    print("|---|---|")
    rows = []
    if args.only in (None, "startup"):
        startup(rows)
        depth(workdir, rows)
    print("\n".join(rows))
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
