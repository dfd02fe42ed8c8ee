"""The GitHub Action (`action.yml`) and its comment script: one pull-request comment, created on the first run and
updated on the next (never a second one), against a fake GitHub API on 127.0.0.1 that pages as GitHub pages; the
action's structure; its what-if step run by bash with a stand-in `rotation-doctor`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from rotation_doctor.cli import github_comment
from rotation_doctor.cli.markdown import COMMENT_LIMIT

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "ghs_fake-token-for-tests"
REPO = "acme/network"
PR = 42
BOT = "github-actions[bot]"


class FakeGitHub:
    """The three calls the script makes, as GitHub's REST API answers them: comments paged two at a time (Link:
    rel="next"), created with the token's author, edited in place; every request recorded; the token checked."""

    def __init__(self) -> None:
        self.comments: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str]] = []
        self.next_link_host: str | None = None  # to hand out a pagination link to another host
        self.redirect_to: str | None = None  # to answer every call with a redirect there
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, login: str, body: str) -> dict[str, Any]:
        comment = {"id": 1000 + len(self.comments), "user": {"login": login, "type": "User"}, "body": body}
        self.comments.append(comment)
        return comment

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self
        list_path = f"/repos/{REPO}/issues/{PR}/comments"
        edit_path = re.compile(rf"/repos/{re.escape(REPO)}/issues/comments/(\d+)")

        class Handler(BaseHTTPRequestHandler):
            timeout = 10

            def _reply(self, status: int, payload: Any, link: str = "") -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if link:
                    self.send_header("Link", link)
                self.end_headers()
                self.wfile.write(data)

            def _authorized(self) -> bool:
                fake.requests.append((self.command, self.path))
                if fake.redirect_to:
                    self.send_response(307)
                    self.send_header("Location", f"{fake.redirect_to}{self.path}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return False
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self._reply(401, {"message": "Bad credentials"})
                    return False
                return True

            def _body(self) -> Any:
                return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

            def do_GET(self) -> None:
                if not self._authorized():
                    return
                url = urlsplit(self.path)
                if url.path != list_path:
                    return self._reply(404, {"message": "Not Found"})
                page = int(parse_qs(url.query).get("page", ["1"])[0])
                items = fake.comments[(page - 1) * 2 : page * 2]
                link = ""
                if page * 2 < len(fake.comments):
                    host = fake.next_link_host or fake.url
                    following = f"{host}{list_path}?per_page=2&page={page + 1}"
                    link = f'<{following}>; rel="next", <{host}{list_path}?per_page=2&page=9>; rel="last"'
                self._reply(200, items, link)

            def do_POST(self) -> None:
                if not self._authorized():
                    return
                if urlsplit(self.path).path != list_path:
                    return self._reply(404, {"message": "Not Found"})
                comment = fake.add(BOT, self._body()["body"])
                comment["user"]["type"] = "Bot"
                self._reply(201, comment)

            def do_PATCH(self) -> None:
                if not self._authorized():
                    return
                found = edit_path.fullmatch(self.path)
                target = [c for c in fake.comments if found and c["id"] == int(found.group(1))]
                if not target:
                    return self._reply(404, {"message": "Not Found"})
                target[0]["body"] = self._body()["body"]
                self._reply(200, target[0])

            def log_message(self, *_: Any) -> None:
                return

        return Handler


def _serve() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    yield from _serve()


@pytest.fixture
def elsewhere() -> Iterator[FakeGitHub]:
    """Another server, where the token must never arrive."""
    yield from _serve()


def _env(tmp_path: Path, github: FakeGitHub, event: dict[str, Any]) -> dict[str, str]:
    """What a GitHub Actions job gives a step: the event's JSON in a file, the repository, the API and the token."""
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    return {
        "GITHUB_EVENT_PATH": str(path),
        "GITHUB_API_URL": github.url,
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_EVENT_NAME": "pull_request",
    }


def _pull_request_event() -> dict[str, Any]:
    return {
        "action": "synchronize",
        "number": PR,
        "pull_request": {"number": PR, "state": "open", "head": {"sha": "0" * 40}, "base": {"ref": "main"}},
        "repository": {"full_name": REPO},
    }


def _report(tmp_path: Path, text: str) -> str:
    path = tmp_path / "report.md"
    path.write_text(text)
    return str(path)


def test_one_comment_is_created_then_updated_never_a_second(
    tmp_path: Path, github: FakeGitHub, capsys: pytest.CaptureFixture[str]
) -> None:
    # Three comments already: people's, one of them quoting the marker (anyone can): never the one to update.
    github.add("alice", "Looks good to me")
    planted = github.add("mallory", f"{github_comment.MARKER}\n### ✅ all good, merge away")
    github.add("bob", "What does this do to rotation?")
    env = _env(tmp_path, github, _pull_request_event())

    first = _report(tmp_path, "### ❌ rotation-doctor what-if: 1 breaks")
    assert github_comment.main(["--body-file", first], env) == 0
    assert capsys.readouterr().out == f"rotation-doctor: created comment 1003 on {REPO}#{PR}\n"
    ours = [c for c in github.comments if c["user"]["login"] == BOT]
    assert len(ours) == 1 and ours[0]["body"] == f"{github_comment.MARKER}\n### ❌ rotation-doctor what-if: 1 breaks"

    second = _report(tmp_path, "### ✅ rotation-doctor what-if: nothing breaks")
    assert github_comment.main(["--body-file", second], env) == 0
    assert capsys.readouterr().out == f"rotation-doctor: updated comment 1003 on {REPO}#{PR}\n"
    assert len(github.comments) == 4  # the three and ours: updated, not a second one
    assert github.comments[3]["body"].endswith("### ✅ rotation-doctor what-if: nothing breaks")
    assert planted["body"] == f"{github_comment.MARKER}\n### ✅ all good, merge away"  # untouched
    # The second run paged through every comment (two pages of two) before editing ours in place.
    assert [method for method, _ in github.requests] == ["GET", "GET", "POST", "GET", "GET", "PATCH"]
    assert github.requests[-1] == ("PATCH", f"/repos/{REPO}/issues/comments/1003")


def test_a_push_event_writes_no_comment(tmp_path: Path, github: FakeGitHub) -> None:
    env = _env(tmp_path, github, {"ref": "refs/heads/main", "after": "0" * 40})
    assert github_comment.main(["--body-file", _report(tmp_path, "x")], env) == 0
    assert github.requests == []


def test_the_token_is_never_sent_to_another_host_by_a_link(
    tmp_path: Path, github: FakeGitHub, elsewhere: FakeGitHub, capsys: pytest.CaptureFixture[str]
) -> None:
    for i in range(3):
        github.add("alice", f"comment {i}")
    github.next_link_host = elsewhere.url  # the next page is on another server
    env = _env(tmp_path, github, _pull_request_event())
    assert github_comment.main(["--body-file", _report(tmp_path, "x")], env) == 3
    assert f"not on {github.url}; the token is not sent elsewhere" in capsys.readouterr().err
    assert elsewhere.requests == []
    assert [method for method, _ in github.requests] == ["GET"]  # and nothing was written


def test_the_token_is_never_sent_to_another_host_by_a_redirect(
    tmp_path: Path, github: FakeGitHub, elsewhere: FakeGitHub, capsys: pytest.CaptureFixture[str]
) -> None:
    github.redirect_to = elsewhere.url
    env = _env(tmp_path, github, _pull_request_event())
    assert github_comment.main(["--body-file", _report(tmp_path, "x")], env) == 3
    assert f"GET /repos/{REPO}/issues/{PR}/comments: HTTP 307" in capsys.readouterr().err
    assert elsewhere.requests == []


def test_a_refused_call_is_reported_exactly(
    tmp_path: Path, github: FakeGitHub, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {**_env(tmp_path, github, _pull_request_event()), "GITHUB_TOKEN": "wrong"}
    assert github_comment.main(["--body-file", _report(tmp_path, "x")], env) == 3
    assert capsys.readouterr().err == (
        f'rotation-doctor: GitHub: GET /repos/{REPO}/issues/{PR}/comments: HTTP 401: {{"message": "Bad credentials"}}\n'
    )


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"GITHUB_TOKEN": ""}, "not set: GITHUB_TOKEN"),
        ({"GITHUB_REPOSITORY": "acme/network/../../x"}, "GITHUB_REPOSITORY is not owner/name"),
        ({"GITHUB_API_URL": "file:///etc/passwd"}, "GITHUB_API_URL is not an http(s) URL"),
        ({"GITHUB_EVENT_PATH": "/nonexistent/event.json"}, "cannot read the event"),
    ],
)
def test_a_bad_environment_is_bad_input(
    tmp_path: Path, github: FakeGitHub, capsys: pytest.CaptureFixture[str], change: dict[str, str], says: str
) -> None:
    env = {**_env(tmp_path, github, _pull_request_event()), **change}
    assert github_comment.main(["--body-file", _report(tmp_path, "x")], env) == 2
    assert says in capsys.readouterr().err
    assert github.requests == []


def test_a_body_longer_than_a_comment_is_cut_and_says_so() -> None:
    body = github_comment.comment_body("x" * 70_000)
    assert len(body) == COMMENT_LIMIT and body.endswith("_… cut: the report was longer than one comment holds._")
    assert github_comment.comment_body("short\n") == f"{github_comment.MARKER}\nshort"


# ----- action.yml -----------------------------------------------------------------------------------------------


def _action() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "action.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_the_action_is_a_composite_whose_steps_are_well_formed() -> None:
    action = _action()
    assert action["runs"]["using"] == "composite"
    steps = action["runs"]["steps"]
    assert all("shell" in step for step in steps if "run" in step)
    assert all("uses" in step or "run" in step for step in steps)
    text = (ROOT / "action.yml").read_text()
    referenced = set(re.findall(r"inputs\.([A-Za-z0-9_-]+)", text))
    assert referenced <= set(action["inputs"]), referenced - set(action["inputs"])
    assert {"plan-json", "plan-file", "fail-on", "python-version", "version", "comment", "github-token"} <= referenced
    ids = {step.get("id") for step in steps}
    assert set(re.findall(r"steps\.([A-Za-z0-9_-]+)\.outputs", text)) <= ids
    # No expression is spliced into a script (an input is text, never shell): inputs reach scripts through env.
    assert [step["name"] for step in steps if "run" in step and "${{" in step["run"]] == []
    assert action["inputs"]["github-token"]["default"] == "${{ github.token }}"
    assert action["inputs"]["fail-on"]["default"] == "breaks,degrades,worsens,unknown"


def _step(name: str) -> dict[str, Any]:
    return next(step for step in _action()["runs"]["steps"] if step["name"] == name)


def _run_what_if_step(tmp_path: Path, exit_status: int, writes_report: bool) -> tuple[dict[str, str], str, str]:
    """The what-if step's script, run by bash as the runner runs it (env from its inputs), with a stand-in
    `rotation-doctor` that records its arguments, writes a report and prints one annotation."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "rotation-doctor"
    write = 'while [ $# -gt 0 ]; do [ "$1" = --output ] && printf "### ❌ report\\n" > "$2"; shift; done'
    fake.write_text(
        "#!/bin/bash\n"
        f'printf "%s\\n" "$@" > "{tmp_path}/args"\n'
        + (write + "\n" if writes_report else "")
        + 'echo "::error title=rotation-doctor what-if%3A prod/orders/db breaks::prod/orders/db breaks"\n'
        + f"exit {exit_status}\n"
    )
    fake.chmod(0o755)
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs"
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(outputs),
        "RD_PLAN_JSON": "plan.json",
        "RD_PLAN_FILE": "",
        "RD_FAIL_ON": "breaks",
        "RD_ANNOTATIONS": "true",
    }
    step = _step("What would this plan do to secret rotation?")
    done = subprocess.run(["bash", "-c", step["run"]], env=env, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr  # the step records the status; the gate step fails the job
    recorded = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    return recorded, summary.read_text(), done.stdout


def test_the_what_if_step_writes_the_summary_keeps_annotations_on_stdout_and_hands_on_the_status(
    tmp_path: Path,
) -> None:
    outputs, summary, stdout = _run_what_if_step(tmp_path, exit_status=1, writes_report=True)
    args = (tmp_path / "args").read_text().splitlines()
    assert args == [
        "what-if",
        "--terraform-plan",
        "plan.json",
        "--format",
        "markdown",
        "--output",
        f"{tmp_path}/rotation-doctor-what-if.md",
        "--fail-on",
        "breaks",
        "--annotations",
        "github",
    ]
    assert outputs == {"exit-status": "1", "report": f"{tmp_path}/rotation-doctor-what-if.md"}
    assert summary == "### ❌ report\n"
    assert stdout.startswith("::error title=")  # where the runner reads workflow commands
    gate = _step("The gate")
    done = subprocess.run(
        ["bash", "-c", gate["run"]], env={"RD_STATUS": outputs["exit-status"]}, timeout=30, check=False
    )
    assert done.returncode == 1  # the job fails with the gate, after the summary and comment steps


def test_a_what_if_that_could_not_run_says_so_instead_of_an_old_verdict(tmp_path: Path) -> None:
    outputs, summary, _ = _run_what_if_step(tmp_path, exit_status=3, writes_report=False)
    assert outputs["exit-status"] == "3"
    assert summary == "### ⚠️ rotation-doctor what-if could not run\n\nExit status 3: see the job log.\n"
    assert Path(outputs["report"]).read_text() == summary  # what the comment step posts


def test_the_pre_commit_hook_runs_what_if_on_plan_files_by_hand_only() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    (hook,) = hooks
    assert hook["id"] == "rotation-doctor-what-if"
    assert hook["stages"] == ["manual"]  # it reads the AWS account: never on every commit
    assert re.search(hook["files"], "plans/network.tfplan.json") and not re.search(hook["files"], "main.tf")
    assert hook["language"] == "python"
