"""`what-if` against the account: read it once, as `scan` does, then judge the changes purely (`report.assess`).

The reads are the scan's batched rounds over every Lambda-rotated secret: their number grows with pages, functions,
databases and VPCs, never with the size of the plan; a second round reads what the changes newly bring into a
path (`Report.unread`), one batched call per kind of fact. Logs are not read: a change is judged on the network
alone.
"""

from __future__ import annotations

from rotation_doctor.analysis import diagnose
from rotation_doctor.collect.aws import AwsClients
from rotation_doctor.collect.changesets import describe_change_set
from rotation_doctor.collect.collector import SECOND_ROUND_KINDS, Collector
from rotation_doctor.whatif.changes import Source, is_new_id
from rotation_doctor.whatif.changeset import parse_change_set
from rotation_doctor.whatif.report import Report, assess


def what_if(clients: AwsClients, source: Source) -> Report:
    collector = Collector(clients)
    snapshots = collector.snapshots(collector.list_rotated_secrets())
    befores = [diagnose(s) for s in snapshots]
    report = assess(snapshots, source, befores)
    # A second round, once (never a loop): what the diagnoses after the changes looked up and the account read did
    # not hold, because only the changes bring it into a path (a new endpoint's group, the DNS attributes of its
    # VPC, a far VPC's subnets). Resources the plan creates have no facts in AWS yet: they are judged from the plan.
    wanted: dict[str, set[str]] = {}
    for read in report.unread:
        if read.kind in SECOND_ROUND_KINDS and isinstance(read.key, str) and not is_new_id(read.key):
            wanted.setdefault(read.kind, set()).add(read.key)
    if not wanted:
        return report
    merged, failed = collector.read_unread(snapshots, wanted)
    # The secrets' before is the account as read: what the second round adds is judged only after the changes.
    return assess(merged, source, befores, unreadable=failed)


def read_change_set(clients: AwsClients, change_set: str, stack: str | None) -> Source:
    name = f"{stack}/{change_set}" if stack else change_set
    return parse_change_set(describe_change_set(clients, change_set, stack), name=name)
