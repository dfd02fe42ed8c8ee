"""`sam build`, as a SAM user runs it first, on what a fresh clone holds: the SAM CLI itself (in .venv-sam, its pins
clash with ours; `make test` makes it) runs the template's makefile build method, without Docker and without a local
python3.13. The Makefile's build-<Function> targets run scripts/package_lambda.py, as `make package` does."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

from tests.packaging_checks import assert_built_for_the_runtime, assert_handlers_import, download, runtime_version

ROOT = Path(__file__).resolve().parents[1]
SAM = Path(os.environ.get("SAM", ROOT / ".venv-sam" / "bin" / "sam"))
# The outer `make test` must not reach the make that SAM starts (jobserver, level); nor a chosen target Python.
NOT_PASSED = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEFILES", "LAMBDA_PYTHON"}


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: r for n, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}


def parse(path: Path) -> dict[str, Any]:
    parsed, errors = decode(str(path))
    assert not errors and parsed is not None, errors
    return dict(parsed)


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files git holds (and new ones it does not ignore): no .venv, no build/package, no .aws-sam. The wheels
    are shared with the checkout's .wheelhouse, downloaded once for every build."""
    assert SAM.exists(), f"{SAM} is missing: `make test` installs it (make .venv-sam/.installed, or set SAM)"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    dest = tmp_path_factory.mktemp("clone")
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a file deleted and not yet committed is listed too
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)  # with its time: .wheelhouse's stamps stay newer than pyproject.toml
    (ROOT / ".wheelhouse").mkdir(exist_ok=True)
    (dest / ".wheelhouse").symlink_to(ROOT / ".wheelhouse")
    return dest


def sam(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in NOT_PASSED}
    environment.update(SAM_CLI_TELEMETRY="0", **env)
    return subprocess.run(
        [str(SAM), *args],
        cwd=cwd,
        env=environment,
        stdin=subprocess.DEVNULL,  # a prompt (sam sync's) ends the command instead of waiting
        capture_output=True,
        text=True,
        timeout=600,
    )


def sam_build(clone: Path, *args: str, **env: str) -> None:
    done = sam(clone, "build", *args, **env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def files_under(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_sam_builds_every_function_from_the_source_with_the_makefile() -> None:
    """Not from build/package (the output of `make package`, absent from a fresh clone), and never in Docker."""
    template = parse(ROOT / "template.yaml")
    assert functions(template)
    for name, function in functions(template).items():
        assert function["Properties"]["CodeUri"] == "."
        assert function["Metadata"] == {"BuildMethod": "makefile"}
        dry_run = subprocess.run(
            ["make", "-n", f"build-{name}", "ARTIFACTS_DIR=/artifacts"],
            cwd=ROOT,
            env={k: v for k, v in os.environ.items() if k not in NOT_PASSED},
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        assert f'scripts/package_lambda.py build --python-version {runtime_version()} --out "/artifacts"' in dry_run
        # The approval page ships its handler's import closure only (tests/test_approval_artifact.py); the worker all.
        handler_module = function["Properties"]["Handler"].rsplit(".", 1)[0]
        closure_only = f"--handler {handler_module}" in dry_run
        assert closure_only is (name == "ApprovalFunction"), dry_run
    assert "build_in_source = true" in (ROOT / "samconfig.toml").read_text()


@pytest.mark.packaging
def test_sam_build_gives_artifacts_for_the_runtime(clone: Path) -> None:
    """Plain `sam build`, as the README says: the artifact of each function is for the template's runtime."""
    sam_build(clone)
    built = clone / ".aws-sam" / "build"
    template = parse(built / "template.yaml")
    assert set(functions(template)) == set(functions(parse(ROOT / "template.yaml")))
    for name, function in functions(template).items():
        assert function["Properties"]["CodeUri"] == name
        closure_of = function["Properties"]["Handler"].rsplit(".", 1)[0] if name == "ApprovalFunction" else None
        assert_built_for_the_runtime(built / name, runtime_version(), closure_of=closure_of)


@pytest.mark.packaging
def test_handlers_of_a_sam_build_import_in_a_clean_environment(clone: Path, tmp_path: Path) -> None:
    """The same build for this machine's Python (LAMBDA_PYTHON, which the Makefile honours), so that each
    function's artifact can be imported here, next to boto3 alone, as Lambda would."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    built = tmp_path / "build"
    sam_build(clone, "--build-dir", str(built), LAMBDA_PYTHON=version)
    template = parse(built / "template.yaml")
    packages = []
    for function in functions(template).values():
        module, handler = function["Properties"]["Handler"].rsplit(".", 1)
        packages.append((built / function["Properties"]["CodeUri"], module, handler))
    assert len(packages) == len(functions(parse(ROOT / "template.yaml")))
    assert_handlers_import(packages, download(version), tmp_path / "runtime")


@pytest.mark.packaging
def test_sam_build_or_sync_of_the_member_template_stops_and_leaves_the_hubs_build(clone: Path) -> None:
    """org/member.yaml is plain CloudFormation. `sam build -t` it (from the root or from org/) and `sam sync -t` it
    stop before they write, saying why and where to read on (org/samconfig.toml); the hub's build, which a plain
    `sam deploy` deploys, is as it was, and no member build is made anywhere."""
    hub_build = clone / ".aws-sam" / "build"
    if not (hub_build / "template.yaml").exists():  # no plain `sam build` ran in this clone yet: a stand-in of one
        hub_build.mkdir(parents=True, exist_ok=True)
        shutil.copy2(clone / "template.yaml", hub_build / "template.yaml")
    before = files_under(clone / ".aws-sam")
    for cwd, command in [
        (clone, ["build", "-t", "org/member.yaml"]),
        (clone / "org", ["build", "-t", "member.yaml"]),
        (clone, ["sync", "-t", "org/member.yaml", "--stack-name", "rotation-doctor", "--no-watch"]),
    ]:
        done = sam(cwd, *command)
        said = " ".join(done.stderr.split())  # as one line, whatever the terminal's width
        assert done.returncode == 2, done.stdout[-3000:] + done.stderr[-3000:]
        assert f"org/member.yaml is plain CloudFormation with nothing to {command[0]}" in said, said
        assert "see org/README.md" in said
    assert files_under(clone / ".aws-sam") == before
    assert not list(clone.glob("**/org/.aws-sam"))


def test_sam_deploy_of_the_member_template_names_the_members_stack_never_the_hubs() -> None:
    """`sam deploy -t org/member.yaml` reads org/samconfig.toml (the file the test above shows SAM reading): the
    member's own stack, as docs/organization.md names it, with the capability its named role needs."""
    member = tomllib.loads((ROOT / "org" / "samconfig.toml").read_text())["default"]["deploy"]["parameters"]
    assert member == {"stack_name": "rotation-doctor-member", "capabilities": "CAPABILITY_NAMED_IAM"}
    assert "--stack-name rotation-doctor-member --capabilities CAPABILITY_NAMED_IAM" in " ".join(
        (ROOT / "docs" / "organization.md").read_text().split()
    )
