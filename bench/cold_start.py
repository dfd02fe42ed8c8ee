"""Cold start: each handler module the template names, imported in a fresh interpreter, against a bare `import boto3`.

A figure is a whole process (`python -c "import ..."`, interpreter start included): what a container's INIT costs.
Runs are interleaved (boto3, then each handler, round after round) so load on the machine falls on all alike, and
each figure is the median of RUNS (`--runs N` for another count). Two clocks: wall time (what the issues bound: the
worker at most 1.5x boto3, the approval function at most 1.2x, tests/test_approval_artifact.py holding the latter with
a median of 9) and the process's CPU time (user + system), which a busy machine disturbs far less.

Tracing is on, as in Lambda with `Tracing: Active`: `POWERTOOLS_TRACE_DISABLED` unset and `LAMBDA_TASK_ROOT` set
(Powertools disables its tracer where that is missing). The worker makes its tracer, and patches botocore, on its
first invocation; what that moves out of the import is measured too (`tracer`, in a process that has imported the
worker and boto3). Run: `make bench`.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _output import finish, options, parser, say  # standard library only: not _account, which imports moto

ROOT = Path(__file__).resolve().parents[1]
RUNS = 21
TARGETS = {  # each handler's import, at most this many times a bare `import boto3` (wall time)
    "handlers.worker": 1.5,
    "handlers.approval": 1.2,  # the approval page's artifact holds only what the page needs (issue #21)
}
# As in Lambda: tracing on, a region and credentials in the environment (no call is made).
ENV = {
    **{k: v for k, v in os.environ.items() if k != "POWERTOOLS_TRACE_DISABLED"},
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "x",
    "AWS_SECRET_ACCESS_KEY": "x",
    "POWERTOOLS_SERVICE_NAME": "rotation-doctor",
    "PYTHONPATH": str(ROOT),
    "AWS_LAMBDA_FUNCTION_NAME": "rotation-doctor-worker",
    "LAMBDA_TASK_ROOT": str(ROOT),
    "_X_AMZN_TRACE_ID": "",
}
# The tracer the worker makes on its first invocation: the X-Ray SDK's import and botocore's patch.
FIRST_INVOCATION_PROBE = (
    "import time, boto3, handlers.worker as w; t = time.perf_counter(); w.tracer.tracer; print(time.perf_counter() - t)"
)


def handler_modules() -> list[str]:
    text = (ROOT / "template.yaml").read_text()
    return sorted(
        {
            line.split("Handler:")[1].strip().rsplit(".", 1)[0]
            for line in text.splitlines()
            if line.strip().startswith("Handler:")
        }
    )


def one_process(code: str) -> tuple[float, float]:
    """Wall and CPU seconds of a fresh interpreter running `code`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=ENV, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def measure(modules: list[str], runs: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall and CPU seconds of `import m` for each of `modules`, `runs` times, interleaved."""
    walls: dict[str, list[float]] = {m: [] for m in modules}
    cpus: dict[str, list[float]] = {m: [] for m in modules}
    for module in modules:  # once each unmeasured: bytecode caches written, files in the page cache
        one_process(f"import {module}")
    for _ in range(runs):
        for module in modules:
            wall, cpu = one_process(f"import {module}")
            walls[module].append(wall)
            cpus[module].append(cpu)
    return walls, cpus


def main() -> int:
    arguments = parser(__doc__)
    arguments.add_argument("--runs", type=int, default=RUNS, help=f"interleaved runs of each import (default {RUNS})")
    runs: int = options(arguments).runs
    # The worker loads boto3 itself only when its first invocation makes clients: the last row is both, what a
    # container has imported before its first AWS call.
    modules = ["boto3", *handler_modules(), "boto3, handlers.worker"]
    walls, cpus = measure(modules, runs)
    wall_base, cpu_base = statistics.median(walls["boto3"]), statistics.median(cpus["boto3"])
    say(f"whole processes, median of {runs} interleaved runs, tracing on")
    say(f"import boto3: {wall_base * 1000:.0f} ms wall, {cpu_base * 1000:.0f} ms CPU")
    ratios: dict[str, float] = {}
    for module in modules[1:]:
        wall, cpu = statistics.median(walls[module]), statistics.median(cpus[module])
        ratio = wall / wall_base
        if module in TARGETS:
            ratios[module] = ratio
        say(
            f"import {module}: {wall * 1000:.0f} ms wall, {ratio:.2f}x boto3; "
            f"{cpu * 1000:.0f} ms CPU, {cpu / cpu_base:.2f}x boto3"
        )
    tracer = statistics.median(
        float(
            subprocess.run(
                [sys.executable, "-c", FIRST_INVOCATION_PROBE], env=ENV, check=True, capture_output=True, text=True
            ).stdout.split()[-1]
        )
        for _ in range(runs)
    )
    say(f"the worker's first invocation makes its tracer (X-Ray SDK, botocore patched): {tracer * 1000:.0f} ms")
    for module, ratio in ratios.items():
        say(f"{module} ratio {ratio:.2f} (target: at most {TARGETS[module]})")
    figures = {
        "runs": runs,
        "wall_ms": {m: round(statistics.median(walls[m]) * 1000, 1) for m in modules},
        "cpu_ms": {m: round(statistics.median(cpus[m]) * 1000, 1) for m in modules},
        "tracer_ms": round(tracer * 1000, 1),
        "worker_ratio": round(ratios["handlers.worker"], 2),
        "approval_ratio": round(ratios["handlers.approval"], 2),
    }
    finish(**figures)
    return 0 if all(ratio <= TARGETS[module] for module, ratio in ratios.items()) else 1


if __name__ == "__main__":
    sys.exit(main())
