"""What a secret's paths use (`resources_used`): the worker's `affects` and `what-if` look at a secret only when a
change touches something in it, so a part of the model missing here is a change that is never looked at."""

from __future__ import annotations

from rotation_doctor.analysis.usage import resources_used
from rotation_doctor.service.batch import affects
from rotation_doctor.service.events import Change
from tests.snapshots import DB_LIST, TARGET, _db_reached_by_list, dual_stack, proxied, through_tgw


def change_to(*ids: str) -> Change:
    return Change("e", "RevokeSecurityGroupIngress", "aws.ec2", frozenset(ids), frozenset())


def test_an_rds_proxys_targets_their_groups_and_subnets_are_used() -> None:
    snap = proxied(TARGET)
    used = resources_used(snap)
    assert {"db", "sg-db", "data-a", "data-b"} <= used
    assert affects(change_to("sg-db"), snap)  # the target's group no longer admitting the proxy breaks rotation


def test_an_ipv6_route_target_is_used() -> None:
    assert "eigw-1" in resources_used(dual_stack())


def test_a_transit_gateways_attachments_and_route_table_are_used() -> None:
    used = resources_used(through_tgw())
    assert {"tgw-1", "tgw-attach-1", "tgw-attach-2", "tgw-rtb-1"} <= used


def test_a_prefix_list_a_used_groups_rule_names_is_used() -> None:
    snap = _db_reached_by_list(prefix_lists={"pl-data": DB_LIST})
    assert "pl-data" in resources_used(snap)
    assert affects(change_to("pl-data"), snap)  # ModifyManagedPrefixList on the list


def test_a_change_names_a_secret_by_its_arn_its_name_or_its_partial_arn_and_nothing_near_them() -> None:
    """CloudTrail's `secretId` is what the caller wrote: a full ARN, the name, or the ARN without its six random
    characters. Those wake the secret; a name or ARN that merely starts the same never does."""
    from tests.snapshots import healthy

    snap = healthy()
    arn, name = snap.secret.arn, snap.secret.name
    partial = arn[: -len("-AbCdEf")]
    assert arn.startswith(partial + "-") and partial.endswith(name)

    def woken(secret_id: str) -> bool:
        return affects(
            Change("e", "PutSecretValue", "aws.secretsmanager", frozenset(), frozenset({("secret", secret_id)})), snap
        )

    assert woken(arn) and woken(name) and woken(partial)
    for near in (arn[:-1], partial[:-1], partial + "-", arn + "x", "arn:aws:secretsmanager", name[:-1], name + "2"):
        assert not woken(near), near
