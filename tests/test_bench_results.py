"""The benchmarks a machine reads (#21 item 5): every bench script takes --json, `make bench` runs every one of them
into bench/results.json, and the tables of docs/performance.md are that file's rendering, never edited by hand."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
TOOLS = {"run.py", "render.py"}  # they run and render the benchmarks; they are not benchmarks
SCRIPTS = sorted(p.name for p in BENCH.glob("*.py") if not p.name.startswith("_") and p.name not in TOOLS)


def bench_module(name: str) -> ModuleType:
    """A bench tool (standard library only) loaded from its file: bench/ is not a package."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render = bench_module("render")
run = bench_module("run")


# Each script's --help in one interpreter (their imports, moto's included, made once): a dict of what each printed.
HELP_OF_EACH = """
import contextlib, io, json, runpy, sys
answers = {}
for path in sys.argv[1:]:
    sys.argv = [path, "--help"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            runpy.run_path(path, run_name="__main__")
            code = "ran"
        except SystemExit as exc:
            code = exc.code
    answers[path] = {"exit": code, "help": out.getvalue()}
print(json.dumps(answers))
"""


def test_every_benchmark_takes_json() -> None:
    """Cheaply: their arguments, not a run. --help exits before anything is built or measured."""
    paths = [str(BENCH / script) for script in SCRIPTS]
    done = subprocess.run(
        [sys.executable, "-c", HELP_OF_EACH, *paths],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
        check=True,
    )
    answers = json.loads(done.stdout.splitlines()[-1])
    assert {Path(p).name: (a["exit"], "--json" in a["help"]) for p, a in answers.items()} == {
        script: (0, True) for script in SCRIPTS
    }


def test_make_bench_runs_every_benchmark() -> None:
    assert {argv[0] for argv in run.BENCHMARKS.values()} == set(SCRIPTS)
    assert "bench/run.py" in (ROOT / "Makefile").read_text()


def test_the_page_is_the_rendering_of_the_committed_results() -> None:
    page = render.PAGE.read_text()
    results = json.loads(render.RESULTS.read_text())
    assert render.render_page(page, results) == page, "run `python bench/render.py` after `make bench`"


def test_a_figure_edited_by_hand_is_not_the_rendering() -> None:
    page = render.PAGE.read_text()
    results = json.loads(render.RESULTS.read_text())
    start = page.index("<!-- bench: burst -->")
    row = page.index("| 60 s | applies in order | 5,000 |", start)
    edited = page[:row] + page[row:].replace("| 5,000 |", "| 4,999 |", 1)
    assert render.render_page(edited, results) == page != edited


def test_every_results_entry_says_when_and_on_what_it_was_measured() -> None:
    results = json.loads(render.RESULTS.read_text())
    assert set(results) <= set(run.BENCHMARKS)  # one not measured yet is shown as such on the page
    for key, found in results.items():
        assert found["measured_at"] and found["machine"]["before"]["cpus"], key
        assert "_Measured " in render.measured(found)
