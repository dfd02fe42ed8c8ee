"""Cold start: the time to import each handler module the template names, against a bare `import boto3`.

Each figure is the median of several fresh interpreter processes (the import cost of one container's
first invocation); the ratio is what the issue bounds (at most 2.5). Run: `make bench`.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = 9
PROBE = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
# As in Lambda: tracing on, a region and credentials in the environment (no call is made).
ENV = {
    **os.environ,
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "x",
    "AWS_SECRET_ACCESS_KEY": "x",
    "POWERTOOLS_SERVICE_NAME": "rotation-doctor",
    "PYTHONPATH": str(ROOT),
    "AWS_LAMBDA_FUNCTION_NAME": "rotation-doctor-worker",
    "_X_AMZN_TRACE_ID": "",
}


def import_seconds(module: str) -> float:
    times = []
    for _ in range(RUNS):
        out = subprocess.run(
            [sys.executable, "-c", PROBE.format(module=module)], env=ENV, check=True, capture_output=True, text=True
        )
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def handler_modules() -> list[str]:
    text = (ROOT / "template.yaml").read_text()
    return sorted(
        {
            line.split("Handler:")[1].strip().rsplit(".", 1)[0]
            for line in text.splitlines()
            if line.strip().startswith("Handler:")
        }
    )


def main() -> int:
    baseline = import_seconds("boto3")
    print(f"import boto3: {baseline * 1000:.0f} ms (median of {RUNS} fresh processes)")
    worst = 0.0
    for module in handler_modules():
        seconds = import_seconds(module)
        worst = max(worst, seconds / baseline)
        print(f"import {module}: {seconds * 1000:.0f} ms, {seconds / baseline:.2f}x boto3")
    print(f"worst ratio {worst:.2f} (target: at most 2.5)")
    return 0 if worst <= 2.5 else 1


if __name__ == "__main__":
    sys.exit(main())
