"""The approval function's artifact holds only what its page needs (issue #21): the import closure of its handler
(scripts/import_closure.py, as scripts/package_lambda.py computes it for `sam build`), with no fix kind and no EC2
code; it is at most a third of the worker's artifact, and its import at most 1.2x a bare `import boto3`."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import pytest

from tests.packaging_checks import assert_handlers_import, build
from tests.scripts_as_modules import OURS, import_closure, load_script

ROOT = Path(__file__).resolve().parents[1]
HANDLER = "handlers.approval"
# What the page must never carry: the fix kinds, the code that reads the account's network (EC2 and the rest) or
# reasons over it, the one writer, the worker's Security Hub findings and account switching, and what only the CLI
# or the tests use. Of collect/, only `aws` (the clients) is the page's.
NOT_THE_PAGES = (
    "remediations",
    "rotation_doctor.netsem",
    "rotation_doctor.analysis",
    "rotation_doctor.examine",
    "rotation_doctor.planning",
    "rotation_doctor.apply.executor",
    "rotation_doctor.notify.security_hub",
    "rotation_doctor.whatif",
    "rotation_doctor.service",
    "rotation_doctor.simulated",
    "rotation_doctor.cli",
)
ALLOWED_OF_COLLECT = {"rotation_doctor.collect", "rotation_doctor.collect.aws"}
IMPORT_RATIO = 1.2
SIZE_RATIO = 1 / 3


def not_the_pages(modules: set[str]) -> list[str]:
    """The modules of `modules` the approval page must not carry."""
    return sorted(
        m
        for m in modules
        if any(m == bad or m.startswith(bad + ".") for bad in NOT_THE_PAGES)
        or (m.startswith("rotation_doctor.collect") and m not in ALLOWED_OF_COLLECT)
    )


def our_closure(*search: Path) -> set[str]:
    modules, _ = import_closure.closure([HANDLER], [*search, ROOT])
    return {m for m in modules if m.split(".")[0] in OURS}


def test_the_approval_path_imports_no_fix_kind_and_no_ec2_code() -> None:
    """Every import counts, lazy ones inside functions included (they run on some request); only imports a type
    checker reads do not."""
    closure = our_closure()
    assert {HANDLER, "rotation_doctor.approvals.store", "rotation_doctor.notify.dispatch"} <= closure
    assert not_the_pages(closure) == []


@pytest.mark.parametrize(
    "added", ["from remediations import REGISTRY", "from rotation_doctor.collect.collector import Collector"]
)
def test_a_lazy_import_of_ec2_code_on_the_approval_path_is_seen(tmp_path: Path, added: str) -> None:
    """The check above could not pass with a fix kind or the collector added to the page's path, however deep."""
    notify = tmp_path / "rotation_doctor" / "notify"
    notify.mkdir(parents=True)
    for package in (tmp_path / "rotation_doctor", notify):
        (package / "__init__.py").write_text("")
    source = (ROOT / "rotation_doctor" / "notify" / "messages.py").read_text()
    (notify / "messages.py").write_text(f"{source}\n\ndef _later() -> None:\n    {added}\n")
    assert added.split()[1] in not_the_pages(our_closure(tmp_path))


def tree_size(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())


@pytest.mark.packaging
def test_the_approval_artifact_is_a_third_of_the_workers_and_serves_in_a_clean_environment(tmp_path: Path) -> None:
    """Built as `sam build` builds each function (the Makefile's build-<Function>), for this machine's Python so that
    it can be imported here next to boto3 alone."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    worker, approval = tmp_path / "worker", tmp_path / "approval"
    build(version, worker)
    wheelhouse = build(version, approval, "--handler", HANDLER)
    shipped = {
        ".".join(path.relative_to(approval).with_suffix("").parts).removesuffix(".__init__")
        for path in approval.rglob("*.py")
    }
    assert not_the_pages(shipped) == []
    assert not (approval / "remediations").exists() and not (approval / "rotation_doctor" / "netsem").exists()
    assert tree_size(approval) <= tree_size(worker) * SIZE_RATIO, (tree_size(approval), tree_size(worker))
    assert_handlers_import([(approval, HANDLER, "handler")], wheelhouse, tmp_path / "runtime")


def test_importing_the_approval_handler_costs_at_most_1_2_times_boto3() -> None:
    """Whole processes, as bench/cold_start.py measures them (tracing on, as in Lambda): the median of 9 runs,
    interleaved with `import boto3`, in one run of the bench's own measure."""
    cold_start = load_script(ROOT / "bench" / "cold_start.py")
    walls, _ = cold_start.measure(["boto3", HANDLER], runs=9)
    ratio = statistics.median(walls[HANDLER]) / statistics.median(walls["boto3"])
    assert ratio <= IMPORT_RATIO, f"import {HANDLER}: {ratio:.2f}x import boto3"
