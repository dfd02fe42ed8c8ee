"""Everything a secret's diagnosis reads: a change to anything else cannot change it, a change to any of it may."""

from __future__ import annotations

from rotation_doctor.analysis.diagnosis import Diagnosis, diagnose
from rotation_doctor.model.snapshot import Snapshot


def resources_used(snap: Snapshot, diagnosis: Diagnosis | None = None) -> frozenset[str]:
    """The ids of the facts the diagnosis of `snap` read (`model.reads`), from `diagnosis` when it is that
    diagnosis: the secret, the function and the database, each subnet, route table and route target, ACL, group,
    prefix list, endpoint, gateway, attachment and zone looked at, and each query's subject (a subnet whose table was
    looked up, a VPC whose endpoints were)."""
    if diagnosis is None or not diagnosis.reads.reads:
        diagnosis = diagnose(snap)
    return diagnosis.reads.ids()
