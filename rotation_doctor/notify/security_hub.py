"""Security Hub: one finding per secret and finding code, in the AWS Security Finding Format (ASFF).

A report, like SNS: what a diagnosis found is imported with `BatchImportFindings` under the account's
default product (`arn:PARTITION:securityhub:REGION:ACCOUNT:product/ACCOUNT/default`), with the secret as
the resource, and kept as the diagnosis changes:

- a code found is imported (created, or updated under the same `Id`, keeping its `CreatedAt`);
- a code no longer found, or every code of a secret healthy again, is re-imported with `RecordState`
  `ARCHIVED` and `Compliance.Status` `PASSED`. The workflow (`Workflow.Status`, notes, suppression) is the
  customers' own: `BatchImportFindings` cannot change it after a finding is created, and a finding
  provider does not call `BatchUpdateFindings`, which is for customers and their tools. An archived
  finding that comes back becomes active again and Security Hub resets its workflow to `NEW`.

What is open is read, never assumed: one paged `GetFindings` per 20 secrets (Security Hub takes at
most 20 values per filter field), filtered by product, generator, resource and record state. A read
that fails is recorded and that secret is left as it is (nothing created over it, nothing archived).
`BatchImportFindings` takes at most 100 findings and 240 KB a call; findings it refuses
(`FailedFindings`) are reported, not ignored.

The default product accepts a finding only from the account it names (`AwsAccountId`): a secret's
findings are imported in the secret's own account and region (taken from its ARN), with clients for
that place, and Security Hub's own aggregation (a delegated administrator, cross-region aggregation)
brings them together.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from rotation_doctor.collect.accounts import Place, partition_of, place_of_arn
from rotation_doctor.collect.aws import AwsClients, chunks, describe_fatal, error_code, read_failure
from rotation_doctor.model.findings import Code, Finding, PathName, Severity, Verdict, code_named

if TYPE_CHECKING:
    from mypy_boto3_securityhub import SecurityHubClient
    from mypy_boto3_securityhub.type_defs import AwsSecurityFindingFiltersTypeDef, AwsSecurityFindingUnionTypeDef

    from rotation_doctor.analysis import Diagnosis
    from rotation_doctor.model.snapshot import ReadFailure

log = logging.getLogger(__name__)

SCHEMA_VERSION = "2018-10-08"
GENERATOR_PREFIX = "rotation-doctor/"  # GeneratorId is rotation-doctor/CODE: the console groups by it
FINDING_TYPE = "Software and Configuration Checks/AWS Security Best Practices/Secret rotation"
RESOURCE_TYPE = "AwsSecretsManagerSecret"
FIELD_PREFIX = "rotation-doctor/"  # our ProductFields keys; Security Hub adds its own under aws/
# Security Hub's limits (AWS Security Hub API Reference: BatchImportFindings, AwsSecurityFinding, GetFindings).
MAX_FINDINGS_PER_IMPORT = 100
MAX_IMPORT_BYTES = 240 * 1024
IMPORT_MARGIN = 4 * 1024  # the request's envelope, and what JSON spacing may add
MAX_FILTER_VALUES = 20
MAX_ID = 512
MAX_TITLE = 256
MAX_DESCRIPTION = 1024
MAX_RECOMMENDATION = 512
MAX_FIELD_VALUE = 2048
# A code's severity as Security Hub labels it. Information is not a problem and is not imported.
SEVERITY_LABELS = {Severity.ERROR: "HIGH", Severity.WARNING: "MEDIUM"}
# What a provider sends of a finding it read back to archive it (Security Hub's own fields, the workflow, notes
# and the customers' fields are left out: they are not the provider's to send).
_PROVIDER_FIELDS = (
    "SchemaVersion",
    "Id",
    "ProductArn",
    "GeneratorId",
    "AwsAccountId",
    "Types",
    "FirstObservedAt",
    "CreatedAt",
    "Severity",
    "Title",
    "Description",
    "Remediation",
    "Resources",
    "FindingProviderFields",
)


def product_arn(partition: str, region: str, account: str) -> str:
    """The account's default product: what a customer's own findings are imported under."""
    return f"arn:{partition}:securityhub:{region}:{account}:product/{account}/default"


def finding_id(secret_arn: str, code: str) -> str:
    """Stable for a secret and code, so that a re-import updates the same finding. Within Security Hub's 512
    characters: a secret ARN too long for it is named by its hash."""
    plain = f"{GENERATOR_PREFIX}{secret_arn}/{code}"
    if len(plain) <= MAX_ID:
        return plain
    return f"{GENERATOR_PREFIX}sha256-{hashlib.sha256(secret_arn.encode()).hexdigest()}/{code}"


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Diagnosed:
    """A secret's diagnosis and the proposal that fixes it (if any): what its findings are built from."""

    diagnosis: Diagnosis
    proposal_id: str | None = None


def build_finding(
    diagnosis: Diagnosis,
    code: Code,
    found: Sequence[Finding],
    *,
    now: str,
    created_at: str | None = None,
    proposal_id: str | None = None,
) -> dict[str, Any]:
    """One ASFF finding for one code of a secret (every finding of that code in `found`), active."""
    place = _place(diagnosis.secret_arn)
    partition = diagnosis.secret_arn.split(":")[1]
    severity = Severity.ERROR if any(f.severity is Severity.ERROR for f in found) else Severity.WARNING
    label = SEVERITY_LABELS[severity]
    summaries = list(dict.fromkeys(f.summary for f in found))
    description = " ".join(summaries) or code
    fields = {
        f"{FIELD_PREFIX}Code": code,
        f"{FIELD_PREFIX}Verdict": str(diagnosis.verdict),
        f"{FIELD_PREFIX}SecretName": diagnosis.secret_name,
    }
    if proposal_id:
        fields[f"{FIELD_PREFIX}ProposalId"] = proposal_id
        fields[f"{FIELD_PREFIX}ProposalCommand"] = f"rotation-doctor proposals show {proposal_id}"
    else:
        fields[f"{FIELD_PREFIX}PlanCommand"] = f"rotation-doctor plan {diagnosis.secret_arn}"
    created = created_at or now
    return {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": finding_id(diagnosis.secret_arn, code),
        "ProductArn": product_arn(partition, place.region, place.account),
        "GeneratorId": f"{GENERATOR_PREFIX}{code}",
        "AwsAccountId": place.account,
        "Types": [FINDING_TYPE],
        "FirstObservedAt": created,
        "LastObservedAt": now,
        "CreatedAt": created,
        "UpdatedAt": now,
        "Severity": {"Label": label, "Original": str(severity)},
        "FindingProviderFields": {"Severity": {"Label": label, "Original": str(severity)}, "Types": [FINDING_TYPE]},
        "Title": clip(f"{code}: rotation of {diagnosis.secret_name} is {diagnosis.verdict}", MAX_TITLE),
        "Description": clip(description, MAX_DESCRIPTION),
        "Remediation": {"Recommendation": {"Text": clip(code.remedy, MAX_RECOMMENDATION)}},
        "ProductFields": {k: clip(v, MAX_FIELD_VALUE) for k, v in fields.items()},
        "Resources": [
            {
                "Type": RESOURCE_TYPE,
                "Id": diagnosis.secret_arn,
                "Partition": partition,
                "Region": place.region,
                "Details": {"AwsSecretsManagerSecret": {"Name": clip(diagnosis.secret_name, MAX_FIELD_VALUE)}},
            }
        ],
        "Compliance": {"Status": "FAILED"},
        "RecordState": "ACTIVE",
    }


def archived(existing: Mapping[str, Any], *, now: str, why: str) -> dict[str, Any]:
    """A finding read back from Security Hub, archived: the provider's own fields as they were, and `why`."""
    out = {k: existing[k] for k in _PROVIDER_FIELDS if k in existing}
    fields = {k: v for k, v in (existing.get("ProductFields") or {}).items() if k.startswith(FIELD_PREFIX)}
    fields[f"{FIELD_PREFIX}Resolved"] = clip(why, MAX_FIELD_VALUE)
    return out | {
        "UpdatedAt": now,
        "LastObservedAt": now,
        "ProductFields": fields,
        "Compliance": {"Status": "PASSED"},
        "RecordState": "ARCHIVED",
    }


def import_batches(findings: Sequence[Mapping[str, Any]]) -> Iterator[list[Mapping[str, Any]]]:
    """`findings` in calls Security Hub accepts: at most 100 findings and 240 KB each."""
    batch: list[Mapping[str, Any]] = []
    size = 0
    for finding in findings:
        one = len(json.dumps(finding).encode()) + 2  # as spaced as any client writes it, and its comma
        if batch and (len(batch) == MAX_FINDINGS_PER_IMPORT or size + one > MAX_IMPORT_BYTES - IMPORT_MARGIN):
            yield batch
            batch, size = [], 0
        batch.append(finding)
        size += one
    if batch:
        yield batch


@dataclass(frozen=True)
class Refused:
    """A finding Security Hub did not take (its `FailedFindings`, or a call that failed whole)."""

    id: str
    error_code: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "error_code": self.error_code, "message": self.message}


@dataclass
class HubReport:
    """What one sync did: imported (created or updated), archived, refused, and the reads that failed."""

    imported: int = 0
    archived: int = 0
    refused: list[Refused] = field(default_factory=list)
    read_failures: list[ReadFailure] = field(default_factory=list)
    calls: int = 0

    @property
    def ok(self) -> bool:
        return not self.refused and not self.read_failures

    def summary(self) -> str:
        text = f"Security Hub: {self.imported} finding(s) imported, {self.archived} archived"
        if self.refused:
            first = self.refused[0]
            text += f", {len(self.refused)} refused (first: {first.id}: {first.error_code}: {first.message})"
        if self.read_failures:
            first_read = self.read_failures[0]
            text += (
                f", {len(self.read_failures)} read(s) failed (first: {first_read.operation}: {first_read.error_code};"
                f" grant {first_read.permission}): those secrets were left as they were"
            )
        return text

    def add(self, other: HubReport) -> None:
        self.imported += other.imported
        self.archived += other.archived
        self.refused += other.refused
        self.read_failures += other.read_failures
        self.calls += other.calls


class SecurityHubFindings:
    """Keeps Security Hub's findings for diagnosed secrets as their diagnoses say.

    `clients_for(place)` gives the clients of a secret's account and region (a member account's, through its
    role); by default `clients`, or for another region clients of the same session there.
    """

    def __init__(
        self,
        clients: AwsClients,
        clients_for: Callable[[Place], AwsClients] | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clients = clients
        self.clients_for = clients_for or self._same_session
        self.clock = clock
        self._regions: dict[str, AwsClients] = {clients.region: clients}

    def _same_session(self, place: Place) -> AwsClients:
        """The injected clients' session in the secret's region (its account is the session's, or the import is
        refused and reported: only that account's credentials can import its findings)."""
        if place.region not in self._regions:
            self._regions[place.region] = AwsClients(self.clients.session, place.region, self.clients.counter)
        return self._regions[place.region]

    def sync(self, diagnosed: Sequence[Diagnosed]) -> HubReport:
        """Import what each diagnosis found and archive what it no longer finds, place by place."""
        report = HubReport()
        by_place: dict[Place, list[Diagnosed]] = {}
        for item in diagnosed:
            by_place.setdefault(_place(item.diagnosis.secret_arn), []).append(item)
        for place, items in sorted(by_place.items()):
            report.add(self._sync_place(place, items))
        return report

    def open_findings(self, secret_arns: Sequence[str]) -> tuple[dict[str, list[dict[str, Any]]], HubReport]:
        """Our active findings of each secret (by ARN); a secret whose read failed is missing from the answer
        and its failure is in the report."""
        found: dict[str, list[dict[str, Any]]] = {}
        report = HubReport()
        by_place: dict[Place, list[str]] = {}
        for arn in dict.fromkeys(secret_arns):
            by_place.setdefault(_place(arn), []).append(arn)
        for place, arns in sorted(by_place.items()):
            hub = self._hub(place)
            for batch in chunks(arns, MAX_FILTER_VALUES):
                part, failure, calls = _read_open(hub, place, batch)
                report.calls += calls
                if failure is not None:
                    report.read_failures.append(failure)
                    continue
                found.update(part)
        return found, report

    def _hub(self, place: Place) -> SecurityHubClient:
        return cast("SecurityHubClient", self.clients_for(place).client("securityhub"))

    def _sync_place(self, place: Place, items: Sequence[Diagnosed]) -> HubReport:
        now = _timestamp(self.clock())
        open_now, report = self.open_findings([i.diagnosis.secret_arn for i in items])
        findings: list[dict[str, Any]] = []
        for item in items:
            arn = item.diagnosis.secret_arn
            if arn not in open_now:
                continue  # its read failed (recorded): creating over, or archiving, what we cannot see is wrong
            wanted, gone = _changes(item, open_now[arn], now)
            findings += wanted
            findings += gone
        if findings:
            _import(self._hub(place), findings, report)
        return report

    def archive_gone(self, place: Place, listed: Collection[str]) -> HubReport:
        """Our active findings in `place` whose secret is not among `listed` (every Lambda-rotated secret of the
        place, listed whole): archived, since the secret was deleted or is no longer rotated by a function. One
        paged read of the place's open findings; a failed read archives nothing."""
        now = _timestamp(self.clock())
        hub = self._hub(place)
        found, failure, calls = _read_open(hub, place, None, partition=partition_of(place.region))
        report = HubReport(calls=calls)
        if failure is not None:
            report.read_failures.append(failure)
            return report
        why = "the secret no longer exists, or is no longer rotated by a Lambda function"
        gone = [archived(f, now=now, why=why) for arn, fs in sorted(found.items()) if arn not in listed for f in fs]
        if gone:
            _import(hub, gone, report)
        return report


def findings_from_env(
    env: Mapping[str, str], clients: AwsClients, clients_for: Callable[[Place], AwsClients] | None = None
) -> SecurityHubFindings | None:
    """The worker's findings when the deployer enabled them (the template's `SecurityHubFindings`), else None.
    `clients_for` gives a member account's clients (its role): a finding is imported in the secret's own account,
    the only one AWS accepts it from."""
    if env.get("ROTATION_DOCTOR_SECURITY_HUB", "").strip().lower() not in ("enabled", "true"):
        return None
    return SecurityHubFindings(clients, clients_for)


def _import(hub: SecurityHubClient, findings: Sequence[Mapping[str, Any]], report: HubReport) -> None:
    """`findings` imported within BatchImportFindings' limits; what was refused is counted apart, by finding."""
    refused_before = len(report.refused)
    refused_archives = 0
    archiving = sum(1 for f in findings if f["RecordState"] == "ARCHIVED")
    for batch in import_batches(findings):
        report.calls += 1
        try:
            answer = hub.batch_import_findings(Findings=cast("Sequence[AwsSecurityFindingUnionTypeDef]", batch))
            failed = [
                Refused(clip(f["Id"], MAX_ID), f["ErrorCode"], clip(f["ErrorMessage"], 300))
                for f in answer.get("FailedFindings", [])
            ]
        except Exception as exc:
            failed = [Refused(str(f["Id"]), error_code(exc), describe_fatal(exc)) for f in batch]
        report.refused += failed
        refused_ids = {r.id for r in failed}
        refused_archives += sum(1 for f in batch if f["Id"] in refused_ids and f["RecordState"] == "ARCHIVED")
    for refused in report.refused[refused_before:]:
        log.warning("Security Hub refused %s: %s", clip(refused.id, 200), refused.error_code)
    report.archived += archiving - refused_archives
    report.imported += len(findings) - archiving - (len(report.refused) - refused_before - refused_archives)


def _changes(item: Diagnosed, open_now: Sequence[Mapping[str, Any]], now: str) -> tuple[list[dict[str, Any]], ...]:
    """The findings to import for one secret (active), and those to archive."""
    diagnosis = item.diagnosis
    by_code: dict[Code, list[Finding]] = {}
    for finding in diagnosis.findings:
        if finding.severity in SEVERITY_LABELS:
            by_code.setdefault(finding.code, []).append(finding)
    existing = {str(f["Id"]): f for f in open_now}
    wanted = [
        build_finding(
            diagnosis,
            code,
            found,
            now=now,
            created_at=_created(existing.get(finding_id(diagnosis.secret_arn, code))),
            proposal_id=item.proposal_id,
        )
        for code, found in sorted(by_code.items())
    ]
    wanted_ids = {f["Id"] for f in wanted}
    unjudged = _unjudged_paths(diagnosis)
    gone = []
    for fid, hub_finding in sorted(existing.items()):
        if fid in wanted_ids:
            continue
        code = str(hub_finding.get("GeneratorId", ""))[len(GENERATOR_PREFIX) :]
        known = code_named(code)
        if diagnosis.verdict is not Verdict.HEALTHY and (known is None or known.path in unjudged or None in unjudged):
            continue  # this run could not judge it: leave it open
        why = "the secret is healthy again" if diagnosis.verdict is Verdict.HEALTHY else f"{code} is no longer found"
        gone.append(archived(hub_finding, now=now, why=why))
    return wanted, gone


def _unjudged_paths(diagnosis: Diagnosis) -> set[PathName | None]:
    """The paths this diagnosis did not judge (None: a read failed, so nothing can be said to be gone)."""
    paths: set[PathName | None] = set()
    for finding in diagnosis.findings:
        if finding.code == Code.AWS_READ_FAILED:
            paths.add(None)
        elif finding.code.is_not_evaluated:
            paths.add(finding.path)
    return paths


def _created(existing: Mapping[str, Any] | None) -> str | None:
    return str(existing["CreatedAt"]) if existing and existing.get("CreatedAt") else None


def _read_open(
    hub: SecurityHubClient, place: Place, arns: Sequence[str] | None, *, partition: str | None = None
) -> tuple[dict[str, list[dict[str, Any]]], ReadFailure | None, int]:
    """One paged GetFindings for up to 20 secrets (or, `arns` None, for every secret of the place): their active
    findings of ours, by secret."""
    product = product_arn(partition or (arns or [""])[0].split(":")[1], place.region, place.account)
    filters: AwsSecurityFindingFiltersTypeDef = {
        "ProductArn": [{"Value": product, "Comparison": "EQUALS"}],
        "GeneratorId": [{"Value": GENERATOR_PREFIX, "Comparison": "PREFIX"}],
        "RecordState": [{"Value": "ACTIVE", "Comparison": "EQUALS"}],
    }
    if arns is not None:
        filters["ResourceId"] = [{"Value": arn, "Comparison": "EQUALS"} for arn in arns]
    found: dict[str, list[dict[str, Any]]] = {arn: [] for arn in arns or ()}
    calls = 0
    try:
        for page in hub.get_paginator("get_findings").paginate(Filters=filters, PaginationConfig={"PageSize": 100}):
            calls += 1
            for raw in page.get("Findings", []):
                finding = cast("dict[str, Any]", raw)
                # Held to the filter here too: a finding of another product or resource is never ours to change.
                resources = [str(r.get("Id")) for r in finding.get("Resources", [])]
                mine = (
                    finding.get("ProductArn") == product
                    and str(finding.get("GeneratorId", "")).startswith(GENERATOR_PREFIX)
                    and finding.get("RecordState", "ACTIVE") == "ACTIVE"
                )
                for arn in resources:
                    if mine and (arns is None or arn in found):
                        found.setdefault(arn, []).append(finding)
    except Exception as exc:
        return {}, read_failure("securityhub:GetFindings", exc), max(calls, 1)
    return found, None, calls


def _place(arn: str) -> Place:
    place = place_of_arn(arn)
    if place is None:
        raise ValueError(f"not an ARN with an account and region: {arn[:200]!r}")
    return place


def _timestamp(epoch: float) -> str:
    """RFC 3339 with milliseconds, in UTC, as Security Hub writes its own."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch * 1000) % 1000:03d}Z"
