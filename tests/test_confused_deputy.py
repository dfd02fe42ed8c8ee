"""A secret never decides on its own what gets opened.

Someone who may create a secret and a Lambda function writes a secret that names another team's database
(by its host, by an RDS tag on the secret, or a bastion by its IP address). rotation-doctor must not open
that database to their function unless the database's owner linked it to the secret (a tag on the
database or its group) or the deployer trusts the secret's name.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rotation_doctor.apply.executor import Executor
from rotation_doctor.apply.guardrails import Mode, Policy
from rotation_doctor.model.findings import Verdict
from rotation_doctor.model.plan import FixKind, LinkStatus, Risk
from rotation_doctor.model.snapshot import Database, ProxyTarget, Secret, SecurityGroup, TargetKind
from rotation_doctor.planning.ownership import LINK_TAG, database_link, names_secret
from rotation_doctor.planning.planner import make_plan
from rotation_doctor.simulated import scenarios
from rotation_doctor.simulated.account import AccountBuilder, tcp
from tests import fix_scenarios
from tests.fix_scenarios import writes
from tests.snapshots import ALL_OUT, SECRET_ARN, healthy, rule, with_group

ATTACKER_SECRET = "team-b/app/db"
AUTO_ANYTHING = Policy(mode=Mode.AUTO, max_auto_risk=Risk.HIGH)  # the most permissive auto a deployer can set


def executor(b: AccountBuilder, policy: Policy = AUTO_ANYTHING) -> Executor:
    return Executor(b.clients, policy, poll=0.01, wait_timeout=5)


def another_teams_database(b: AccountBuilder) -> scenarios.Orders:
    """The orders database, untagged, and a second team's function and secret in the same VPC."""
    o = scenarios.orders(b, endpoint=True, linked=False, secret_name="prod/orders/db")
    attacker_sg = b.security_group(o.net, "team-b-rotation")
    attacker_fn = b.rotation_function(
        "team-b-rotation", subnets=[o.net.subnets["app-a"], o.net.subnets["app-b"]], groups=[attacker_sg]
    )
    o.extra.update(attacker_sg=attacker_sg, attacker_fn=attacker_fn)
    return o


def names_by_host(b: AccountBuilder, o: scenarios.Orders) -> None:
    b.rotated_secret(ATTACKER_SECRET, {"host": o.db["host"], "port": 5432, "password": "x"}, o.extra["attacker_fn"])


def names_by_tag(b: AccountBuilder, o: scenarios.Orders) -> None:
    b.rotated_secret(
        ATTACKER_SECRET, {"password": "x"}, o.extra["attacker_fn"], tags={"rotation-doctor:target": "rds:orders-db"}
    )


def names_a_bastion_by_ip(b: AccountBuilder, o: scenarios.Orders) -> None:
    bastion_sg = b.security_group(o.net, "bastion", ingress=[tcp(22, cidr="10.99.0.0/16")])
    b.ec2.create_network_interface(
        SubnetId=o.net.subnets["data-a"], Groups=[bastion_sg], PrivateIpAddress="10.20.11.77"
    )
    o.extra["bastion_sg"] = bastion_sg
    b.rotated_secret(ATTACKER_SECRET, {"host": "10.20.11.77", "port": 22, "password": "x"}, o.extra["attacker_fn"])


WAYS = {"by host": names_by_host, "by tag": names_by_tag, "by IP": names_a_bastion_by_ip}


@pytest.mark.parametrize("way", sorted(WAYS))
def test_auto_mode_writes_nothing_for_a_database_the_secret_alone_names(builder: AccountBuilder, way: str) -> None:
    o = another_teams_database(builder)
    WAYS[way](builder, o)
    builder.clients.counter.calls.clear()
    out = executor(builder).run(ATTACKER_SECRET)
    assert out.before.verdict is Verdict.BROKEN
    assert out.applied == [] and writes(builder) == {}
    (fix,) = out.plan.fixes
    assert fix.kind is FixKind.AUTHORIZE_DB_INGRESS
    assert fix.link.status is LinkStatus.UNPROVEN and fix.risk is Risk.HIGH
    assert "a person's approval" in (out.fixes[0].reason or "")


@pytest.mark.parametrize("way", sorted(WAYS))
def test_the_plan_says_plainly_what_is_not_linked(builder: AccountBuilder, way: str) -> None:
    o = another_teams_database(builder)
    WAYS[way](builder, o)
    plan = executor(builder, Policy(mode=Mode.PROPOSE)).assess(ATTACKER_SECRET)[2]
    (fix,) = plan.fixes
    payload = fix.to_json()
    assert payload["risk"] == "high" and payload["link"]["status"] == "unproven"
    target_group = o.extra.get("bastion_sg", o.db_sg)
    assert target_group in payload["link"]["proof"] and o.net.vpc in payload["link"]["proof"]
    assert any("Not linked to the secret" in note for note in payload["notes"])
    # The secret's port never decides what opens: the database's own 5432 for RDS (the bastion has no
    # recorded port, so its 22 is shown, and only a person can approve it).
    expected_port = 22 if way == "by IP" else 5432
    assert payload["steps"][0]["params"]["IpPermissions"][0]["FromPort"] == expected_port


def test_the_same_database_tagged_by_its_owner_is_fixed_automatically_at_its_risk(builder: AccountBuilder) -> None:
    o = another_teams_database(builder)
    names_by_host(builder, o)
    arn = builder.clients.rds.describe_db_instances(DBInstanceIdentifier="orders-db")["DBInstances"][0]["DBInstanceArn"]
    builder.clients.rds.add_tags_to_resource(
        ResourceName=arn, Tags=[{"Key": LINK_TAG, "Value": f"{ATTACKER_SECRET} prod/orders/db"}]
    )
    out = executor(builder, replace(AUTO_ANYTHING, max_auto_risk=Risk.LOW)).run(ATTACKER_SECRET)
    assert out.applied == [str(FixKind.AUTHORIZE_DB_INGRESS)]
    assert out.plan.fixes[0].risk is Risk.LOW and out.plan.fixes[0].link.status is LinkStatus.PROVEN
    assert out.after is not None and out.after.verdict is Verdict.HEALTHY


def test_a_tag_on_the_databases_group_links_it_too(builder: AccountBuilder) -> None:
    o = another_teams_database(builder)
    names_by_host(builder, o)
    builder.ec2.create_tags(Resources=[o.db_sg], Tags=[{"Key": LINK_TAG, "Value": "team-b/*"}])
    out = executor(builder, replace(AUTO_ANYTHING, max_auto_risk=Risk.LOW)).run(ATTACKER_SECRET)
    assert out.applied == [str(FixKind.AUTHORIZE_DB_INGRESS)]


def test_a_trusted_prefix_links_the_secrets_under_it(builder: AccountBuilder) -> None:
    o = another_teams_database(builder)
    names_by_host(builder, o)
    trusted = replace(AUTO_ANYTHING, max_auto_risk=Risk.LOW, trusted_secret_prefixes=("team-b/",))
    assert executor(builder, trusted).run(ATTACKER_SECRET).applied == [str(FixKind.AUTHORIZE_DB_INGRESS)]


def test_a_secret_named_after_the_tail_of_the_databases_own_arn_is_not_linked(builder: AccountBuilder) -> None:
    """The database's owner tagged it with the full ARN of its own secret; someone names a secret after that ARN's
    tail (`prod/orders/db-AbCdEf`). Its ARN, less the six characters Secrets Manager appends, is the tag's: it
    must still not be linked."""
    o = another_teams_database(builder)
    arn = builder.clients.rds.describe_db_instances(DBInstanceIdentifier="orders-db")["DBInstances"][0]["DBInstanceArn"]
    builder.clients.rds.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": LINK_TAG, "Value": o.secret_arn}])
    tail = o.secret_arn.split(":secret:", 1)[1]
    builder.rotated_secret(tail, {"host": o.db["host"], "port": 5432, "password": "x"}, o.extra["attacker_fn"])
    builder.clients.counter.calls.clear()
    out = executor(builder, replace(AUTO_ANYTHING, max_auto_risk=Risk.LOW)).run(tail)
    assert out.applied == [] and writes(builder) == {}
    (fix,) = out.plan.fixes
    assert fix.link.status is LinkStatus.UNPROVEN and fix.risk is Risk.HIGH
    # The database's own secret, named by that very ARN, is linked.
    own = executor(builder, Policy(mode=Mode.PROPOSE)).assess(o.secret_arn)[2]
    assert all(f.link.status is not LinkStatus.UNPROVEN for f in own.fixes)


@pytest.mark.parametrize("own_group_too", [False, True])
def test_wearing_the_databases_group_opens_nothing_in_auto(builder: AccountBuilder, own_group_too: bool) -> None:
    """Team B's function also wears (or only wears) the orders database's group. That earns it nothing: the
    database's group admitting it is the database's side, unproven, and never applied in auto."""
    o = another_teams_database(builder)
    groups = [o.extra["attacker_sg"], o.db_sg] if own_group_too else [o.db_sg]
    wearer = builder.rotation_function("team-b-wearer", subnets=o.fn_subnets, groups=groups)
    builder.rotated_secret(ATTACKER_SECRET, {"host": o.db["host"], "port": 5432, "password": "x"}, wearer)
    builder.clients.counter.calls.clear()
    out = executor(builder, replace(AUTO_ANYTHING, max_auto_risk=Risk.LOW)).run(ATTACKER_SECRET)
    assert out.applied == [] and writes(builder) == {}
    (fix,) = out.plan.fixes
    assert fix.kind is FixKind.AUTHORIZE_DB_INGRESS
    assert fix.link.status is LinkStatus.UNPROVEN and fix.risk is Risk.HIGH
    # With a group of its own, that group is the rule's source; without one, the rule admits the whole group.
    (pair,) = fix.steps[0].call.params["IpPermissions"][0]["UserIdGroupPairs"]
    assert pair["GroupId"] == (o.extra["attacker_sg"] if own_group_too else o.db_sg)


def test_a_target_found_by_ip_waits_for_a_person_even_when_linked(builder: AccountBuilder) -> None:
    o = another_teams_database(builder)
    names_a_bastion_by_ip(builder, o)
    builder.ec2.create_tags(Resources=[o.extra["bastion_sg"]], Tags=[{"Key": LINK_TAG, "Value": ATTACKER_SECRET}])
    builder.clients.counter.calls.clear()
    out = executor(builder).run(ATTACKER_SECRET)
    assert out.applied == [] and writes(builder) == {}
    assert out.plan.fixes[0].link.status is LinkStatus.PROVEN and out.plan.fixes[0].link.by_person_only


def test_a_wrong_port_in_the_secret_is_a_finding_and_never_opened(builder: AccountBuilder) -> None:
    o = another_teams_database(builder)
    builder.rotated_secret(ATTACKER_SECRET, {"host": o.db["host"], "port": 22, "password": "x"}, o.extra["attacker_fn"])
    _, diagnosis, plan = executor(builder, Policy(mode=Mode.PROPOSE)).assess(ATTACKER_SECRET)
    assert "DB_PORT_MISMATCH" in diagnosis.codes()
    opened = [p["FromPort"] for f in plan.fixes for s in f.steps for p in s.call.params.get("IpPermissions", [])]
    assert opened == [5432]


# ----- the proof itself, on hand-built facts ---------------------------------------------------


SECRET = Secret(SECRET_ARN, "prod/app", True, None)


@pytest.mark.parametrize(
    ("value", "names"),
    [
        ("prod/app", True),
        (SECRET_ARN, True),
        (SECRET_ARN.rsplit("-", 1)[0], False),  # a partial ARN: ambiguous with a secret named "prod/app-AbCdEf"
        ("prod/*", True),
        ("other/app prod/app", True),
        ("other/app,prod/app", True),
        ("*", False),  # too broad: names every secret
        ("prod/ap", False),
        ("prod/app2", False),
        ("prod/app/*", False),
        ("arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/app-XyZ123", False),
        ("", False),
    ],
)
def test_what_a_link_tag_names(value: str, names: bool) -> None:
    assert names_secret(value, SECRET) is names


# Names and ARNs built to collide: a small alphabet, so that names, suffixes and places coincide often.
_NAMES = st.text("ab/-_.A", min_size=1, max_size=8)
_SUFFIXES = st.text("aAbB09", min_size=6, max_size=6)
_PLACES = st.tuples(
    st.sampled_from(["aws", "aws-cn"]),
    st.sampled_from(["us-east-1", "eu-west-1"]),
    st.sampled_from(["123456789012", "210987654321"]),
)


def _arn(place: tuple[str, str, str], name: str, suffix: str) -> str:
    partition, region, account = place
    return f"arn:{partition}:secretsmanager:{region}:{account}:secret:{name}-{suffix}"


def _near(base: str, suffix: str, place: tuple[str, str, str], choice: tuple[int, Any, Any]) -> tuple[str, str]:
    """A name and ARN near `base`: the same, with the suffix appended (lower case too), with a trailing `-`, or in
    the other case; in the same or another place, with the same or another suffix."""
    form, other_place, other_suffix = choice
    name = [base, f"{base}-{suffix}", f"{base}-", base.swapcase(), f"{base}-{suffix.lower()}"][form]
    return name, _arn(other_place or place, name, other_suffix or suffix)


def _entries(name: str, arn: str) -> list[str]:
    """What a link tag might hold for that secret: its full ARN, a partial ARN, with `-`, `?`, `-??????` or `*`
    appended, in another case, the ARN's tail (with and without the suffix), or its name, as is or changed."""
    partial, tail = arn.rsplit("-", 1)[0], arn.split(":secret:", 1)[1]
    return [
        arn,
        partial,
        f"{partial}-",
        f"{partial}-??????",
        f"{partial}*",
        f"{arn}-",
        f"{arn}?",
        f"{arn}*",
        arn.upper(),
        arn.swapcase(),
        tail,
        tail.rsplit("-", 1)[0],
        name,
        f"{name}-",
        f"{name}?",
        name.swapcase(),
    ]


def _look_alike(parts: tuple[Any, ...]) -> tuple[Secret, str]:
    place, base, suffix, mine, theirs, entry = parts
    name, arn = _near(base, suffix, place, mine)
    entries = _entries(*_near(base, suffix, place, theirs))
    return Secret(arn, name, True, None), entries[entry % len(entries)]


# A secret, and one entry of a link tag written for a secret made to look like it (flat tuples: fast to draw).
_NEAR_CHOICE = st.tuples(st.integers(0, 4), st.none() | _PLACES, st.none() | _SUFFIXES)
_LOOK_ALIKES = st.tuples(_PLACES, _NAMES, _SUFFIXES, _NEAR_CHOICE, _NEAR_CHOICE, st.integers(0, 15)).map(_look_alike)


@settings(max_examples=2000, deadline=None)
@given(_LOOK_ALIKES)
def test_an_entry_made_to_collide_names_only_the_same_secret(case: tuple[Secret, str]) -> None:
    secret, entry = case
    assert names_secret(entry, secret) is (entry in (secret.arn, secret.name))


@settings(max_examples=300, deadline=None)
@given(_LOOK_ALIKES)
def test_a_secret_whose_name_is_unknown_is_named_by_no_name(case: tuple[Secret, str]) -> None:
    secret, entry = case
    unknown = replace(secret, name="")
    assert names_secret(entry, unknown) is (entry == secret.arn)
    assert names_secret(f"{entry[:1]}*", unknown) is False


def test_the_secrets_own_tag_is_not_proof() -> None:
    snap = healthy()
    snap = replace(snap, secret=replace(snap.secret, tags={LINK_TAG: snap.secret.name}))
    assert database_link(snap).status is LinkStatus.UNPROVEN


def _db(snap: Any, **changes: Any) -> Database:
    assert snap.database is not None
    return replace(snap.database, **changes)


def test_proof_from_the_database_its_group_or_a_trusted_prefix() -> None:
    snap = healthy()
    assert database_link(replace(snap, database=_db(snap, tags={LINK_TAG: "prod/app"}))).status is LinkStatus.PROVEN
    tagged = replace(snap.security_groups["sg-db"], tags={LINK_TAG: "prod/*"})
    assert database_link(with_group(snap, tagged)).status is LinkStatus.PROVEN
    assert database_link(snap, ["prod/"]).status is LinkStatus.PROVEN
    assert database_link(snap, ["pro"]).status is LinkStatus.PROVEN
    assert database_link(snap, ["other/"]).status is LinkStatus.UNPROVEN


def test_an_unproven_database_fix_is_high_risk_and_a_function_side_fix_is_not_touched() -> None:
    snap = healthy()
    closed_db = replace(snap.security_groups["sg-db"], rules=(rule("sg-db", egress=False, port=5432, ref="sg-app"),))
    plan = make_plan(with_group(snap, closed_db))
    assert [(f.kind, f.risk, f.link.status) for f in plan.fixes] == [
        (FixKind.AUTHORIZE_DB_INGRESS, Risk.HIGH, LinkStatus.UNPROVEN)
    ]
    closed_fn = replace(snap.security_groups["sg-fn"], rules=(rule("sg-fn", egress=True, port=443, cidr="0.0.0.0/0"),))
    plan = make_plan(with_group(snap, closed_fn))
    assert [(f.kind, f.risk, f.link.status) for f in plan.fixes] == [
        (FixKind.AUTHORIZE_LAMBDA_EGRESS, Risk.LOW, LinkStatus.NOT_REQUIRED)
    ]


# ----- a function that wears the database's group ----------------------------------------------

ALL_OUT_RULE = rule("sg-db", egress=True, cidr="0.0.0.0/0", protocol="-1")


def _wearing(*groups: str, db_rules: tuple[Any, ...] = (ALL_OUT_RULE,), **changes: Any) -> Any:
    """The baseline, its function wearing `groups` (sg-db is the database's), sg-db with `db_rules`."""
    snap = with_group(healthy(**changes), replace(healthy().security_groups["sg-db"], rules=db_rules))
    assert snap.function is not None
    return replace(snap, function=replace(snap.function, security_group_ids=groups))


def _linked(snap: Any) -> Any:
    return with_group(snap, replace(snap.security_groups["sg-db"], tags={LINK_TAG: "prod/app"}))


def _summary(snap: Any) -> list[tuple[FixKind, Risk, LinkStatus, str, str]]:
    out = []
    for fix in make_plan(snap).fixes:
        (step,) = fix.steps
        (pair,) = step.call.params["IpPermissions"][0]["UserIdGroupPairs"]
        out.append((fix.kind, fix.risk, fix.link.status, step.call.params["GroupId"], pair["GroupId"]))
    return out


def test_a_function_wearing_only_the_databases_group_gets_a_rule_that_admits_the_whole_group_at_high_risk() -> None:
    snap = _wearing("sg-db")
    high = (FixKind.AUTHORIZE_DB_INGRESS, Risk.HIGH)
    assert _summary(snap) == [(*high, LinkStatus.UNPROVEN, "sg-db", "sg-db")]
    # Its owner's link proves the database is the secret's, but the rule still lets every member of sg-db in.
    assert _summary(_linked(snap)) == [(*high, LinkStatus.PROVEN, "sg-db", "sg-db")]
    (fix,) = make_plan(_linked(snap)).fixes
    assert any("admits every member of sg-db" in note for note in fix.notes)


@pytest.mark.parametrize("groups", [("sg-db", "sg-fn"), ("sg-fn", "sg-db")])
def test_a_function_wearing_the_databases_group_and_its_own_is_admitted_by_its_own(groups: tuple[str, ...]) -> None:
    snap = _wearing(*groups)
    assert _summary(snap) == [(FixKind.AUTHORIZE_DB_INGRESS, Risk.HIGH, LinkStatus.UNPROVEN, "sg-db", "sg-fn")]
    assert _summary(_linked(snap)) == [(FixKind.AUTHORIZE_DB_INGRESS, Risk.LOW, LinkStatus.PROVEN, "sg-db", "sg-fn")]


def test_the_functions_egress_goes_on_its_own_group_never_on_the_databases() -> None:
    # sg-db admits its own members and sends only HTTPS; sg-fn sends nothing: the database port is not let out.
    db_rules = (rule("sg-db", egress=False, port=5432, ref="sg-db"), rule("sg-db", egress=True, port=443, cidr=ALL_OUT))
    both = with_group(
        _wearing("sg-db", "sg-fn", db_rules=db_rules), replace(healthy().security_groups["sg-fn"], rules=())
    )
    assert _summary(both) == [(FixKind.AUTHORIZE_LAMBDA_EGRESS, Risk.LOW, LinkStatus.NOT_REQUIRED, "sg-fn", "sg-db")]
    # With no group of its own, the egress rule is written on the database's group: the database's side.
    only = _wearing("sg-db", db_rules=db_rules)
    assert _summary(only) == [(FixKind.AUTHORIZE_LAMBDA_EGRESS, Risk.HIGH, LinkStatus.UNPROVEN, "sg-db", "sg-db")]


def test_an_endpoint_admitting_the_databases_group_is_the_databases_side() -> None:
    db_rules = (rule("sg-db", egress=False, port=5432, ref="sg-db"), ALL_OUT_RULE)
    closed_endpoint = SecurityGroup("sg-vpce", "vpc-1", "vpce", ())
    only = with_group(_wearing("sg-db", db_rules=db_rules), closed_endpoint)
    kind = FixKind.AUTHORIZE_ENDPOINT_INGRESS
    assert _summary(only) == [(kind, Risk.HIGH, LinkStatus.UNPROVEN, "sg-vpce", "sg-db")]
    both = with_group(_wearing("sg-db", "sg-fn", db_rules=db_rules), closed_endpoint)
    assert _summary(both) == [(kind, Risk.LOW, LinkStatus.NOT_REQUIRED, "sg-vpce", "sg-fn")]


def test_a_network_interface_target_always_waits_for_a_person() -> None:
    snap = healthy()
    eni = _db(snap, kind=TargetKind.ENI, identifier="eni-1", host="10.0.11.7", tags={LINK_TAG: "prod/app"})
    link = database_link(replace(snap, database=eni))
    assert link.status is LinkStatus.PROVEN and link.by_person_only


# ----- an RDS Proxy's own leg: the target's group admitting the proxy's -------------------------------------------

PROXY_SECRET = fix_scenarios.PROXY_SECRET


def _proxy_leg_fix(out: Any) -> Any:
    (fix,) = out.plan.fixes
    assert fix.kind is FixKind.AUTHORIZE_DB_INGRESS and fix.fixes == ("DB_PROXY_TARGET_UNREACHABLE",)
    return fix


def test_an_unlinked_proxy_leg_fix_is_high_and_never_applied_in_auto(builder: AccountBuilder) -> None:
    """The orders database is linked to its own secret only; a secret naming the proxy in front of it is not linked
    to anything: opening the database's group to the proxy waits for a person."""
    fix_scenarios.proxy_target_closed(builder)
    builder.clients.counter.calls.clear()
    out = executor(builder).run(PROXY_SECRET)
    assert out.before.verdict is Verdict.BROKEN and out.applied == [] and writes(builder) == {}
    fix = _proxy_leg_fix(out)
    assert fix.link.status is LinkStatus.UNPROVEN and fix.risk is Risk.HIGH
    assert "a person's approval" in (out.fixes[0].reason or "")
    assert "a target behind it" in fix.link.proof


def _tag_the_target(b: AccountBuilder, o: scenarios.Orders, value: str) -> None:
    arn = b.clients.rds.describe_db_instances(DBInstanceIdentifier="orders-db")["DBInstances"][0]["DBInstanceArn"]
    b.clients.rds.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": LINK_TAG, "Value": value}])


@pytest.mark.parametrize("where", ["target", "target's group", "proxy's group"])
def test_a_proxy_leg_fix_linked_by_its_owner_is_applied_in_auto(builder: AccountBuilder, where: str) -> None:
    broken = fix_scenarios.proxy_target_closed(builder)
    o = broken.orders
    assert o is not None
    if where == "target":
        _tag_the_target(builder, o, f"prod/orders/db {PROXY_SECRET}")
    else:
        group = o.db_sg if where == "target's group" else broken.extra["proxy_sg"]
        builder.ec2.create_tags(Resources=[group], Tags=[{"Key": LINK_TAG, "Value": "prod/orders/via-*"}])
    out = executor(builder, replace(AUTO_ANYTHING, max_auto_risk=Risk.LOW)).run(PROXY_SECRET)
    fix = _proxy_leg_fix(out)
    assert fix.link.status is LinkStatus.PROVEN and fix.risk is Risk.LOW
    assert out.applied == [str(FixKind.AUTHORIZE_DB_INGRESS)]
    assert out.after is not None and out.after.verdict is Verdict.HEALTHY, out.after.findings


def test_a_secret_named_to_look_linked_to_the_proxys_target_is_not(builder: AccountBuilder) -> None:
    """The target's owner tagged it with the full ARN of the proxy's secret; someone names a secret after that ARN's
    tail, with the proxy as its host: it is not linked, and nothing is written."""
    broken = fix_scenarios.proxy_target_closed(builder)
    o = broken.orders
    assert o is not None
    proxy_secret_arn = builder.clients.secretsmanager.describe_secret(SecretId=PROXY_SECRET)["ARN"]
    _tag_the_target(builder, o, proxy_secret_arn)
    host = builder.clients.rds.describe_db_proxies(DBProxyName="orders-proxy")["DBProxies"][0]["Endpoint"]
    tail = proxy_secret_arn.split(":secret:", 1)[1]
    builder.rotated_secret(tail, {"engine": "postgres", "host": host, "password": "x"}, o.function_arn)
    builder.clients.counter.calls.clear()
    out = executor(builder, replace(AUTO_ANYTHING, max_auto_risk=Risk.LOW)).run(tail)
    assert out.applied == [] and writes(builder) == {}
    fix = _proxy_leg_fix(out)
    assert fix.link.status is LinkStatus.UNPROVEN and fix.risk is Risk.HIGH
    # The proxy's own secret, named by that very ARN, is linked.
    own = executor(builder, Policy(mode=Mode.PROPOSE)).assess(PROXY_SECRET)[2]
    assert [f.link.status for f in own.fixes] == [LinkStatus.PROVEN]


def _behind_proxy(*function_groups: str, db_rules: tuple[Any, ...] = ()) -> Any:
    """The baseline's database behind an RDS Proxy (group sg-proxy, admitting sg-fn), its group sg-db with
    `db_rules`, the function wearing `function_groups`."""
    snap = healthy()
    target = ProxyTarget("db", "RDS_INSTANCE", 5432, "AVAILABLE", None, None, "vpc-1", ("data-a", "data-b"), ("sg-db",))
    proxy = Database(
        TargetKind.RDS_PROXY,
        "orders-proxy",
        5432,
        "vpc-1",
        ("data-a", "data-b"),
        ("sg-proxy",),
        proxy_targets=(target,),
    )
    proxy_rules = (
        rule("sg-proxy", egress=False, port=5432, ref="sg-fn"),
        rule("sg-proxy", egress=True, cidr=ALL_OUT, protocol="-1"),
    )
    snap = with_group(
        with_group(snap, SecurityGroup("sg-proxy", "vpc-1", "proxy", proxy_rules)),
        SecurityGroup("sg-db", "vpc-1", "db", db_rules),
    )
    assert snap.function is not None
    return replace(snap, database=proxy, function=replace(snap.function, security_group_ids=function_groups))


def _target_linked(snap: Any) -> Any:
    db = snap.database
    target = replace(db.proxy_targets[0], tags={LINK_TAG: "prod/app"})
    return replace(snap, database=replace(db, proxy_targets=(target,)))


def test_the_proxy_leg_rule_is_low_once_linked_and_a_target_tag_proves_the_link() -> None:
    snap = _behind_proxy("sg-fn")
    proxy_leg = (FixKind.AUTHORIZE_DB_INGRESS, "sg-db", "sg-proxy")
    assert _summary(snap) == [(proxy_leg[0], Risk.HIGH, LinkStatus.UNPROVEN, *proxy_leg[1:])]
    assert _summary(_target_linked(snap)) == [(proxy_leg[0], Risk.LOW, LinkStatus.PROVEN, *proxy_leg[1:])]


def test_a_function_wearing_the_proxys_group_makes_the_proxy_leg_rule_high_even_when_linked() -> None:
    """The rule admits every member of the proxy's group: a function wearing it would go past the proxy, straight
    to the target. That is a person's call, whatever the link."""
    snap = _target_linked(_behind_proxy("sg-fn", "sg-proxy"))
    (fix,) = make_plan(snap).fixes
    assert (fix.risk, fix.link.status) == (Risk.HIGH, LinkStatus.PROVEN)
    assert any("lets the function past the proxy" in note for note in fix.notes)


def test_a_function_wearing_the_targets_group_earns_nothing() -> None:
    """The function wears only the target's group, which the proxy does not admit: the proxy's group admitting it
    admits every member of the target's group (the database's side), so it is high even when linked."""
    snap = _target_linked(
        _behind_proxy(
            "sg-db",
            db_rules=(
                rule("sg-db", egress=True, cidr=ALL_OUT, protocol="-1"),
                rule("sg-db", egress=False, port=5432, ref="sg-proxy"),
            ),
        )
    )
    assert _summary(snap) == [(FixKind.AUTHORIZE_DB_INGRESS, Risk.HIGH, LinkStatus.PROVEN, "sg-proxy", "sg-db")]


@pytest.mark.parametrize("function_name", ["rotate", "acl-data", "sg-db"])
def test_a_function_named_after_the_databases_resources_earns_no_link(function_name: str) -> None:
    """A function's name is its owner's to choose (letters, digits, `-`, `_`): named `acl-...` after the database
    subnets' network ACL, it does not make a change to that ACL the function's own. Ids are compared with their kind."""
    from tests.snapshots import acl, allow_all_entries

    snap = healthy()
    assert snap.function is not None
    others = tuple(s for s in snap.subnets if not s.startswith("data-"))
    acls = (acl("acl-default", others, allow_all_entries(), default=True), acl("acl-data", ("data-a", "data-b")))
    snap = replace(snap, network_acls=acls, function=replace(snap.function, name=function_name))
    fixes = make_plan(snap).fixes
    assert fixes and {(f.kind, f.risk, f.link.status) for f in fixes} == {
        (FixKind.ADD_NACL_ENTRIES, Risk.HIGH, LinkStatus.UNPROVEN)
    }
