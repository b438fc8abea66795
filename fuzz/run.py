"""The long fuzz run (issue 14): the CI test's generators, many more inputs, in worker processes.

    python fuzz/run.py --count 1000000 --time 3600 --seed 1 --workers 2 --findings fuzz-findings

Input i is drawn from `random.Random(f"{seed}:{i}")`, so any input can be made again from the
seed and its number. Two tiers (see fuzz/README.md): most inputs are parsed and run through the
API (parse, engine, JSON: cheap), a fraction (--cli-fraction) through the whole command line
in-process, with random valid options for every command. Every failing input is saved under
--findings as a reproducer (case.json, repro.sh, its files, the traceback), grouped by
signature (exception type and the innermost frame of the package); `--replay case.json`
runs one again. A summary (summary.json, summary.md) is written at the end.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

from fuzz.cases import KINDS, generate, source  # noqa: E402
from fuzz.choices import RandomChooser, weighted  # noqa: E402
from fuzz.commands import Case, Info  # noqa: E402
from fuzz.runner import Problem, judge, known, run_api, run_cli  # noqa: E402

CASE_TIMEOUT = 60  # seconds: a case that takes longer is a finding (a hang)
SAVED_PER_SIGNATURE = 20  # reproducers kept for each kind of failure
CHUNK = 100  # inputs a worker takes at a time


@dataclass
class Tally:
    """What a stretch of the run did: inputs per tier, kind and exit code; its failures."""

    tiers: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)
    exits: Counter = field(default_factory=Counter)
    known: Counter = field(default_factory=Counter)
    signatures: Counter = field(default_factory=Counter)
    found: list[dict[str, Any]] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        for name in ("tiers", "kinds", "exits", "known", "signatures"):
            getattr(self, name).update(getattr(other, name))
        self.found += other.found


class Timeout(Exception):
    """A case ran longer than CASE_TIMEOUT."""


def _alarm(signum: int, frame: Any) -> None:
    raise Timeout(f"no answer after {CASE_TIMEOUT} s")


# --- one input ----------------------------------------------------------------------------------


def api_input(ch: RandomChooser) -> tuple[dict[str, Any], Problem | None]:
    """The cheap tier: a circuit of any kind through parse, engine and JSON (the API)."""
    kind = weighted(ch, [(w, k) for w, k in KINDS if k != "exercise"])
    info = source(ch, kind)
    gradients = ch.coin(0.8)
    expand = ch.coin(0.15)
    differential = ch.coin(0.3)
    record = {"tier": "api", "kind": kind, "text": info.text, "gradients": gradients,
              "expand": expand, "differential": differential, "smooth": info.smooth,
              "values": _plain(info.values),
              "defaults": sorted(info.defaults)}
    return record, run_api(info, gradients=gradients, expand=expand, differential=differential)


def cli_input(ch: RandomChooser, workdir: Path, costly: float) -> tuple[dict[str, Any], Problem |
                                                                          None, int]:
    """The full tier: a whole command line, in-process."""
    case = generate(ch, costly=costly)
    outcome = run_cli(case, workdir)
    record = {"tier": "cli", **case.to_json(), "shell": case.shell()}
    if known(outcome):
        record["known"] = known(outcome).note  # type: ignore[union-attr]
    return record, judge(case, outcome), outcome.exit_code


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    return {k: np.asarray(v).tolist() for k, v in values.items()}


def one(index: int, seed: str, cli_fraction: float, workdir: Path, costly: float, tally: Tally
        ) -> None:
    ch = RandomChooser(f"{seed}:{index}")
    tier = "cli" if ch.coin(cli_fraction) else "api"
    signal.alarm(CASE_TIMEOUT)
    try:
        if tier == "cli":
            record, problem, code = cli_input(ch, workdir, costly)
            tally.exits[f"{record['args'][0] if record['args'] else '?'} {code}"] += 1
            if "known" in record:
                tally.known[record["known"]] += 1
        else:
            record, problem = api_input(ch)
    except Timeout as err:
        record, problem = {"tier": tier}, Problem("timeout", str(err))
    except Exception as err:  # (the fuzz's own machinery failing is a finding too)
        import traceback

        record = {"tier": tier}
        problem = Problem(f"fuzz harness: {type(err).__name__}", traceback.format_exc())
    finally:
        signal.alarm(0)
    tally.tiers[tier] += 1
    tally.kinds[f"{tier} {record.get('kind', '?')}"] += 1
    if problem is not None:
        tally.signatures[problem.signature] += 1
        if tally.signatures[problem.signature] <= SAVED_PER_SIGNATURE:
            tally.found.append({"index": index, "seed": seed, "signature": problem.signature,
                                "detail": problem.detail, **record})


# --- workers ------------------------------------------------------------------------------------

_WORKDIR: Path | None = None


def _worker_start() -> None:
    global _WORKDIR
    _WORKDIR = Path(tempfile.mkdtemp(prefix="circuit-fuzz-"))
    signal.signal(signal.SIGALRM, _alarm)
    os.environ.setdefault("NO_COLOR", "1")


def _chunk(job: tuple[int, int, str, float, float]) -> Tally:
    start, stop, seed, cli_fraction, costly = job
    tally = Tally()
    assert _WORKDIR is not None
    for index in range(start, stop):
        one(index, seed, cli_fraction, _WORKDIR, costly, tally)
    return tally


def run(args: argparse.Namespace) -> Tally:
    total = Tally()
    started = time.monotonic()
    deadline = started + args.time
    jobs = ((i, min(i + CHUNK, args.count), args.seed, args.cli_fraction, args.costly)
            for i in range(args.start, args.count, CHUNK))
    findings = Path(args.findings)
    findings.mkdir(parents=True, exist_ok=True)
    last_report = started
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(args.workers, initializer=_worker_start, maxtasksperchild=200) as pool:
        pending = []
        for job in jobs:
            pending.append(pool.apply_async(_chunk, (job,)))
            while len(pending) >= 4 * args.workers:
                pending = _collect(pending, total, findings, block=True)
                if time.monotonic() > deadline:
                    break
            if time.monotonic() - last_report > args.report_every:
                last_report = time.monotonic()
                _progress(total, started)
            if time.monotonic() > deadline:
                break
        while pending:
            pending = _collect(pending, total, findings, block=True)
    total.tiers["seconds"] = round(time.monotonic() - started)  # type: ignore[assignment]
    return total


_SAVED: Counter = Counter()  # reproducers saved so far, per signature


def _collect(pending: list[Any], total: Tally, findings: Path, block: bool) -> list[Any]:
    done = [p for p in pending if p.ready()]
    if not done and block:
        pending[0].wait()
        done = [pending[0]]
    for p in done:
        tally = p.get()
        for found in tally.found:
            _SAVED[found["signature"]] += 1
            if _SAVED[found["signature"]] <= SAVED_PER_SIGNATURE:
                save(findings, found)
        tally.found = []
        total.add(tally)
    return [p for p in pending if p not in done]


def _progress(total: Tally, started: float) -> None:
    n = sum(v for k, v in total.tiers.items() if k != "seconds")
    elapsed = time.monotonic() - started
    print(f"[{elapsed:7.0f} s] {n:,} inputs ({n / max(elapsed, 1e-9):,.0f}/s; "
          f"api {total.tiers['api']:,}, cli {total.tiers['cli']:,}); "
          f"{sum(total.signatures.values()):,} failing, {len(total.signatures)} kinds",
          file=sys.stderr, flush=True)


# --- findings -----------------------------------------------------------------------------------


def slug(signature: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", signature)[:80].strip("_") or "finding"


def save(findings: Path, found: dict[str, Any]) -> Path:
    """One reproducer: case.json (everything), the files the case reads, repro.sh (the command
    line, or a Python call for the API tier) and detail.txt (the traceback)."""
    folder = findings / slug(found["signature"]) / str(found["index"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "case.json").write_text(json.dumps(found, indent=1, ensure_ascii=False) + "\n",
                                      encoding="utf-8", errors="surrogatepass")
    (folder / "detail.txt").write_text(found.get("detail", ""), encoding="utf-8",
                                       errors="surrogatepass")
    if found.get("tier") == "cli":
        for name, data in found.get("files", {}).items():
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(data, dict):
                target.write_bytes(bytes.fromhex(data["hex"]))
            else:
                target.write_bytes(data.encode("utf-8", "surrogatepass"))
        script = f"#!/bin/sh\ncd \"$(dirname \"$0\")\"\n{found.get('shell', '')}\n"
    else:
        script = ("#!/bin/sh\n# the API tier: replays case.json\n"
                  f"python {HERE / 'run.py'} --replay \"$(dirname \"$0\")/case.json\"\n")
    (folder / "repro.sh").write_text(script, encoding="utf-8", errors="surrogatepass")
    return folder


def replay(path: Path) -> int:
    """Run one saved reproducer again; print what is wrong with it (exit 1), or 'ok' (0)."""
    found = json.loads(path.read_text(encoding="utf-8"))
    if found.get("tier") == "api":
        info = Info(found["text"], {}, found["values"], set(found.get("defaults", ())), set(),
                    [], [], False, found.get("smooth", True))
        problem = run_api(info, gradients=found["gradients"], expand=found["expand"],
                          differential=found.get("differential", False))
    else:
        files = {k: bytes.fromhex(v["hex"]) if isinstance(v, dict) else v
                 for k, v in found.get("files", {}).items()}
        case = Case(found["args"], found.get("stdin"), files, found.get("kind", ""),
                    found.get("columns", 140))
        workdir = Path(tempfile.mkdtemp(prefix="circuit-replay-"))
        problem = judge(case, run_cli(case, workdir))
    if problem is None:
        print("ok: no failure")
        return 0
    print(problem.signature)
    print(problem.detail)
    return 1


def show(args: argparse.Namespace) -> int:
    """Input N of the seed, made again and run in this process (no time limit): what a
    `timeout` finding needs, as it has no case saved."""
    _worker_start()
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    tally = Tally()
    ch = RandomChooser(f"{args.seed}:{args.show}")
    tier = "cli" if ch.coin(args.cli_fraction) else "api"
    print(f"input {args.show} of seed {args.seed!r}: the {tier} tier", flush=True)
    ch = RandomChooser(f"{args.seed}:{args.show}")
    ch.coin(args.cli_fraction)
    record = api_input(ch)[0] if tier == "api" else cli_input(ch, _WORKDIR, args.costly)[0]
    print(json.dumps(record, indent=1, ensure_ascii=False), flush=True)
    one(args.show, args.seed, args.cli_fraction, _WORKDIR, args.costly, tally)  # type: ignore
    for found in tally.found:
        print(found["signature"])
        print(found["detail"])
    return 1 if tally.found else 0


def summary(total: Tally, args: argparse.Namespace, findings: Path) -> str:
    seconds = total.tiers.pop("seconds", 0)
    n = sum(total.tiers.values())
    lines = [f"# Fuzz run: seed {args.seed}, {n:,} inputs in {seconds:,} s "
             f"({n / max(seconds, 1):,.0f}/s, {args.workers} workers)", "",
             f"- API tier (parse, engine, JSON): {total.tiers['api']:,}",
             f"- CLI tier (whole command line, in-process): {total.tiers['cli']:,}", "",
             "## Failures", ""]
    if not total.signatures:
        lines.append("None.")
    for sig, count in total.signatures.most_common():
        lines.append(f"- {count:,} × `{sig}` — {findings / slug(sig)}")
    if total.known:
        lines += ["", "## Known bugs (being fixed elsewhere; not failures)", ""]
        lines += [f"- {count:,} × {note}" for note, count in total.known.most_common()]
    lines += ["", "## Inputs by tier and kind", ""]
    lines += [f"- {k}: {v:,}" for k, v in sorted(total.kinds.items())]
    lines += ["", "## CLI runs by command and exit code", ""]
    lines += [f"- {k}: {v:,}" for k, v in sorted(total.exits.items())]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="inputs to run")
    parser.add_argument("--start", type=int, default=0, help="the first input's number")
    parser.add_argument("--time", type=float, default=3600.0, help="time budget, seconds")
    parser.add_argument("--seed", default="1", help="the run's seed (any text)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--cli-fraction", type=float, default=0.05,
                        help="the share of inputs run through the whole command line")
    parser.add_argument("--costly", type=float, default=0.3,
                        help="how often the slow paths run (torch, Graphviz, matplotlib)")
    parser.add_argument("--findings", default="fuzz-findings", help="where reproducers go")
    parser.add_argument("--report-every", type=float, default=60.0, help="progress, seconds")
    parser.add_argument("--replay", type=Path, help="run one saved case.json again")
    parser.add_argument("--show", type=int, metavar="N",
                        help="make input N of --seed again, print it, and run it here")
    args = parser.parse_args(argv)
    if args.replay:
        return replay(args.replay)
    if args.show is not None:
        return show(args)
    total = run(args)
    findings = Path(args.findings)
    text = summary(total, args, findings)
    (findings / "summary.md").write_text(text, encoding="utf-8")
    (findings / "summary.json").write_text(json.dumps({
        "seed": args.seed, "tiers": dict(total.tiers), "kinds": dict(total.kinds),
        "exits": dict(total.exits), "known": dict(total.known),
        "signatures": dict(total.signatures)}, indent=1) + "\n", encoding="utf-8")
    print(text)
    return 1 if total.signatures else 0


if __name__ == "__main__":
    sys.exit(main())
