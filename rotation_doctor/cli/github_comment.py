"""One pull-request comment for what-if's report, created on the first run and updated on every next one (never a new
comment per push): `python -m rotation_doctor.cli.github_comment --body-file REPORT.md`, as the GitHub Action runs it.

Standard library only (urllib), so the action needs nothing but rotation-doctor. It reads what a GitHub Actions job
provides: $GITHUB_EVENT_PATH (the event's JSON: a `pull_request` event names the pull request), $GITHUB_REPOSITORY,
$GITHUB_API_URL and $GITHUB_TOKEN. The comment is found by a hidden marker at the start of its body AND by its author
(by default `github-actions[bot]`, whom $GITHUB_TOKEN writes as): anyone may post a comment holding the marker, and
what-if's verdict must never be written into, or read from, someone else's comment.

The token goes only to the API's own host: a pagination link elsewhere is refused, and redirects are not followed
(urllib would carry the Authorization header to wherever they lead).

Exit status: 0 written (or not a pull-request event: nothing to do), 2 bad input (environment, event, body file),
3 GitHub refused or could not be reached (the message says which call and what GitHub answered).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from rotation_doctor.cli.markdown import COMMENT_LIMIT
from rotation_doctor.model.bounded import clip

MARKER = "<!-- rotation-doctor what-if -->"
DEFAULT_AUTHOR = "github-actions[bot]"
PAGE_SIZE = 100  # the most GitHub returns in one page
MAX_PAGES = 50  # 5,000 comments looked through at most
TIMEOUT = 30  # seconds, per request
MAX_RESPONSE = 10 * 1024 * 1024  # bytes read of one response
CUT_NOTE = "\n\n_… cut: the report was longer than one comment holds._"
EXIT_DONE, EXIT_BAD_INPUT, EXIT_GITHUB_ERROR = 0, 2, 3
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}")
_NEXT = re.compile(r'<([^>]*)>\s*;\s*rel="next"')


class BadInput(Exception):
    """The environment, the event or the body cannot be used."""


class GitHubError(Exception):
    """A call GitHub refused, or that did not reach it."""


@dataclass(frozen=True)
class PullRequest:
    api: str  # the API's base URL, without a trailing slash
    repository: str  # owner/name
    number: int
    token: str

    @property
    def comments(self) -> str:
        return f"{self.api}/repos/{self.repository}/issues/{self.number}/comments"

    def comment(self, comment_id: int) -> str:
        return f"{self.api}/repos/{self.repository}/issues/comments/{comment_id}"


def pull_request(env: Mapping[str, str]) -> PullRequest | None:
    """The pull request the job runs for, from a GitHub Actions environment; None for any other event (a push)."""
    missing = [name for name in ("GITHUB_EVENT_PATH", "GITHUB_REPOSITORY", "GITHUB_TOKEN") if not env.get(name)]
    if missing:
        raise BadInput(f"not set: {', '.join(missing)} (run in a GitHub Actions job, with github-token)")
    try:
        with open(env["GITHUB_EVENT_PATH"], encoding="utf-8") as f:
            event = json.load(f)
    except (OSError, ValueError) as exc:
        raise BadInput(f"cannot read the event {env['GITHUB_EVENT_PATH']}: {clip(str(exc))}") from exc
    pr = event.get("pull_request") if isinstance(event, dict) else None
    if not isinstance(pr, dict):
        return None
    number = pr.get("number")
    if not isinstance(number, int) or isinstance(number, bool) or number <= 0:
        raise BadInput(f"the event's pull_request.number is not a pull request's number: {clip(repr(number))}")
    repository = env["GITHUB_REPOSITORY"]
    if not _REPOSITORY.fullmatch(repository):
        raise BadInput(f"GITHUB_REPOSITORY is not owner/name: {clip(repr(repository))}")
    api = env.get("GITHUB_API_URL") or "https://api.github.com"
    if urlsplit(api).scheme not in ("https", "http") or not urlsplit(api).netloc:
        raise BadInput(f"GITHUB_API_URL is not an http(s) URL: {clip(repr(api))}")
    return PullRequest(api.rstrip("/"), repository, number, env["GITHUB_TOKEN"])


def comment_body(report: str) -> str:
    """The marker, then the report, within GitHub's limit on a comment (what-if's markdown always is; a longer body
    is cut, and says so)."""
    body = f"{MARKER}\n{report.rstrip()}"
    if len(body) <= COMMENT_LIMIT:
        return body
    return body[: COMMENT_LIMIT - len(CUT_NOTE)] + CUT_NOTE


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_: Any, **__: Any) -> None:
        return None  # the 3xx is raised as an HTTPError: the token is never sent where a redirect leads


_OPENER = urllib.request.build_opener(_NoRedirect)


def _call(method: str, url: str, pr: PullRequest, payload: Mapping[str, Any] | None = None) -> tuple[Any, str]:
    """One API call: its JSON and its Link header."""
    same_host = urlsplit(url)[:2] == urlsplit(pr.api)[:2]
    if not same_host:
        raise GitHubError(f"{method} {clip(url)}: not on {pr.api}; the token is not sent elsewhere")
    request = urllib.request.Request(
        url,
        data=None if payload is None else json.dumps(payload).encode(),
        method=method,
        headers={
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {pr.token}",
            "Content-Type": "application/json",
            "User-Agent": "rotation-doctor",
            "X-GitHub-Api-Version": "2022-11-28",
        },
    )
    where = f"{method} {urlsplit(url).path}"
    try:
        with _OPENER.open(request, timeout=TIMEOUT) as response:
            return json.loads(response.read(MAX_RESPONSE)), response.headers.get("Link") or ""
    except urllib.error.HTTPError as exc:
        answer = exc.read(2000).decode("utf-8", errors="replace")
        raise GitHubError(f"{where}: HTTP {exc.code}: {clip(answer)}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise GitHubError(f"{where}: {exc.__class__.__name__}: {clip(str(exc))}") from exc


def find_comment(pr: PullRequest, author: str) -> int | None:
    """The id of the first comment `author` wrote that starts with the marker, page by page (Link: rel="next")."""
    url: str | None = f"{pr.comments}?per_page={PAGE_SIZE}"
    for _ in range(MAX_PAGES):
        if url is None:
            return None
        comments, link = _call("GET", url, pr)
        if not isinstance(comments, list):
            raise GitHubError(f"GET {urlsplit(url).path}: the answer is not a list of comments")
        for c in comments:
            user = c.get("user") if isinstance(c, dict) else None
            body = c.get("body") if isinstance(c, dict) else None
            by_author = isinstance(user, dict) and user.get("login") == author
            if by_author and isinstance(body, str) and body.startswith(MARKER) and isinstance(c.get("id"), int):
                return int(c["id"])
        found = _NEXT.search(link)
        url = found.group(1) if found else None
    if url is None:
        return None
    raise GitHubError(f"more than {MAX_PAGES * PAGE_SIZE} comments on #{pr.number}: not looked further")


def upsert(pr: PullRequest, report: str, author: str = DEFAULT_AUTHOR) -> str:
    """Update the pull request's what-if comment, or create it: what was done, in words."""
    body = {"body": comment_body(report)}
    existing = find_comment(pr, author)
    if existing is None:
        created, _ = _call("POST", pr.comments, pr, body)
        return (
            f"created comment {created.get('id') if isinstance(created, dict) else '?'} on {pr.repository}#{pr.number}"
        )
    _call("PATCH", pr.comment(existing), pr, body)
    return f"updated comment {existing} on {pr.repository}#{pr.number}"


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rotation_doctor.cli.github_comment",
        description="create or update the one pull-request comment holding what-if's markdown report",
    )
    parser.add_argument("--body-file", required=True, metavar="FILE", help="the report (what-if --format markdown)")
    parser.add_argument(
        "--author", default=DEFAULT_AUTHOR, help=f"the login the token writes as (default: {DEFAULT_AUTHOR})"
    )
    args = parser.parse_args(argv)
    try:
        pr = pull_request(os.environ if env is None else env)
        if pr is None:
            print("rotation-doctor: not a pull-request event: no comment written")
            return EXIT_DONE
        try:
            with open(args.body_file, encoding="utf-8") as f:
                report = f.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInput(f"cannot read {args.body_file}: {exc.__class__.__name__}: {clip(str(exc))}") from exc
        print(f"rotation-doctor: {upsert(pr, report, args.author)}")
        return EXIT_DONE
    except BadInput as exc:
        print(f"rotation-doctor: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except GitHubError as exc:
        print(f"rotation-doctor: GitHub: {exc}", file=sys.stderr)
        return EXIT_GITHUB_ERROR


if __name__ == "__main__":
    sys.exit(main())
