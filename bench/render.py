"""The tables of docs/performance.md, written from bench/results.json (what `make bench` measured).

The page holds each table between two markers, `<!-- bench: NAME -->` and `<!-- /bench: NAME -->`; what lies between
them is written here and nowhere else (tests/test_bench_results.py holds the committed page equal to the rendering of
the committed results). Each table maps the script's column names to the page's (`seconds (moto)` is `seconds`
there, ...); a column a script adds and no mapping names is shown under its own name, so a new figure appears on the
next `make bench` without a change here. Each table ends with when it was measured and how loaded the machine was.

    python bench/render.py            # rewrite docs/performance.md
    python bench/render.py --check    # exit 1 if the page is not the rendering of the results
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results.json"
PAGE = BENCH.parent / "docs" / "performance.md"
REGION = re.compile(r"(<!-- bench: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /bench: (?P=name) -->)", re.DOTALL)

Results = Mapping[str, Any]
Columns = Mapping[str, str | None]  # the script's column -> the page's (None: not shown)
Renderer = Callable[[Results], str]  # the results -> a region's text


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def cell(value: object) -> str:
    """A figure as the page shows it: thousands separated, text as the script wrote it."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("|", "\\|")


class NotMeasured(Exception):
    """The results file has no entry for a benchmark a table shows: the table says so, and how to measure it."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key

    def note(self) -> str:
        return (
            f'_Not measured yet: `bench/results.json` has no `{self.key}`; `python bench/run.py --only "{self.key}"`._'
        )


def entry(results: Results, key: str) -> Mapping[str, Any]:
    if key not in results:
        raise NotMeasured(key)
    found: Mapping[str, Any] = results[key]
    return found


def measured(*entries: Mapping[str, Any]) -> str:
    """When and on what: the cores and the load average (one minute) before and after each run, and whether the
    machine was loaded (more runnable work than cores), which makes every time slower than on a quiet machine."""
    dates = sorted({e["measured_at"][:10] for e in entries})
    cpus = max(e["machine"]["before"]["cpus"] for e in entries)
    loads = [e["machine"][when]["load_average"][0] for e in entries for when in ("before", "after")]
    spread = (
        f"{min(loads):.1f}" if f"{min(loads):.1f}" == f"{max(loads):.1f}" else f"{min(loads):.1f} to {max(loads):.1f}"
    )
    note = f"_Measured {', '.join(dates)} on {cpus} cores, load average {spread}"
    nice = max(e["machine"]["before"].get("nice", 0) for e in entries)
    note += f", at nice {nice}" if nice else ""
    if max(loads) > cpus:
        note += (
            ": a loaded machine (more runnable work than cores, the benchmark included), "
            "so the times are slower than on a quiet one"
        )
    return note + "._"


def script_table(results: Results, key: str, columns: Columns, index: int = 0) -> tuple[list[str], list[list[Any]]]:
    """A table a script printed, its columns renamed (or dropped) for the page."""
    found = entry(results, key)["figures"]["tables"][index]
    kept = [i for i, name in enumerate(found["header"]) if columns.get(name, name) is not None]
    header = [columns.get(found["header"][i]) or found["header"][i] for i in kept]
    return header, [[row[i] for i in kept] for row in found["rows"]]


def simple(key: str, columns: Columns, summary: Callable[[Mapping[str, Any]], str] | None = None) -> Renderer:
    """A script's one table, renamed, with a summary line of its named figures and the machine note."""

    def render(results: Results) -> str:
        header, rows = script_table(results, key, columns)
        lines = [markdown_table(header, rows), ""]
        if summary is not None:
            lines += [summary(entry(results, key)["figures"]), ""]
        return "\n".join([*lines, measured(entry(results, key))])

    return render


def diagnose_summary(figures: Mapping[str, Any]) -> str:
    # Issue #19's bounds: the median at most 15 calls, no diagnosis over 25; a transit gateway on the Secrets Manager
    # path adds at most 6 to the NAT path it replaces.
    median, most = figures["calls_median"], figures["calls_max"]
    egress = figures.get("centralized_egress_adds")
    met = "met" if median <= 15 and most <= 25 and (egress is None or egress <= 6) else "NOT met"
    adds = f", centralized egress adds {egress} (≤ 6)" if egress is not None else ""
    return f"Median {median:.0f} calls, at most {most}{adds} (targets: median ≤ 15, never more than 25: {met})."


def scan_summary(figures: Mapping[str, Any]) -> str:
    return f"Target, 1,000 secrets in at most 120 calls: {'met' if figures['target_met'] else 'NOT met'}."


COLD_START_ROWS = {"boto3, handlers.worker": "(all a container loads before its first AWS call)"}


def cold_start(results: Results) -> str:
    """One row per import the script timed (whatever it times), as ratios of a bare `import boto3`; then every other
    figure it reports, by name."""
    found = entry(results, "cold_start")
    figures = found["figures"]
    wall, cpu = figures["wall_ms"], figures["cpu_ms"]
    rows = [
        [
            f"`{module}` {COLD_START_ROWS.get(module, '')}".strip(),
            f"{wall[module]:.0f}",
            f"{wall[module] / wall['boto3']:.2f}",
            f"{cpu[module]:.0f}",
            f"{cpu[module] / cpu['boto3']:.2f}",
        ]
        for module in wall
    ]
    header = ["import", "wall ms", "x boto3 (wall)", "CPU ms", "x boto3 (CPU)"]
    lines = [markdown_table(header, rows), ""]
    for table in figures.get("tables", []):
        lines += [markdown_table(table["header"], table["rows"]), ""]
    others = {k: v for k, v in figures.items() if k not in ("wall_ms", "cpu_ms", "tables")}
    if others:
        lines += ["Its other figures: " + "; ".join(f"`{k}` {json.dumps(v)}" for k, v in others.items()) + ".", ""]
    return "\n".join([*lines, measured(found)])


BURST_KEYS = ("organization_burst", "organization_burst --window 0")
# The burst's figures (per queue order), in the page's order and words; a figure not named here follows, by its key.
BURST_COLUMNS = {
    "events": "events",
    "invocations": "invocations",
    "places_per_batch": "account-regions per batch (mean)",
    "secrets_affected": "secrets affected",
    "diagnoses": "diagnoses",
    "diagnoses_per_secret": "diagnoses per affected secret",
    "windows": "windows (account-region, 60 s quiet)",
    "diagnoses_per_secret_per_window": "diagnoses per affected secret per window",
    "windows_settled": "windows settled",
    "coalesced": "coalesced",
    "aws_calls": "AWS calls (reads)",
    "reads_per_event": "reads per event",
    "assume_role": "AssumeRole",
    "dynamodb_calls": "DynamoDB calls",
    "settle_messages": "settle messages",
    "seconds": "seconds",
    "cpu_seconds": "CPU seconds",
}


def burst(results: Results) -> str:
    """Both queue orders, with the settle window and without it (as before it existed)."""
    found = [entry(results, key) for key in BURST_KEYS]
    rows: list[list[Any]] = []
    keys = list(BURST_COLUMNS)
    for run in found:
        for row in run["figures"]["orders"].values():
            keys += [k for k in row if k not in keys]
    for run in found:
        window = run["figures"]["window_seconds"]
        for order, row in run["figures"]["orders"].items():
            rows.append([f"{window} s" if window else "none", order, *(row.get(k, "-") for k in keys)])
    header = ["settle window", "queue order", *(BURST_COLUMNS.get(k, k) for k in keys)]
    return "\n".join([markdown_table(header, rows), "", measured(*found)])


def memory(key: str) -> Renderer:
    return simple(key, {"exit": None})


SECONDS = {"seconds (moto)": "seconds"}
RENDERERS: dict[str, Renderer] = {
    "diagnose": simple("diagnose_calls", {"ms (moto, in process)": "ms"}, diagnose_summary),
    "scan": simple("scan_calls", SECONDS, scan_summary),
    "fix": simple("fix_calls", {"ms (moto)": "ms"}),
    "cold-start": cold_start,
    "change": simple("change_calls", SECONDS),
    "organization-scan": simple("organization_scan", SECONDS),
    "memory-small": memory("organization_memory --secrets 50"),
    "memory-large": memory("organization_memory --accounts 4 --secrets 500"),
    "burst": burst,
}


def render_page(page: str, results: Results) -> str:
    """The page with every region's body written from the results; a region without a renderer, or a renderer
    without its region, is an error (a table must not silently stop being generated)."""
    names = [m["name"] for m in REGION.finditer(page)]
    if sorted(names) != sorted(RENDERERS):
        raise SystemExit(f"the page's regions {sorted(names)} are not the renderers' {sorted(RENDERERS)}")

    def region(name: str) -> str:
        try:
            return RENDERERS[name](results)
        except NotMeasured as missing:
            return missing.note()

    return REGION.sub(lambda m: m[1] + region(m["name"]) + "\n" + m[4], page)


def main() -> int:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--check", action="store_true", help="exit 1 if the page is not the results' rendering")
    chosen = arguments.parse_args()
    page = PAGE.read_text()
    rendered = render_page(page, json.loads(RESULTS.read_text()))
    if chosen.check:
        return 0 if rendered == page else 1
    PAGE.write_text(rendered)
    return 0


if __name__ == "__main__":
    sys.exit(main())
