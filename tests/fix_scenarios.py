"""One broken account per fix kind on the simulated account: what each kind's moto test and the fault
injection suite start from. Each returns the secret to fix and how to run the executor for it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rotation_doctor.apply.executor import Executor
from rotation_doctor.apply.guardrails import Approval, Policy
from rotation_doctor.model.findings import Verdict
from rotation_doctor.model.plan import FixKind, Risk
from rotation_doctor.simulated import scenarios
from rotation_doctor.simulated.account import AccountBuilder, tcp

SECRET = scenarios.DEMO_SECRET


@dataclass
class Broken:
    secret: str = SECRET
    run: dict[str, Any] = field(default_factory=dict)  # executor.run keywords (prefer_nat)
    orders: scenarios.Orders | None = None
    extra: dict[str, str] = field(default_factory=dict)


def orders_with_endpoint(b: AccountBuilder, **kw: Any) -> scenarios.Orders:
    return scenarios.orders(b, endpoint=True, **kw)


def db_closed(b: AccountBuilder) -> Broken:
    return Broken(orders=orders_with_endpoint(b))


def function_egress_closed(b: AccountBuilder) -> Broken:
    o = orders_with_endpoint(b, db_admits_function=True)
    b.ec2.revoke_security_group_egress(
        GroupId=o.fn_sg, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    return Broken(orders=o)


def endpoint_ingress_closed(b: AccountBuilder) -> Broken:
    o = orders_with_endpoint(b, db_admits_function=True)
    b.ec2.revoke_security_group_ingress(GroupId=o.extra["endpoint_sg"], IpPermissions=[tcp(443, cidr="10.20.0.0/16")])
    return Broken(orders=o)


def invoke_permission_missing(b: AccountBuilder) -> Broken:
    o = orders_with_endpoint(b, db_admits_function=True)
    b.clients.lambda_.remove_permission(FunctionName="orders-db-rotation", StatementId="SecretsManagerAccess")
    return Broken(orders=o)


def private_dns_off(b: AccountBuilder) -> Broken:
    o = scenarios.orders(b, db_admits_function=True)
    sg = b.security_group(o.net, "vpce", ingress=[tcp(443, cidr="10.20.0.0/16")])
    endpoint = b.secrets_manager_endpoint(o.net, ["app-a", "app-b"], [sg], private_dns=False)
    return Broken(orders=o, extra={"endpoint": endpoint})


def no_endpoint(b: AccountBuilder) -> Broken:
    return Broken(orders=scenarios.orders(b, db_admits_function=True))


def vpc_dns_off(b: AccountBuilder) -> Broken:
    o = orders_with_endpoint(b, db_admits_function=True)
    b.ec2.modify_vpc_attribute(VpcId=o.net.vpc, EnableDnsHostnames={"Value": False})
    return Broken(orders=o)


def admitting_only(port: int, *, rule: int = 100, cidr: str = "10.20.0.0/16") -> list[dict[str, Any]]:
    """Network ACL entries that let everything out and only TCP `port` in from `cidr` (no return ports)."""
    return [
        {"RuleNumber": 100, "Protocol": "-1", "RuleAction": "allow", "Egress": True, "CidrBlock": "0.0.0.0/0"},
        {
            "RuleNumber": rule,
            "Protocol": "6",
            "RuleAction": "allow",
            "Egress": False,
            "CidrBlock": cidr,
            "PortRange": {"From": port, "To": port},
        },
    ]


def data_acl_closed(b: AccountBuilder) -> Broken:
    o = orders_with_endpoint(b, db_admits_function=True)
    acl = b.nacl(o.net, ["data-a", "data-b"], admitting_only(443, rule=200))
    return Broken(orders=o, extra={"acl": acl})


PROXY_SECRET = "prod/orders/via-proxy"


def proxy_target_closed(b: AccountBuilder, **proxy: Any) -> Broken:
    """A secret whose host is an RDS Proxy whose target's group does not admit the proxy's group (the proxy's own
    leg). `proxy`: more of `scenarios.proxied_database`'s keywords."""
    o = orders_with_endpoint(b, db_admits_function=True)
    built = scenarios.proxied_database(b, o, admits_proxy=False, **proxy)
    return Broken(secret=PROXY_SECRET, orders=o, extra={"proxy_sg": built["proxy_sg"]})


def proxy_acl_closed(b: AccountBuilder) -> Broken:
    """The proxy and its target share the data subnets, whose network ACL admits TCP 5432 only from the app subnets
    (10.20.0.0/22, where the function runs): the function reaches the proxy, the proxy not its target across the
    two data subnets, nor the answer its way back."""
    o = orders_with_endpoint(b, db_admits_function=True)
    scenarios.proxied_database(b, o)
    acl = b.nacl(o.net, ["data-a", "data-b"], admitting_only(5432, rule=200, cidr="10.20.0.0/22"))
    return Broken(secret=PROXY_SECRET, orders=o, extra={"acl": acl})


def peering_without_routes(b: AccountBuilder) -> Broken:
    o = orders_with_endpoint(b)
    scenarios.peered_database(b, o, routes="none")
    return Broken(secret="prod/ledger/db", orders=o)


def function_outside_vpc(b: AccountBuilder) -> Broken:
    o = orders_with_endpoint(b)
    fn = b.rotation_function("outside-rotation")
    b.rotated_secret("outside/db", {**o.db, "password": scenarios.CANARY_PASSWORD}, fn)
    # The orders database's owners link it to this secret too.
    arn = b.clients.rds.describe_db_instances(DBInstanceIdentifier="orders-db")["DBInstances"][0]["DBInstanceArn"]
    b.clients.rds.add_tags_to_resource(
        ResourceName=arn, Tags=[{"Key": "rotation-doctor:secrets", "Value": f"{SECRET} outside/db"}]
    )
    return Broken(secret="outside/db", orders=o)


def nat_wanted(b: AccountBuilder) -> Broken:
    return Broken(orders=scenarios.orders(b, db_admits_function=True), run={"prefer_nat": True})


BY_KIND: dict[FixKind, Callable[[AccountBuilder], Broken]] = {
    FixKind.AUTHORIZE_DB_INGRESS: db_closed,
    FixKind.AUTHORIZE_LAMBDA_EGRESS: function_egress_closed,
    FixKind.AUTHORIZE_ENDPOINT_INGRESS: endpoint_ingress_closed,
    FixKind.ADD_INVOKE_PERMISSION: invoke_permission_missing,
    FixKind.ENABLE_ENDPOINT_PRIVATE_DNS: private_dns_off,
    FixKind.CREATE_SECRETSMANAGER_ENDPOINT: no_endpoint,
    FixKind.ENABLE_VPC_DNS: vpc_dns_off,
    FixKind.ADD_NACL_ENTRIES: data_acl_closed,
    FixKind.ADD_PEERING_ROUTES: peering_without_routes,
    FixKind.ATTACH_LAMBDA_TO_VPC: function_outside_vpc,
    FixKind.CREATE_NAT_GATEWAY: nat_wanted,
}


def account_state(b: AccountBuilder) -> dict[str, Any]:
    """Everything a plan can change, as a person would compare it (deleted endpoints and NATs are gone)."""
    ec2, lam = b.ec2, b.clients.lambda_
    groups = ec2.describe_security_groups()["SecurityGroups"]
    functions = lam.list_functions()["Functions"]
    policies = {}
    for fn in functions:
        try:
            policies[fn["FunctionName"]] = lam.get_policy(FunctionName=fn["FunctionName"])["Policy"]
        except lam.exceptions.ResourceNotFoundException:
            policies[fn["FunctionName"]] = None
    vpcs = [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]]
    return {
        "groups": sorted((g["GroupId"], repr(g["IpPermissions"]), repr(g["IpPermissionsEgress"])) for g in groups),
        "endpoints": sorted(
            (e["VpcEndpointId"], e["PrivateDnsEnabled"])
            for e in ec2.describe_vpc_endpoints()["VpcEndpoints"]
            if e["State"].lower() not in ("deleted", "deleting")
        ),
        "acls": sorted((a["NetworkAclId"], repr(a["Entries"])) for a in ec2.describe_network_acls()["NetworkAcls"]),
        "routes": sorted(
            (t["RouteTableId"], repr(sorted(repr(r) for r in t["Routes"])))
            for t in ec2.describe_route_tables()["RouteTables"]
        ),
        "vpc_dns": sorted(
            (
                v,
                ec2.describe_vpc_attribute(VpcId=v, Attribute="enableDnsSupport")["EnableDnsSupport"]["Value"],
                ec2.describe_vpc_attribute(VpcId=v, Attribute="enableDnsHostnames")["EnableDnsHostnames"]["Value"],
            )
            for v in vpcs
        ),
        "functions": sorted(
            (
                f["FunctionName"],
                repr(sorted((f.get("VpcConfig") or {}).get("SubnetIds") or [])),
                repr(sorted((f.get("VpcConfig") or {}).get("SecurityGroupIds") or [])),
            )
            for f in functions
        ),
        "policies": sorted((k, v or "") for k, v in policies.items()),
        "nat_gateways": sorted(
            n["NatGatewayId"]
            for n in ec2.describe_nat_gateways()["NatGateways"]
            if n["State"] not in ("deleted", "deleting")
        ),
        "addresses": sorted(a["AllocationId"] for a in ec2.describe_addresses()["Addresses"]),
    }


SECRET = scenarios.DEMO_SECRET

ANYTHING = Approval("test", max_risk=Risk.NEVER_AUTOMATIC)

READ_PREFIXES = ("Describe", "Get", "List", "BatchGet", "FilterLog")


def writes(b: AccountBuilder) -> dict[str, int]:
    """Calls that change the account (the proposals table is rotation-doctor's own, not the account's network)."""
    calls = b.clients.counter.calls.items()
    return {k: v for k, v in calls if not k.split(":")[1].startswith(READ_PREFIXES) and not k.startswith("dynamodb:")}


def executor(b: AccountBuilder, **policy: Any) -> Executor:
    return Executor(b.clients, Policy(**policy), poll=0.01, wait_timeout=5)


def fix_and_recheck(b: AccountBuilder, kind: FixKind, secret: str = SECRET, **run: Any) -> None:
    ex = executor(b)
    first = ex.run(secret, approval=ANYTHING, **run)
    assert str(kind) in first.applied, (first.status, first.reason, [(f.kind, f.status, f.reason) for f in first.fixes])
    assert first.after is not None and first.after.verdict is Verdict.HEALTHY, first.after.findings
    assert created_groups_open_to_all(b) == []
    b.clients.counter.calls.clear()
    second = ex.run(secret, approval=ANYTHING, **run)
    assert second.status == "nothing to do" and writes(b) == {}


def created_groups_open_to_all(b: AccountBuilder) -> list[str]:
    """Groups rotation-doctor created that still allow all egress (AWS's default rules, IPv4 or, in a VPC with IPv6,
    IPv6): there must be none."""
    created = b.ec2.describe_security_groups(
        Filters=[{"Name": "tag:rotation-doctor:created-by", "Values": ["rotation-doctor"]}]
    )["SecurityGroups"]
    return [
        g["GroupId"]
        for g in created
        for p in g["IpPermissionsEgress"]
        if p["IpProtocol"] == "-1"
        and (
            any(r.get("CidrIp") == "0.0.0.0/0" for r in p.get("IpRanges", []))
            or any(r.get("CidrIpv6") == "::/0" for r in p.get("Ipv6Ranges", []))
        )
    ]


def created_by_rotation_doctor(b: AccountBuilder) -> list[str]:
    tagged = [{"Name": "tag:rotation-doctor:created-by", "Values": ["rotation-doctor"]}]
    groups = b.ec2.describe_security_groups(Filters=tagged)["SecurityGroups"]
    endpoints = b.ec2.describe_vpc_endpoints(Filters=tagged)["VpcEndpoints"]
    return [g["GroupId"] for g in groups] + [
        e["VpcEndpointId"] for e in endpoints if e["State"].lower() not in ("deleted", "deleting")
    ]
