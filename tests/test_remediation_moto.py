"""Every fix kind on the simulated account: broken, planned, applied, healthy; a second run changes nothing.
Then rollback at every step of a multi-step plan, racing approvals, and the guardrails of `auto`."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from remediations import REGISTRY, PlanContext
from remediations._rules import DEFAULT_EGRESS, DEFAULT_EGRESS_V6
from rotation_doctor.apply.executor import Executor, JournalEntry
from rotation_doctor.apply.guardrails import IGNORE_TAG, InMemoryBudget, Mode
from rotation_doctor.approvals.store import ProposalStore, create_table
from rotation_doctor.approvals.workflow import apply_proposal, handle_secret
from rotation_doctor.model.errors import AlreadyDecided, ProposalConflict, ProposalExpired, ProposalNotFound
from rotation_doctor.model.findings import Verdict
from rotation_doctor.model.plan import FixKind, Risk
from rotation_doctor.model.states import OutcomeStatus, StepStatus
from rotation_doctor.simulated import scenarios
from rotation_doctor.simulated.account import AccountBuilder, tcp
from tests import fix_scenarios
from tests.faults import fail_nth
from tests.fix_scenarios import ANYTHING, SECRET, account_state, executor, fix_and_recheck, writes

# ----- each fix kind ---------------------------------------------------------------------------


def test_authorize_db_ingress(builder: AccountBuilder) -> None:
    o = fix_scenarios.db_closed(builder).orders
    assert o is not None
    fix_and_recheck(builder, FixKind.AUTHORIZE_DB_INGRESS)
    # moto leaves descriptions out of DescribeSecurityGroupRules; DescribeSecurityGroups has them, as AWS does.
    ingress = builder.ec2.describe_security_groups(GroupIds=[o.db_sg])["SecurityGroups"][0]["IpPermissions"]
    added = [(p, pair) for p in ingress for pair in p["UserIdGroupPairs"] if pair["GroupId"] == o.fn_sg]
    assert len(added) == 1 and added[0][0]["FromPort"] == added[0][0]["ToPort"] == 5432
    assert added[0][1]["Description"].startswith("rotation-doctor: prod/orders/db")


def test_authorize_lambda_egress(builder: AccountBuilder) -> None:
    o = fix_scenarios.function_egress_closed(builder).orders
    assert o is not None
    fix_and_recheck(builder, FixKind.AUTHORIZE_LAMBDA_EGRESS)
    egress = builder.ec2.describe_security_groups(GroupIds=[o.fn_sg])["SecurityGroups"][0]["IpPermissionsEgress"]
    assert sorted((p["FromPort"], p["UserIdGroupPairs"][0]["GroupId"]) for p in egress) == sorted(
        [(443, o.extra["endpoint_sg"]), (5432, o.db_sg)]
    )


@pytest.mark.parametrize(
    "kind",
    [
        FixKind.AUTHORIZE_ENDPOINT_INGRESS,
        FixKind.ADD_INVOKE_PERMISSION,
        FixKind.ADD_PEERING_ROUTES,
    ],
)
def test_fix_kind_heals_its_breakage(builder: AccountBuilder, kind: FixKind) -> None:
    broken = fix_scenarios.BY_KIND[kind](builder)
    fix_and_recheck(builder, kind, secret=broken.secret, **broken.run)


def test_enable_endpoint_private_dns(builder: AccountBuilder) -> None:
    endpoint = fix_scenarios.private_dns_off(builder).extra["endpoint"]
    fix_and_recheck(builder, FixKind.ENABLE_ENDPOINT_PRIVATE_DNS)
    assert builder.ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint])["VpcEndpoints"][0]["PrivateDnsEnabled"]


def test_create_secretsmanager_endpoint(builder: AccountBuilder) -> None:
    o = fix_scenarios.no_endpoint(builder).orders
    assert o is not None
    fix_and_recheck(builder, FixKind.CREATE_SECRETSMANAGER_ENDPOINT)
    made = [e for e in builder.ec2.describe_vpc_endpoints()["VpcEndpoints"] if e["State"].lower() != "deleted"]
    assert len(made) == 1 and made[0]["PrivateDnsEnabled"] and sorted(made[0]["SubnetIds"]) == sorted(o.fn_subnets)
    tags = {t["Key"]: t["Value"] for t in made[0]["Tags"]}
    assert tags["rotation-doctor:created-by"] == "rotation-doctor" and tags["rotation-doctor:secret"] == o.secret_arn
    group = builder.ec2.describe_security_groups(GroupIds=[made[0]["Groups"][0]["GroupId"]])["SecurityGroups"][0]
    assert [(p["FromPort"], p["IpRanges"][0]["CidrIp"]) for p in group["IpPermissions"]] == [(443, "10.20.0.0/16")]


def test_enable_vpc_dns(builder: AccountBuilder) -> None:
    o = fix_scenarios.vpc_dns_off(builder).orders
    assert o is not None
    fix_and_recheck(builder, FixKind.ENABLE_VPC_DNS)
    attr = builder.ec2.describe_vpc_attribute(VpcId=o.net.vpc, Attribute="enableDnsHostnames")
    assert attr["EnableDnsHostnames"]["Value"] is True


def test_add_nacl_entries(builder: AccountBuilder) -> None:
    acl = fix_scenarios.data_acl_closed(builder).extra["acl"]
    fix_and_recheck(builder, FixKind.ADD_NACL_ENTRIES)
    entries = builder.ec2.describe_network_acls(NetworkAclIds=[acl])["NetworkAcls"][0]["Entries"]
    added = [
        e
        for e in entries
        if not e["Egress"] and e["RuleAction"] == "allow" and e["RuleNumber"] != 200 and e["RuleNumber"] < 32767
    ]
    assert sorted(e["CidrBlock"] for e in added) == ["10.20.1.0/24", "10.20.2.0/24"]
    assert all(e["PortRange"] == {"From": 5432, "To": 5432} and e["Protocol"] == "6" for e in added)


def test_attach_lambda_to_vpc(builder: AccountBuilder) -> None:
    fix_scenarios.function_outside_vpc(builder)
    plan = executor(builder).assess("outside/db")[2]
    assert [f.kind for f in plan.fixes][:2] == [FixKind.ATTACH_LAMBDA_TO_VPC, FixKind.CREATE_SECRETSMANAGER_ENDPOINT]
    assert FixKind.AUTHORIZE_DB_INGRESS in [f.kind for f in plan.fixes]
    fix_and_recheck(builder, FixKind.ATTACH_LAMBDA_TO_VPC, secret="outside/db")


def test_create_nat_gateway_only_when_asked(builder: AccountBuilder) -> None:
    fix_scenarios.nat_wanted(builder)
    assert FixKind.CREATE_NAT_GATEWAY not in [f.kind for f in executor(builder).assess(SECRET)[2].fixes]
    fix_and_recheck(builder, FixKind.CREATE_NAT_GATEWAY, prefer_nat=True)


# ----- the groups a plan creates open nothing, over IPv6 either ----------------------------------

Rule = tuple[str, int | None, int | None, str | None]


def _real_egress(b: AccountBuilder, reason: str) -> set[Rule]:
    (group,) = b.ec2.describe_security_groups(Filters=[{"Name": "tag:rotation-doctor:reason", "Values": [reason]}])[
        "SecurityGroups"
    ]
    out: set[Rule] = set()
    for p in group["IpPermissionsEgress"]:
        peers = [r["CidrIp"] for r in p.get("IpRanges", [])] + [r["CidrIpv6"] for r in p.get("Ipv6Ranges", [])]
        peers += [pair["GroupId"] for pair in p.get("UserIdGroupPairs", [])]
        out |= {(p["IpProtocol"], p.get("FromPort"), p.get("ToPort"), peer) for peer in peers}
    return out


@pytest.mark.parametrize(
    ("kind", "broken", "reason"),
    [
        (FixKind.CREATE_SECRETSMANAGER_ENDPOINT, fix_scenarios.no_endpoint, "secretsmanager-endpoint"),
        (FixKind.ATTACH_LAMBDA_TO_VPC, fix_scenarios.function_outside_vpc, "rotation-function"),
    ],
)
def test_a_group_created_in_a_vpc_with_ipv6_loses_the_default_ipv6_egress_too(
    builder: AccountBuilder, kind: FixKind, broken: Callable[[AccountBuilder], fix_scenarios.Broken], reason: str
) -> None:
    case = broken(builder)
    assert case.orders is not None
    builder.dual_stack(case.orders.net, ["app-a"])  # AWS now gives every new group in the VPC ::/0 egress
    snap, diagnosis, plan = executor(builder).assess(case.secret)
    (fix,) = [f for f in plan.fixes if f.kind is kind]
    revoked = [s.call.params["IpPermissions"] for s in fix.steps if s.call.operation == "RevokeSecurityGroupEgress"]
    assert revoked == [[DEFAULT_EGRESS], [DEFAULT_EGRESS_V6]]
    # What the planner simulated for the new group is what AWS holds once applied.
    remediation = REGISTRY[kind]
    (planned,) = [
        p
        for p in remediation.plan(snap, diagnosis.findings, PlanContext(snap.secret.arn, snap.secret.name))
        if p.fix.kind is kind
    ]
    simulated = planned.apply_to(snap).security_groups["sg-new1"].rules
    fix_and_recheck(builder, kind, secret=case.secret)
    expected = {(r.protocol, r.port_from, r.port_to, r.cidr or r.referenced_group_id) for r in simulated if r.egress}
    assert _real_egress(builder, reason) == expected


def test_a_group_created_in_a_vpc_without_ipv6_revokes_only_the_ipv4_default(builder: AccountBuilder) -> None:
    fix_scenarios.no_endpoint(builder)
    plan = executor(builder).assess(SECRET)[2]
    (fix,) = [f for f in plan.fixes if f.kind is FixKind.CREATE_SECRETSMANAGER_ENDPOINT]
    revoked = [s.call.params["IpPermissions"] for s in fix.steps if s.call.operation == "RevokeSecurityGroupEgress"]
    assert revoked == [[DEFAULT_EGRESS]]


@pytest.mark.parametrize("answer", ["InvalidPermission.NotFound", "UnknownIpPermissions"])
def test_a_revoke_that_finds_no_rule_is_already_done_and_never_undone(builder: AccountBuilder, answer: str) -> None:
    """The default IPv6 rule is not there (the VPC's IPv6 block went, or its blocks were not read and the plan
    revoked both): AWS answers InvalidPermission.NotFound, or in a default VPC success with the rule listed in
    UnknownIpPermissions. Either way the step is already done: never journaled, and a rollback adds no rule back."""
    case = fix_scenarios.no_endpoint(builder)
    assert case.orders is not None
    builder.dual_stack(case.orders.net, ["app-a"])
    before = account_state(builder)
    authorized_v6: list[Any] = []

    def revoke(params: Any, **_: Any) -> Any:
        if "CidrIpv6" not in str(params):
            return None
        if answer == "UnknownIpPermissions":
            return AWSResponse("https://ec2", 200, {}, None), {"Return": True, answer: [DEFAULT_EGRESS_V6]}
        raise ClientError(
            {"Error": {"Code": answer, "Message": "The rule does not exist"}}, "RevokeSecurityGroupEgress"
        )

    def authorize(params: Any, **_: Any) -> None:
        if "CidrIpv6" in str(params):
            authorized_v6.append(params)

    events = builder.clients.ec2.meta.events
    events.register_first("before-call.ec2.RevokeSecurityGroupEgress", revoke, unique_id="v6-revoke")
    events.register_first("before-call.ec2.AuthorizeSecurityGroupEgress", authorize, unique_id="v6-authorize")
    stop = fail_nth(builder, "CreateVpcEndpoint", 1)
    journal: list[JournalEntry] = []
    try:
        out = executor(builder).run(SECRET, approval=ANYTHING, journal=journal.append)
    finally:
        stop()
        events.unregister("before-call.ec2.RevokeSecurityGroupEgress", unique_id="v6-revoke")
        events.unregister("before-call.ec2.AuthorizeSecurityGroupEgress", unique_id="v6-authorize")
    assert out.status is OutcomeStatus.ROLLED_BACK
    (v6,) = [s for f in out.fixes for s in f.steps if "::/0" in s.says]
    assert v6.status is StepStatus.ALREADY_DONE
    assert [e for e in journal if "::/0" in e.what] == [] and authorized_v6 == []
    assert account_state(builder) == before


# ----- rollback --------------------------------------------------------------------------------


# The demo's plan: s1 CreateSecurityGroup, s2 AuthorizeSecurityGroupIngress (443 from the VPC),
# s3 CreateVpcEndpoint, s4 AuthorizeSecurityGroupIngress (database admits the function).
@pytest.mark.parametrize(
    "operation,nth",
    [
        ("CreateSecurityGroup", 1),
        ("AuthorizeSecurityGroupIngress", 1),
        ("CreateVpcEndpoint", 1),
        ("AuthorizeSecurityGroupIngress", 2),
    ],
)
def test_failure_at_any_step_leaves_the_account_as_it_was(builder: AccountBuilder, operation: str, nth: int) -> None:
    scenarios.orders(builder)
    create_table(builder.clients, "proposals")
    store = ProposalStore(builder.clients, "proposals")
    ex = executor(builder, mode=Mode.PROPOSE)
    proposal = handle_secret(ex, store, SECRET).proposal
    assert proposal is not None and len(proposal.plan) == 2
    before = account_state(builder)
    store.approve(proposal.id, by="test")
    stop = fail_nth(builder, operation, nth)
    try:
        handled = apply_proposal(ex, store, proposal.id, by="test")
    finally:
        stop()
    assert account_state(builder) == before
    assert handled.proposal is not None and handled.proposal.state == "rolled_back"
    assert operation in handled.proposal.history[-1]["note"] and "injected" in handled.proposal.history[-1]["note"]
    assert handled.outcome.status is OutcomeStatus.ROLLED_BACK


def answer_instead(
    b: AccountBuilder, operation: str, answer: Callable[[dict[str, Any]], dict[str, Any]]
) -> Callable[[], None]:
    """`operation` answered HTTP 200 with `answer(its parameters)` and nothing done, as AWS answers a per-item
    failure (a `before-call` hook that returns an answer stands for the request)."""
    asked: dict[str, Any] = {}

    def remember(params: dict[str, Any], **_: Any) -> None:
        asked.update(params)

    def answering(**_: Any) -> tuple[Any, dict[str, Any]]:
        return SimpleNamespace(status_code=200, headers={}), {**answer(asked), "ResponseMetadata": {}}

    events = b.clients.ec2.meta.events
    events.register(f"before-parameter-build.ec2.{operation}", remember, unique_id="asked")
    events.register(f"before-call.ec2.{operation}", answering, unique_id="answer")

    def stop() -> None:
        events.unregister(f"before-parameter-build.ec2.{operation}", unique_id="asked")
        events.unregister(f"before-call.ec2.{operation}", unique_id="answer")

    return stop


def test_an_endpoint_delete_answered_unsuccessful_is_a_failed_undo_with_the_endpoint_left(
    builder: AccountBuilder,
) -> None:
    """DeleteVpcEndpoints answers 200 and lists each endpoint it did not delete in `Unsuccessful`: that undo failed."""
    scenarios.orders(builder)
    stop_failing = fail_nth(builder, "AuthorizeSecurityGroupIngress", 2)  # the last step: everything is undone
    refusal = {"Code": "InvalidVpcEndpoint.NotDeletable", "Message": "injected"}
    stop_answering = answer_instead(
        builder,
        "DeleteVpcEndpoints",
        lambda params: {"Unsuccessful": [{"ResourceId": i, "Error": refusal} for i in params["VpcEndpointIds"]]},
    )
    try:
        outcome = executor(builder).run(SECRET, approval=ANYTHING)
    finally:
        stop_failing()
        stop_answering()
    assert outcome.status is OutcomeStatus.ROLLBACK_INCOMPLETE
    (endpoint,) = [e["VpcEndpointId"] for e in builder.ec2.describe_vpc_endpoints()["VpcEndpoints"]]
    assert [(x.resource, x.error) for x in outcome.leftovers] == [(endpoint, "InvalidVpcEndpoint.NotDeletable")]
    left = outcome.leftovers[0].remove
    assert left is not None and (left.operation, dict(left.params)) == (
        "DeleteVpcEndpoints",
        {"VpcEndpointIds": [endpoint]},
    )


RULE = [{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": "sg-2"}]}]


@pytest.mark.parametrize(
    ("operation", "params", "answer", "code"),
    [
        ("ModifyVpcEndpoint", {"VpcEndpointId": "vpce-1", "PrivateDnsEnabled": True}, {"Return": False}, "ReturnFalse"),
        (
            "DeleteVpcEndpoints",
            {"VpcEndpointIds": ["vpce-1"]},
            {"Unsuccessful": [{"ResourceId": "vpce-1", "Error": {"Code": "Gone.Elsewhere", "Message": "m"}}]},
            "Gone.Elsewhere",
        ),
        (
            "RevokeSecurityGroupIngress",
            {"GroupId": "sg-1", "IpPermissions": RULE},
            {"Return": True, "UnknownIpPermissions": RULE},
            "InvalidPermission.NotFound",  # the same fact AWS answers outside a default VPC
        ),
        ("AuthorizeSecurityGroupIngress", {"GroupId": "sg-1", "IpPermissions": RULE}, {"Return": False}, "ReturnFalse"),
    ],
)
def test_every_write_answered_as_not_done_is_an_error(
    builder: AccountBuilder, operation: str, params: dict[str, Any], answer: dict[str, Any], code: str
) -> None:
    """The executor's one place for writes holds every call to what its answer says, applying and undoing alike."""
    from rotation_doctor.model.plan import Call

    stop = answer_instead(builder, operation, lambda _: answer)
    try:
        with pytest.raises(ClientError) as raised:
            executor(builder)._call(Call("ec2", operation, params))
    finally:
        stop()
    assert raised.value.operation_name == operation and raised.value.response["Error"]["Code"] == code


def test_a_private_dns_change_answered_return_false_is_not_applied(builder: AccountBuilder) -> None:
    fix_scenarios.private_dns_off(builder)
    stop = answer_instead(builder, "ModifyVpcEndpoint", lambda _: {"Return": False})
    try:
        outcome = executor(builder).run(SECRET, approval=ANYTHING)
    finally:
        stop()
    assert FixKind.ENABLE_ENDPOINT_PRIVATE_DNS not in outcome.applied
    assert outcome.reason is not None and "ReturnFalse" in outcome.reason


# ----- proposals -------------------------------------------------------------------------------


def test_two_concurrent_approvals_apply_once(builder: AccountBuilder) -> None:
    scenarios.orders(builder, endpoint=True)
    create_table(builder.clients, "proposals")
    store = ProposalStore(builder.clients, "proposals")
    ex = executor(builder, mode=Mode.PROPOSE)
    proposal = handle_secret(ex, store, SECRET).proposal
    assert proposal is not None
    store.approve(proposal.id, by="first")
    builder.clients.counter.calls.clear()
    start = threading.Barrier(8)
    results: list[str] = []

    def approve_and_apply(who: str) -> None:
        start.wait()
        try:
            handled = apply_proposal(ex, store, proposal.id, by=who)
            results.append(f"applied:{handled.proposal.state if handled.proposal else '?'}")
        except ProposalConflict:
            results.append("refused")

    threads = [threading.Thread(target=approve_and_apply, args=(f"approver-{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["applied:applied"] + ["refused"] * 7
    assert writes(builder).get("ec2:AuthorizeSecurityGroupIngress") == 1
    assert store.get(proposal.id).state == "applied"


def test_one_open_proposal_per_secret_and_plan(builder: AccountBuilder) -> None:
    scenarios.orders(builder)
    create_table(builder.clients, "proposals")
    store = ProposalStore(builder.clients, "proposals")
    ex = executor(builder, mode=Mode.PROPOSE)
    first, second = handle_secret(ex, store, SECRET), handle_secret(ex, store, SECRET)
    assert first.proposal_is_new and not second.proposal_is_new
    assert first.proposal and second.proposal and first.proposal.id == second.proposal.id
    assert len(store.list()) == 1


def test_expired_proposal_is_refused(builder: AccountBuilder) -> None:
    scenarios.orders(builder)
    create_table(builder.clients, "proposals")
    store = ProposalStore(builder.clients, "proposals", ttl=-10)
    proposal = handle_secret(executor(builder, mode=Mode.PROPOSE), store, SECRET).proposal
    assert proposal is not None
    with pytest.raises(ProposalConflict, match="expired"):
        store.approve(proposal.id, by="late")
    assert store.get(proposal.id).state == "expired"


def test_stale_plan_is_not_applied_but_proposed_again(builder: AccountBuilder) -> None:
    o = scenarios.orders(builder)
    create_table(builder.clients, "proposals")
    store = ProposalStore(builder.clients, "proposals")
    ex = executor(builder, mode=Mode.PROPOSE)
    proposal = handle_secret(ex, store, SECRET).proposal
    assert proposal is not None
    store.approve(proposal.id, by="oncall")
    builder.ec2.authorize_security_group_ingress(GroupId=o.db_sg, IpPermissions=[tcp(5432, group=o.fn_sg)])
    builder.clients.counter.calls.clear()
    handled = apply_proposal(ex, store, proposal.id, by="oncall")
    assert handled.outcome.status == "stale" and writes(builder) == {}
    assert store.get(proposal.id).state == "expired"
    assert handled.proposal is not None and handled.proposal.id != proposal.id and handled.proposal.state == "proposed"
    assert [f.kind for f in handled.proposal.plan] == ["CREATE_SECRETSMANAGER_ENDPOINT"]


def test_rejected_proposal_cannot_be_applied(builder: AccountBuilder) -> None:
    scenarios.orders(builder)
    create_table(builder.clients, "proposals")
    store = ProposalStore(builder.clients, "proposals")
    proposal = handle_secret(executor(builder, mode=Mode.PROPOSE), store, SECRET).proposal
    assert proposal is not None
    store.reject(proposal.id, by="oncall", note="will fix in Terraform")
    with pytest.raises(ProposalConflict):
        store.approve(proposal.id, by="someone")


def test_proposal_errors_are_typed(builder: AccountBuilder) -> None:
    scenarios.orders(builder)
    create_table(builder.clients, "proposals")
    store = ProposalStore(builder.clients, "proposals")
    for missing in (lambda: store.get("p-nope"), lambda: store.approve("p-nope", by="x")):
        with pytest.raises(ProposalNotFound) as not_found:
            missing()
        assert not isinstance(not_found.value, KeyError) and not_found.value.proposal_id == "p-nope"
    proposal = handle_secret(executor(builder, mode=Mode.PROPOSE), store, SECRET).proposal
    assert proposal is not None
    store.reject(proposal.id, by="oncall")
    with pytest.raises(AlreadyDecided) as decided:
        store.claim(proposal.id, by="someone")
    assert decided.value.state == "rejected" and decided.value.wanted == ("approved",)
    create_table(builder.clients, "late")
    late = ProposalStore(builder.clients, "late", ttl=-10)
    expired = handle_secret(executor(builder, mode=Mode.PROPOSE), late, SECRET).proposal
    assert expired is not None
    with pytest.raises(ProposalExpired):
        late.approve(expired.id, by="late")


# ----- auto and the guardrails -----------------------------------------------------------------


def test_auto_applies_only_up_to_max_auto_risk_and_proposes_the_rest(builder: AccountBuilder) -> None:
    scenarios.orders(builder)
    create_table(builder.clients, "proposals")
    store = ProposalStore(builder.clients, "proposals")
    handled = handle_secret(executor(builder, mode=Mode.AUTO, max_auto_risk=Risk.LOW), store, SECRET)
    assert handled.outcome.applied == ["AUTHORIZE_DB_INGRESS"]
    skipped = {f.kind: f.reason for f in handled.outcome.fixes if f.status == "skipped"}
    assert "above max_auto_risk low" in skipped["CREATE_SECRETSMANAGER_ENDPOINT"]
    assert handled.proposal is not None and [f.kind for f in handled.proposal.plan] == [
        "CREATE_SECRETSMANAGER_ENDPOINT"
    ]


def test_auto_never_creates_a_nat_gateway(builder: AccountBuilder) -> None:
    scenarios.orders(builder, db_admits_function=True)
    builder.clients.counter.calls.clear()
    out = executor(builder, mode=Mode.AUTO, max_auto_risk=Risk.HIGH).run(SECRET, prefer_nat=True)
    assert out.applied == [] and "ec2:CreateNatGateway" not in builder.clients.counter.calls
    assert out.fixes[0].kind == "CREATE_NAT_GATEWAY" and out.fixes[0].status == "skipped"


@pytest.mark.parametrize("where", ["secret", "db_group", "vpc", "function"])
def test_auto_leaves_opted_out_resources_alone(builder: AccountBuilder, where: str) -> None:
    # Each case breaks only what the tagged resource would have to change (the function case: its policy).
    o = fix_scenarios.orders_with_endpoint(builder, db_admits_function=where == "function")
    tag = [{"Key": IGNORE_TAG, "Value": "true"}]
    if where == "secret":
        builder.clients.secretsmanager.tag_resource(SecretId=o.secret_arn, Tags=tag)
    elif where == "db_group":
        builder.ec2.create_tags(Resources=[o.db_sg], Tags=tag)
    elif where == "vpc":
        builder.ec2.create_tags(Resources=[o.net.vpc], Tags=tag)
    else:
        builder.clients.lambda_.tag_resource(Resource=o.function_arn, Tags={IGNORE_TAG: "true"})
        builder.clients.lambda_.remove_permission(FunctionName="orders-db-rotation", StatementId="SecretsManagerAccess")
    builder.clients.counter.calls.clear()
    out = executor(builder, mode=Mode.AUTO, max_auto_risk=Risk.HIGH).run(SECRET)
    assert out.applied == [] and writes(builder) == {}
    assert all(IGNORE_TAG in (f.reason or "") for f in out.fixes)
    assert out.before.verdict is Verdict.BROKEN  # the diagnosis is still reported


def test_auto_stays_inside_the_vpc_allow_list(builder: AccountBuilder) -> None:
    fix_scenarios.orders_with_endpoint(builder)
    out = executor(builder, mode=Mode.AUTO, allowed_vpcs=frozenset({"vpc-elsewhere"})).run(SECRET)
    assert out.applied == [] and "not in the allow-list" in (out.fixes[0].reason or "")


def test_hourly_change_cap(builder: AccountBuilder) -> None:
    fix_scenarios.orders_with_endpoint(builder)
    out = executor(builder, mode=Mode.AUTO, budget=InMemoryBudget(0)).run(SECRET)
    assert out.applied == [] and "cap" in (out.fixes[0].reason or "")


def test_observe_changes_nothing(builder: AccountBuilder) -> None:
    scenarios.orders(builder)
    builder.clients.counter.calls.clear()
    out = executor(builder, mode=Mode.OBSERVE).run(SECRET, approval=ANYTHING)
    assert out.status == "observed" and out.applied == [] and writes(builder) == {}


def test_planning_reads_dns_attributes_on_the_nat_path_too(builder: AccountBuilder) -> None:
    # The diagnosis read the internet gateways (a default route leads to a NAT); planning must still read the
    # VPC's DNS attributes, or the endpoint it creates would have private DNS in a VPC whose DNS is off.
    o = scenarios.orders(builder, db_admits_function=True)
    nat = builder.nat_gateway(o.net, "public-a")
    builder.route(o.net.tables["private"], "0.0.0.0/0", NatGatewayId=nat)
    builder.ec2.delete_nat_gateway(NatGatewayId=nat)
    builder.ec2.modify_vpc_attribute(VpcId=o.net.vpc, EnableDnsHostnames={"Value": False})
    plan = executor(builder).assess(SECRET)[2]
    assert [f.kind for f in plan.fixes] == [FixKind.ENABLE_VPC_DNS, FixKind.CREATE_SECRETSMANAGER_ENDPOINT]
    assert plan.ends_healthy


def test_a_fix_that_needs_a_skipped_fix_is_skipped_too(builder: AccountBuilder) -> None:
    o = scenarios.orders(builder, db_admits_function=True)
    builder.ec2.revoke_security_group_egress(
        GroupId=o.fn_sg, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    builder.ec2.authorize_security_group_egress(GroupId=o.fn_sg, IpPermissions=[tcp(5432, group=o.db_sg)])
    builder.clients.counter.calls.clear()
    out = executor(builder, mode=Mode.AUTO, max_auto_risk=Risk.LOW).run(SECRET)
    reasons = {f.kind: f.reason for f in out.fixes}
    assert list(reasons) == ["CREATE_SECRETSMANAGER_ENDPOINT", "AUTHORIZE_LAMBDA_EGRESS"]
    assert reasons["AUTHORIZE_LAMBDA_EGRESS"] == "depends on a fix that is not applied"
    assert out.applied == [] and writes(builder) == {}


def test_attach_lambda_to_vpc_is_not_applied_where_the_deployment_does_not_permit_it(builder: AccountBuilder) -> None:
    """The service's default (AttachLambdaToVpc=Disabled): the fix is proposed, never applied, and says why; the fixes
    that need what it would have made are skipped with it, and nothing is written."""
    from rotation_doctor.apply.guardrails import policy_from_env

    fix_scenarios.function_outside_vpc(builder)
    policy = policy_from_env({"ROTATION_DOCTOR_ATTACH_LAMBDA_TO_VPC": "Disabled"}, mode=Mode.PROPOSE)
    builder.clients.counter.calls.clear()
    outcome = Executor(builder.clients, policy).run("outside/db", approval=ANYTHING)
    reasons = {f.kind: f.reason for f in outcome.fixes}
    assert reasons[str(FixKind.ATTACH_LAMBDA_TO_VPC)] == (
        "ATTACH_LAMBDA_TO_VPC is not permitted in this deployment (its deployer has not enabled it)"
    )
    assert outcome.applied == [] and writes(builder) == {}
