"""`make bench`: every benchmark, each run with --json in a process of its own, into one results file.

bench/results.json holds each run's JSON object keyed by its command (the script's name, and its arguments where one
script runs twice), with when it was measured and how loaded the machine was: the figures of a busy machine say so
where they are shown. bench/render.py writes the tables of docs/performance.md from that file.

    python bench/run.py                   # every benchmark, each entry replaced as it is measured
    python bench/run.py --only cold_start # some of them again; the others' entries are kept as they were
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results.json"
# Each benchmark's key and arguments (--json is added). The memory benchmark's default organization (20,000 secrets)
# takes about 20 minutes to build on moto: `make bench` measures the two organizations docs/performance.md shows.
BENCHMARKS: dict[str, tuple[str, ...]] = {
    "diagnose_calls": ("diagnose_calls.py",),
    "scan_calls": ("scan_calls.py",),
    "fix_calls": ("fix_calls.py",),
    "cold_start": ("cold_start.py",),
    "change_calls": ("change_calls.py",),
    "organization_scan": ("organization_scan.py",),
    "organization_memory --secrets 50": ("organization_memory.py", "--secrets", "50"),
    "organization_memory --accounts 4 --secrets 500": ("organization_memory.py", "--accounts", "4", "--secrets", "500"),
    "organization_burst": ("organization_burst.py",),
    "organization_burst --window 0": ("organization_burst.py", "--window", "0"),
}


def machine() -> dict[str, object]:
    """What the figures were measured on: cores, the load average (1, 5, 15 minutes) at this moment, and the
    benchmarks' own niceness (a niced run on a shared machine gets a smaller share of it)."""
    return {"cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()], "nice": os.nice(0)}


def measure(key: str) -> dict[str, object]:
    """One benchmark in its own process: its JSON object, exit status, when and on what it was measured."""
    script, *arguments = BENCHMARKS[key]
    before, started = machine(), time.perf_counter()
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--json", *arguments], capture_output=True, text=True, check=False
    )
    try:
        figures = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise SystemExit(f"{key}: no JSON object (exit {done.returncode}):\n{done.stderr[-2000:]}") from None
    return {
        "command": " ".join(["python", f"bench/{script}", "--json", *arguments]),
        "exit": done.returncode,  # 1: a target the script checks was not met (its figures say which)
        "measured_at": when,
        "minutes": round((time.perf_counter() - started) / 60, 1),
        "machine": {"before": before, "after": machine()},
        "figures": figures,
    }


def main() -> int:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run these; keep the others' entries")
    arguments.add_argument("--results", type=Path, default=RESULTS)
    chosen = arguments.parse_args()
    results = json.loads(chosen.results.read_text()) if chosen.results.exists() else {}
    for key in chosen.only or BENCHMARKS:
        print(f"{key} ...", file=sys.stderr, flush=True)
        results[key] = measure(key)
        # Written after each benchmark: an interrupted run keeps what it measured.
        ordered = {k: results[k] for k in BENCHMARKS if k in results}
        chosen.results.write_text(json.dumps(ordered, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
