"""`what-if` against the account: read it once, as `scan` does, then judge the changes purely (`report.assess`).

The reads are the scan's batched rounds over every Lambda-rotated secret: their number grows with pages, functions,
databases and VPCs, never with the size of the plan. Logs are not read: a change is judged on the network alone.
"""

from __future__ import annotations

from rotation_doctor.collect.aws import AwsClients
from rotation_doctor.collect.changesets import describe_change_set
from rotation_doctor.collect.collector import Collector
from rotation_doctor.whatif.changes import Source
from rotation_doctor.whatif.changeset import parse_change_set
from rotation_doctor.whatif.report import Report, assess


def what_if(clients: AwsClients, source: Source) -> Report:
    collector = Collector(clients)
    snapshots = collector.snapshots(collector.list_rotated_secrets())
    return assess(snapshots, source)


def read_change_set(clients: AwsClients, change_set: str, stack: str | None) -> Source:
    name = f"{stack}/{change_set}" if stack else change_set
    return parse_change_set(describe_change_set(clients, change_set, stack), name=name)
