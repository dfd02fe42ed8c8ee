"""Pydantic models of what `diagnose`, `plan`, `fix` and `scan` print with `--format json`, and the JSON Schema
generated from them (`docs/schema/v1/`, held equal to this module by tests/test_output_schema.py).

The models describe the output; they do not produce it: the CLI prints the `to_json` of the diagnosis, plan and
outcome, and tests validate those real outputs against the generated schema. Every enum is the one the code
uses (`Verdict`, `Severity`, `Risk`, `FixKind`, the states of model/states.py, `findings.Code`), so a new member
shows up as a difference from the committed schema.

A key that is always printed is required (null where the type says so); a key printed only sometimes (`after`,
a step's `undo`) is optional and never null. Objects admit more keys than these (the contract: "more may be
added"), so a key added later in version 1 does not fail a consumer's copy of the schema; a new finding code, fix
kind or state does (they are enums), and is in the schema regenerated with it.
The CLI loads this module (and pydantic) only to write the schema; the Lambda functions and the analysis never do.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, SkipJsonSchema

from rotation_doctor.analysis.logs import CATEGORIES
from rotation_doctor.cli.main import EXIT_BY_KIND
from rotation_doctor.cli.schema import SCHEMA_VERSION
from rotation_doctor.model.findings import Code, PathName, Severity, Verdict
from rotation_doctor.model.paths import HopKind, HopVerdict, PathLeg
from rotation_doctor.model.plan import FixKind, LinkStatus, ResourceKind, Risk
from rotation_doctor.model.snapshot import TargetKind
from rotation_doctor.model.states import AnalyzerRun, FixStatus, OutcomeStatus, StepStatus
from rotation_doctor.whatif.changes import Action, Handling
from rotation_doctor.whatif.report import Effect

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# Enums whose members are data, not classes: made at run time for the schema; mypy sees the strings they are.
# `FindingCode` is `Code` under the name the schema has always given it (its `$defs` key and title).
if TYPE_CHECKING:
    FindingCode = Code
    LogCategory = str
    ErrorKind = str
    SchemaVersion = str
else:
    FindingCode = StrEnum("FindingCode", {code.name: code.value for code in Code})
    LogCategory = StrEnum("LogCategory", {name: name for name in CATEGORIES})
    ErrorKind = StrEnum("ErrorKind", {kind: kind for kind in EXIT_BY_KIND})
    SchemaVersion = Literal[SCHEMA_VERSION]

# Descriptions of the enums in the schema (their docstrings speak to developers, these to consumers).
ENUM_DESCRIPTIONS: dict[str, str] = {
    "FindingCode": "A finding code (docs/contract.md section 2, and the README's codes added by this project). "
    "Stable: codes are added, never renamed or reused.",
    "Severity": "error, warning or info (docs/contract.md section 2).",
    "PathLeg": "Which path: sm (the function to Secrets Manager), db (the function to its database or RDS Proxy), "
    "proxy (an RDS Proxy to its targets).",
    "HopKind": "What a hop on a path is.",
    "HopVerdict": "What a hop did to the path: passes, blocks, doubt (it denies part of the traffic: the path may "
    "still work) or not_evaluated (the model could not judge it).",
    "PathName": "The path a finding is about: sm (to Secrets Manager), db (to the database), invoke (the function's "
    "resource policy), config.",
    "Verdict": "broken if any error; else degraded if any warning other than the not-evaluated ones; else unknown "
    "if a path could not be evaluated; else healthy.",
    "Risk": "How much a fix changes beyond the function's own resources (docs/contract.md section 3).",
    "FixKind": "A fix kind (docs/contract.md section 3). Stable: kinds are added, never renamed or reused.",
    "LinkStatus": "proven: the database names the secret (its rotation-doctor:secrets tag) or the deployer trusts "
    "the secret's name; unproven: only the secret's own value links them; not_required: the fix changes only the "
    "function's own resources or its way to Secrets Manager.",
    "ResourceKind": "The kind of resource a fix writes to.",
    "TargetKind": "What the database endpoint is.",
    "LogCategory": "A category of the rotation function's recent log lines (the lines themselves are never kept).",
    "StepStatus": "What became of one call of a fix.",
    "FixStatus": "What became of one fix of the plan.",
    "OutcomeStatus": "What `fix` did with the plan; rollback_incomplete lists what is left in `leftovers`.",
    "ErrorKind": "bad_input (exit 2), aws_error (exit 3) or interrupted (exit 130).",
    "AnalyzerRun": "What became of one VPC Reachability Analyzer analysis (`diagnose --deep`): succeeded (AWS "
    "answered), failed, timed_out, or not_run (no path could be built, or AWS refused a call).",
    "Effect": "What a planned change does to a secret: breaks, degrades, unknown (part of it cannot be judged) and "
    "worsens make `what-if` exit 1; heals, improves and unchanged do not.",
    "Handling": "How `what-if` understood a planned change: mapped (applied to the snapshot), no_effect (touches no "
    "rotation path), not_evaluated (may touch one but cannot be judged: the secrets it touches are unknown), ignored "
    "(a type that cannot touch a rotation path).",
    "Action": "What the plan does to the resource (a Terraform replace, or a change set's Modify that replaces).",
}


class _Out(BaseModel):
    """A JSON object the CLI prints. The schema leaves `additionalProperties` unsaid (JSON Schema then admits
    more keys); tests/test_output_schema.py validates real outputs with it set to false, so that every key the
    CLI prints today is described here."""

    model_config = ConfigDict(frozen=True)


# ----- the diagnosis ---------------------------------------------------------------------------


class Secret(_Out):
    """The secret diagnosed."""

    arn: str = Field(pattern=r"^arn:aws[a-z-]*:secretsmanager:", description="The secret's ARN.")
    name: str = Field(description="The secret's name.")
    account: str = Field(pattern=r"^\d{12}$", description="The secret's account (as its ARN names it).")
    region: str = Field(description="The secret's region (as its ARN names it).")


class LogSignal(_Out):
    """What the function's recent logs show in one category: a count, never the lines."""

    category: LogCategory
    count: int = Field(ge=1)
    last_seen: datetime = Field(description="When the last line of the category was written (ISO 8601).")


class Evidence(_Out):
    """What the finding rests on, for people: rule numbers that deny, the cases that fail, the read that failed,
    the log categories seen. Its keys depend on the finding's code; only the log ones are fixed here."""

    model_config = ConfigDict(extra="allow", frozen=True)

    logs: list[LogSignal] | SkipJsonSchema[None] = Field(
        default=None, description="The log categories that point at this finding's path."
    )
    signals: list[LogSignal] | SkipJsonSchema[None] = Field(
        default=None, description="LOGS_SHOW_NON_NETWORK_ERROR: the categories that are not about the network."
    )


class Finding(_Out):
    """One reason rotation fails (or may fail), on one path."""

    code: FindingCode
    severity: Severity
    path: PathName
    summary: str = Field(description="One sentence a person can act on.")
    resources: list[str] = Field(
        description="The resources involved (ids, ARNs, names), or for AWS_READ_FAILED the permission to grant."
    )
    evidence: Evidence


class FunctionContext(_Out):
    """The rotation function as it was read."""

    name: str
    vpc: str | None = Field(description="Its VPC; null when it is not in a VPC.")
    subnets: list[str]
    security_groups: list[str]


class DatabaseContext(_Out):
    """The database the secret is for, as found in AWS."""

    kind: TargetKind
    id: str = Field(description="The database's identifier (an instance, cluster, proxy, workgroup or ENI id).")
    port: int = Field(ge=0, le=65535, description="The port AWS records for it (the one judged and ever opened).")
    vpc: str | None
    subnets: list[str] = Field(description="Every subnet its endpoint can be in.")
    security_groups: list[str]


class Context(_Out):
    """What was looked at."""

    region: str
    function: FunctionContext | SkipJsonSchema[None] = Field(default=None, description="When the function was read.")
    database: DatabaseContext | SkipJsonSchema[None] = Field(default=None, description="When the database was found.")
    logs: list[LogSignal] | SkipJsonSchema[None] = Field(
        default=None, description="When the function's logs were read: what they show."
    )


# ----- the plan --------------------------------------------------------------------------------


class Call(_Out):
    """One AWS API call, exactly as it is (or would be) made."""

    service: str = Field(description='The boto3 client: "ec2", "lambda", "route53".')
    operation: str = Field(description='The API operation: "AuthorizeSecurityGroupIngress".')
    params: dict[str, Any] = Field(
        description="Its parameters. A string ${s1.GroupId} stands for what step s1 returns, filled in when the "
        "step runs."
    )


class Step(_Out):
    """One call of a fix, with its undo."""

    id: str = Field(pattern=r"^s\d+$", description="s1, s2, ... in the order the plan runs them.")
    service: str = Field(description="The boto3 client of the call.")
    operation: str = Field(description="The API operation of the call.")
    params: dict[str, Any] = Field(description="The call's parameters (${sN.Output} names an earlier step's output).")
    says: str = Field(description="The step's line of the account diff, for people.")
    undo: Call | SkipJsonSchema[None] = Field(default=None, description="The call that undoes it, when it has one.")
    outputs: dict[str, str] | SkipJsonSchema[None] = Field(
        default=None, description="What later steps use from the response: name -> dotted path in it."
    )
    wait: str | SkipJsonSchema[None] = Field(
        default=None, description='A wait after the call, until what it made is ready ("vpc_endpoint_available").'
    )


class Link(_Out):
    """Whether the resources a fix changes are proven to belong to the secret, and by what."""

    status: LinkStatus
    proof: str = Field(description="What proves it, or what is not linked (for people).")
    by_person_only: bool = Field(description="Never applied without a person's approval.")


class Written(_Out):
    """A resource a fix changes (its guardrails check each one)."""

    kind: ResourceKind
    id: str = Field(description="An AWS id, or ${sN.Output} for what an earlier step of the plan creates.")


class Fix(_Out):
    """One fix of the plan: the exact calls it makes."""

    kind: FixKind
    risk: Risk
    link: Link
    summary: str = Field(description="What it changes, in one sentence.")
    fixes: list[FindingCode] = Field(description="The finding codes it addresses.")
    writes: list[Written]
    vpc: str | None = Field(description="The VPC it changes, if one.")
    cost: str | None = Field(description="What it costs a month, when it costs anything.")
    notes: list[str]
    steps: list[Step]


class Unfixable(_Out):
    """A finding no fix kind covers, and why."""

    code: FindingCode
    reason: str


# ----- what `fix` did --------------------------------------------------------------------------


class StepResult(_Out):
    step: str = Field(description="The step's id (s1, ...).")
    says: str
    status: StepStatus
    error: str | None


class FixResult(_Out):
    kind: FixKind
    status: FixStatus
    reason: str | None = Field(description="Why it was skipped, failed or rolled back.")
    steps: list[StepResult]


class Leftover(_Out):
    """Something a failed apply could not undo: remove it by hand."""

    step: str
    what: str = Field(description="The step's line of the plan.")
    resource: str | None = Field(description="Its id, when AWS returned one.")
    remove: Call | None = Field(description="The call that would remove it (null: the id it needs is unknown).")
    error: str = Field(description="Why the undo failed.")


# ----- what each command prints ----------------------------------------------------------------


class Diagnosis(_Out):
    """One secret's diagnosis (as `after` in `fix`: without `schema_version`)."""

    secret: Secret
    verdict: Verdict
    findings: list[Finding]
    plan: list[Fix] = Field(description="The fixes: empty from `diagnose` and `scan`, which plan nothing.")
    context: Context
    paths: list[DiagnosedPath] = Field(
        description="Each network path the diagnosis judged, hop by hop (none when it judged none: the function is "
        "not in a VPC, or a read it needed failed)."
    )


class Hop(_Out):
    """One component on a path: what it was asked, what it answered, and what decided it."""

    kind: HopKind
    id: str = Field(description="The component's id (a function's or database's name for the ends).")
    ids: list[str] = Field(description="Every id the hop stands for (all the security groups of one end), id first.")
    question: str = Field(description='What it was asked: "route for 0.0.0.0/0", "TCP 443 out to ...".')
    answer: str = Field(description='What it answered: "allowed", "no rule allows it", a route\'s target.')
    verdict: HopVerdict
    decided_by: str | None = Field(description="The rule or route that decided it, when one did.")


class PathCase(_Out):
    """The hops from one function subnet (to one peer subnet, where the path has several)."""

    case: str = Field(description='"subnet-a", or "subnet-a -> subnet-b".')
    blocked: bool
    hops: list[Hop]


class DiagnosedPath(_Out):
    """One path: its worst case first, then each case whose hops differ from those shown."""

    path: PathLeg
    blocked: bool = Field(description="Whether its first (worst) case has a hop that blocks.")
    cases_judged: int = Field(description="How many cases were judged; those not shown repeat one that is.")
    cases: list[PathCase]


class BlockingComponent(_Out):
    """A component VPC Reachability Analyzer names in its explanation of a path it does not find."""

    type: str = Field(description="The explanation's key: SecurityGroup, Acl, RouteTable, NetworkInterface, ...")
    id: str


class ReachabilityAnalysis(_Out):
    """One VPC Reachability Analyzer analysis of `diagnose --deep`: a path the model could not judge, asked of AWS."""

    path: PathName
    status: AnalyzerRun
    source: str | None = Field(description="The function's Lambda network interface the path starts from.")
    destination: str | None = Field(
        description="The Secrets Manager endpoint or internet gateway, or the database's address (or name, when it "
        "did not resolve)."
    )
    port: int = Field(ge=1, le=65535)
    path_id: str | None = Field(description="The network insights path (deleted afterwards).")
    analysis_id: str | None = Field(description="The network insights analysis (deleted afterwards).")
    path_found: bool | None = Field(description="AWS's answer; null when there is none.")
    explanation_codes: list[str] = Field(description="AWS's explanation codes (ENI_SG_RULES_MISMATCH, ...).")
    blocking: list[BlockingComponent]
    message: str | None = Field(description="Why there is no answer: AWS's status message, or what was missing.")
    left_behind: list[str] = Field(
        description="Paths or analyses whose delete failed, as `id: error code`: delete them by hand."
    )


class _Versioned(_Out):
    schema_version: SchemaVersion = Field(description="The version of this schema the object follows.")


class UnreadPlaceOutput(_Versioned):
    """An item of `scan --format json` across accounts and regions (`--accounts`, `--role-arn`, `--regions`) that
    stands for an account (and region) that could not be read at all: its role was refused (ACCOUNT_ROLE_REFUSED),
    or its secrets or regions could not be listed (AWS_READ_FAILED). No secret; one finding; the verdict unknown."""

    secret: None = Field(description="Always null: no secret of the account was read.")
    account: str = Field(pattern=r"^\d{12}$", description="The account that was not read.")
    region: str | None = Field(
        description="The region that was not read; null when the account's regions were to be listed (--regions all)."
    )
    verdict: Literal[Verdict.UNKNOWN]
    findings: list[Finding] = Field(min_length=1, description="Why it was not read.")
    plan: list[Fix] = Field(max_length=0, description="Always empty.")


class DiagnoseOutput(Diagnosis, _Versioned):
    """`rotation-doctor diagnose SECRET --format json` (and each item of `scan --format json`)."""

    reachability: list[ReachabilityAnalysis] | SkipJsonSchema[None] = Field(
        default=None,
        description="`diagnose --deep` only: the VPC Reachability Analyzer analyses run, folded into `findings`.",
    )


class PlanOutput(DiagnoseOutput):
    """`rotation-doctor plan SECRET --format json`: the diagnosis and the fix plan; nothing is changed."""

    plan: list[Fix] = Field(description="The smallest set of fixes after which a fresh diagnosis is healthy.")
    plan_hash: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="What an approval binds (`fix --plan-hash`): every call, in order."
    )
    unfixable: list[Unfixable]


class FixOutput(DiagnoseOutput):
    """`rotation-doctor fix SECRET --approve --format json`: the diagnosis before, the plan, what was applied, and
    the diagnosis after."""

    plan: list[Fix] = Field(description="The plan made afresh before applying (all of it, applied or not).")
    plan_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    status: OutcomeStatus
    applied: list[FixKind] = Field(description="The kinds applied (and kept).")
    fixes_applied: list[FixResult] = Field(
        description="Each fix of the plan and what became of it; empty when none was tried (stale, nothing to do)."
    )
    after: Diagnosis | SkipJsonSchema[None] = Field(
        default=None,
        description="The fresh diagnosis after applying; absent when nothing was applied or a failed apply was undone.",
    )
    reason: str | SkipJsonSchema[None] = Field(
        default=None, description="Why it was stale, rolled back, or why the rotation did not start again."
    )
    rotation_retried: bool = Field(description="Secrets Manager was asked to rotate again (--retry-rotation).")
    outcome: OutcomeStatus = Field(description="The same as status.")
    leftovers: list[Leftover] = Field(description="What a failed undo left in the account (rollback_incomplete).")


# ----- what-if ---------------------------------------------------------------------------------


class WhatIfSource(_Out):
    kind: Literal["terraform-plan", "change-set"]
    name: str = Field(description="The plan file's name, or STACK/CHANGE-SET.")


class WhatIfSummary(_Out):
    """How many secrets were read and touched, by effect."""

    secrets_checked: int = Field(ge=0, description="The Lambda-rotated secrets of the region that were read.")
    secrets_touched: int = Field(ge=0, description="Those whose paths use something a change touches.")
    breaks: int = Field(ge=0)
    degrades: int = Field(ge=0)
    unknown: int = Field(ge=0)
    worsens: int = Field(ge=0)
    heals: int = Field(ge=0)
    improves: int = Field(ge=0)
    unchanged: int = Field(ge=0)
    changes: int = Field(ge=0, description="The planned resource changes read (no-ops and reads left out).")
    not_evaluated: int = Field(ge=0, description="The changes that could not be judged.")


class WhatIfSecret(_Out):
    """One secret a change touches: its verdict before and after, and the findings that differ."""

    secret: Secret
    effect: Effect
    before: Verdict
    after: Verdict = Field(description="unknown when a change it depends on cannot be judged (see not_evaluated).")
    new_findings: list[Finding] = Field(description="Warnings and errors the change brings.")
    resolved_findings: list[Finding] = Field(description="Warnings and errors the change removes.")
    findings_after: list[Finding] = Field(description="Every finding of the diagnosis after the change.")
    changes: list[str] = Field(description="The addresses (or logical ids) of the changes that touch its paths.")
    not_evaluated: list[str] = Field(description="Why part of it cannot be judged: 'address: reason'.")


class PlannedChange(_Out):
    """One planned resource change, as read."""

    address: str = Field(description="Terraform's address, or the change set's logical id.")
    type: str = Field(description="aws_security_group, AWS::EC2::VPCEndpoint, ...")
    action: Action
    mapping: Handling
    id: str | None = Field(description="The resource's id when it exists already.")
    note: str


class WhatIfOutput(_Versioned):
    """`rotation-doctor what-if --format json`: what a Terraform plan or a change set would do to every
    Lambda-rotated secret whose paths use what it changes. Nothing is changed."""

    source: WhatIfSource
    summary: WhatIfSummary
    secrets: list[WhatIfSecret] = Field(description="Every secret a change touches, the worst effects first.")
    changes: list[PlannedChange]


class Error(_Out):
    kind: ErrorKind
    message: str = Field(description="The line also printed on stderr.")
    setting: str | None = Field(description="The setting that cannot work (--region, AWS_PROFILE, ...), if one.")


class ErrorOutput(_Versioned):
    """What any command prints with --format json when it stops: bad input (exit 2), an AWS error (exit 3), an
    interruption (exit 130)."""

    error: Error


# ----- the schema ------------------------------------------------------------------------------


class _Generator(GenerateJsonSchema):
    """pydantic's JSON Schema, without what describes pydantic rather than the output: the title of every
    property, and the defaults of the optional keys (an optional key is absent, never null)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def default_schema(self, schema: Any) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])


# The files of docs/schema/v1/: name -> (title, the type printed).
COMMANDS: dict[str, tuple[str, Any]] = {
    "diagnose": ("rotation-doctor diagnose --format json", DiagnoseOutput),
    "plan": ("rotation-doctor plan --format json", PlanOutput),
    "fix": ("rotation-doctor fix --format json", FixOutput),
    "scan": ("rotation-doctor scan --format json", list[DiagnoseOutput | UnreadPlaceOutput]),
    "what-if": ("rotation-doctor what-if --format json", WhatIfOutput),
    "error": ("rotation-doctor ... --format json, when it stops on an error", ErrorOutput),
}
SCAN_DESCRIPTION = (
    "`rotation-doctor scan --format json`: a list of diagnose objects, one per Lambda-rotated secret; across accounts, "
    "also one object without a secret for each account (and region) that could not be read."
)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def schema(name: str) -> dict[str, Any]:
    """The JSON Schema of one command's output, as committed in docs/schema/v1/NAME.schema.json."""
    title, kind = COMMANDS[name]
    generated = TypeAdapter(kind).json_schema(schema_generator=_Generator)
    for def_name, definition in generated.get("$defs", {}).items():
        if def_name in ENUM_DESCRIPTIONS:
            definition["description"] = ENUM_DESCRIPTIONS[def_name]
        elif "description" in definition:  # a docstring: one line, as every other description
            definition["description"] = _one_line(definition["description"])
    head = {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": f"{title} (schema_version {SCHEMA_VERSION})",
        "description": _one_line(generated.get("description", SCAN_DESCRIPTION)),
    }
    return head | {k: v for k, v in generated.items() if k not in ("title", "description")}


def file_name(name: str) -> str:
    return f"{name}.schema.json"


def render(name: str) -> str:
    """The committed file's text: stable key order, two-space indent, a final newline."""
    return json.dumps(schema(name), indent=2, ensure_ascii=False) + "\n"
