"""`what-if` against the account: read it once, as `scan` does, then judge the changes purely (`report.assess`).

The reads are the scan's batched rounds over every Lambda-rotated secret: their number grows with pages, functions,
databases and VPCs, never with the size of the plan; a second round reads what the changes newly bring into a
path (`Report.unread`). Logs are not read: a change is judged on the network alone.
"""

from __future__ import annotations

from dataclasses import replace

from rotation_doctor.collect.aws import AwsClients
from rotation_doctor.collect.changesets import describe_change_set
from rotation_doctor.collect.collector import Collector
from rotation_doctor.whatif.changes import Source, is_new_id
from rotation_doctor.whatif.changeset import parse_change_set
from rotation_doctor.whatif.report import Report, assess


def what_if(clients: AwsClients, source: Source) -> Report:
    collector = Collector(clients)
    snapshots = collector.snapshots(collector.list_rotated_secrets())
    report = assess(snapshots, source)
    # A second round: what the diagnoses after the changes looked up and the account read did not hold, because
    # only the changes bring it into a path (the DNS attributes of a VPC that gains a private-DNS endpoint).
    # Resources the plan creates have no facts in AWS yet: they are judged from the plan.
    vpcs = sorted(
        {r.key for r in report.unread if r.kind == "dns_attributes" and isinstance(r.key, str) and not is_new_id(r.key)}
    )
    if not vpcs:
        return report
    # A read that fails here is left out, not stored as a failure: the snapshots are the secrets' before too, which
    # never needed it. The fact stays unread, and the secret unknown for the change that newly uses it.
    attributes = collector.dns_attributes_of(vpcs)
    if not attributes:
        return report
    return assess([replace(s, dns_attributes={**s.dns_attributes, **attributes}) for s in snapshots], source)


def read_change_set(clients: AwsClients, change_set: str, stack: str | None) -> Source:
    name = f"{stack}/{change_set}" if stack else change_set
    return parse_change_set(describe_change_set(clients, change_set, stack), name=name)
