"""The installed `rotation-doctor` command run as a user runs it, against the local moto server (`moto_server`,
in conftest.py), and the CLI's JSON checked against the published schema."""

from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path
from typing import Any

import botocore.handlers
import pytest
from botocore.exceptions import ClientError
from jsonschema import Draft202012Validator

from rotation_doctor.cli import main as cli
from rotation_doctor.cli.schema import SCHEMA_DIR
from rotation_doctor.cli.schema.models import file_name


def _command() -> str:
    command = Path(sys.executable).parent / "rotation-doctor"
    assert command.exists(), f"the console script is not installed next to {sys.executable}: run `make test`"
    return str(command)


def _env(endpoint: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION="us-east-1",
        **extra,
    )
    return env


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = cli.main(list(args))
    except SystemExit as exc:  # argparse refusing an option
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def refuse_assume_role(monkeypatch: pytest.MonkeyPatch, account: str) -> list[str]:
    """STS refuses AssumeRole into `account` (the role's trust does not name the caller), through a botocore event
    hook every new session gets. Answers the role ARNs asked for."""
    asked: list[str] = []

    def refuse(params: dict[str, Any], **_: Any) -> None:
        asked.append(params["RoleArn"])
        if f":{account}:" in params["RoleArn"]:
            raise ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "User is not authorized to perform: sts:AssumeRole"}},
                "AssumeRole",
            )

    hook = ("before-parameter-build.sts.AssumeRole", refuse)
    monkeypatch.setattr(botocore.handlers, "BUILTIN_HANDLERS", [*botocore.handlers.BUILTIN_HANDLERS, hook])
    return asked


ROOT = Path(__file__).resolve().parents[1]


def published(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((ROOT / SCHEMA_DIR / file_name(name)).read_text())
    return schema


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with `additionalProperties: false` on every object whose keys it lists and leaves open by
    omission (a free-form object, such as a call's params or a finding's evidence, says `true` and stays open)."""
    out = copy.deepcopy(schema)

    def close(node: Any) -> None:
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node:
                node["additionalProperties"] = False
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(out)
    return out


def errors(schema: dict[str, Any], instance: Any) -> list[str]:
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)]


def assert_valid(name: str, instance: Any) -> None:
    schema = published(name)
    assert errors(schema, instance) == []
    assert errors(strict(schema), instance) == [], "the CLI prints a key the models do not describe"


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    """The command in this process under `--format json`: its exit status and what it printed, parsed."""
    code = cli.main([*args, "--format", "json"])
    out, _ = capsys.readouterr()
    return code, json.loads(out)
