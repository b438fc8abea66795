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
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
# A benchmark writes nothing into the installed package: no bytecode from this process, nor
# from the commands it runs (main sets PYTHONDONTWRITEBYTECODE for them; see startup).
sys.dont_write_bytecode = True

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
    """Wall time and peak RSS (KB) of a child process, as GNU time measures them: the child's
    own rusage from wait4 (its peak, or that of a process it forked and waited for, such as
    `--json`'s second writer), not the peak of every child this benchmark ran."""
    out = open(stdout_path, "w") if stdout_path else subprocess.DEVNULL  # noqa: SIM115
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # (reaped here, not by Popen)
        if stdout_path:
            out.close()
        if proc.returncode != 0:
            err.seek(0)
            message = err.read().decode(errors="replace")[-2000:]
            raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {message}")
    return elapsed, usage.ru_maxrss


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
    # the cheap-gradient bound: the backward pass against the forward pass, same engine
    forward, _ = timed(lambda: engine.run(graph, inputs, gradients=False), repeat)
    line = (f"| {path.stem} | {len(graph):,} | {ours:.3f} s (first run {first:.3f} s; forward "
            f"alone {forward:.3f} s, backward ÷ forward {(ours - forward) / forward:.2f}) |")

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


STOCK_SCRIPT = (
    "import sys; from importlib import resources; from lark import Lark; "
    "g = resources.files('circuit_backprop.lang').joinpath('grammar.lark').read_text(); "
    "p = Lark(g, parser='lalr', maybe_placeholders=True); "
    "p.parse(open(sys.argv[1]).read())"
)


def end_to_end(path: Path, workdir: Path, rows: list[str], repeat: int) -> list[str]:
    """`repeat` rounds of: the --json run, stock Lark's tree, the --json run again, the table
    view. Each round's ratio is stock Lark's time over the mean of the two --json runs around
    it (this machine's speed drifts by 15-30% over minutes, and stock Lark takes a minute);
    the median of the rounds is reported. Returns a line per round."""
    out_json = str(workdir / "out.json")
    json_cmd = [CIRCUIT, "backward", str(path), "--json"]
    json_times, table_times, stock_times, ratios, peaks, rounds = [], [], [], [], [], []
    for _ in range(repeat):
        before, peak = run_command(json_cmd, out_json)
        stock, _ = run_command([sys.executable, "-c", STOCK_SCRIPT, str(path)])
        after, _ = run_command(json_cmd, out_json)
        table, _ = run_command([CIRCUIT, "backward", str(path)], str(workdir / "out.txt"))
        ours = (before + after) / 2
        json_times += [before, after]
        table_times.append(table)
        stock_times.append(stock)
        ratios.append(stock / ours)
        peaks.append(peak)
        rounds.append(f"{path.stem}: --json {before:.2f} s, stock Lark {stock:.2f} s, --json "
                      f"{after:.2f} s: {stock / ours:.1f}×; table view {table:.2f} s")
    size = os.path.getsize(out_json) / 1e6
    rows.append(
        f"| {path.stem} | {statistics.median(json_times):.2f} s ({size:.0f} MB of JSON) |"
        f" {statistics.median(table_times):.2f} s | {statistics.median(stock_times):.2f} s |"
        f" {statistics.median(ratios):.1f}× | {max(peaks) / 1024:.0f} MB |"
    )
    return rounds


def startup(rows: list[str], workdir: Path, repeat: int = 31) -> None:
    """Side by side, alternating. Twice: as this environment runs Python, and with bytecode
    caching on (PYTHONDONTWRITEBYTECODE unset), as on a usual machine: with it set, Python
    compiles circuit's own modules again at every start, while site-packages come precompiled.

    The compiled runs keep their bytecode in a folder of this benchmark's own
    (PYTHONPYCACHEPREFIX, for both commands alike), and the others write none, so nothing is
    written into the installed package (nor deleted there): "as is" is what this machine runs,
    reading whatever bytecode the installation has (none, in an editable install)."""
    base = [sys.executable, "-c", "import typer, rich, lark"]
    ours = [CIRCUIT, "eval", "(x + 2*y)*z", "--x", "3", "--y", "-4", "--z", "19"]
    cached = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cached["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
    compiled = "bytecode compiled, as `pip install .` leaves it"
    package = Path(circuit_backprop.__file__).parent
    if any(package.rglob("*.pyc")):  # (`pip install .`, or someone's run with caching on)
        print(f"note: {package} holds compiled bytecode, which the 'as is' runs read")
    for label, env in (("as is", None), (compiled, cached)):
        if env is not None:  # write the caches of everything both commands import
            subprocess.run(ours, env=env, stdout=subprocess.DEVNULL)
            subprocess.run(base, env=env, stdout=subprocess.DEVNULL)
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
    parser.add_argument("--e2e-repeat", type=int, default=1,
                        help="rounds of the end-to-end runs (see end_to_end)")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch eager")
    parser.add_argument("--only", choices=["engine", "e2e", "startup"], help="one part only")
    args = parser.parse_args()
    sys.setrecursionlimit(10_000)
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"  # (for every command run: see the imports)
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
    print(f"## End to end (wall time; medians of {args.e2e_repeat} rounds: see end_to_end)")
    print("| file | `circuit backward F --json > out.json` | table view | stock Lark LALR tree "
          "of F | ratio, stock ÷ --json | peak RSS (--json) |")
    print("|---|---|---|---|---|---|")
    rows, rounds = [], []
    for path in (wide, chain) if args.only in (None, "e2e") else ():
        rounds += end_to_end(path, workdir, rows, args.e2e_repeat)
        print(rows[-1], flush=True)
    for line in rounds:
        print(f"- {line}")
    print()
    print("## Start-up (median of 31, alternating)")
    print("| command | wall |")
    print("|---|---|")
    rows = []
    if args.only in (None, "startup"):
        startup(rows, workdir)
        depth(workdir, rows)
    print("\n".join(rows))
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
