"""The path from the rotation function to the Secrets Manager API, chosen as AWS chooses it.

1. not in a VPC: the public endpoint, always reachable;
2. SECRETS_MANAGER_ENDPOINT names an endpoint-specific host: that endpoint;
3. a Secrets Manager interface endpoint with private DNS, and the VPC's DNS support and DNS
   hostnames on: that endpoint, for every client in the VPC;
4. a private hosted zone for the name (or a parent) associated with the VPC: the endpoint its record names, in this
   VPC or another (a centralized endpoint: `sm_central_endpoint`);
5. otherwise the public name, over the subnet's routes: NAT gateway to internet gateway; or, for a
   function that calls a dual-stack name over IPv6 (see `calls_over_ipv6`), the subnet's `::/0`
   route to an egress-only or internet gateway, with the groups' and ACLs' IPv6 rules.
"""

from __future__ import annotations

from rotation_doctor.analysis import hops, sm_central_endpoint, sm_egress
from rotation_doctor.analysis.cases import Case, Problem, fold
from rotation_doctor.analysis.flows import (
    SM_FLOW,
    Side,
    groups,
    internet_problems,
    nacl_problems,
    security_group_problems,
    unread_prefix_list_problem,
    unread_route_problem,
)
from rotation_doctor.analysis.flows import subnet_pair_nacl_problems as pair_nacls
from rotation_doctor.model.evidence import EgressDenied, EndpointUnavailable, PeerKind
from rotation_doctor.model.findings import Code, Finding, Severity
from rotation_doctor.model.paths import HopKind
from rotation_doctor.model.reads import matching
from rotation_doctor.model.snapshot import DnsAttributes, FactKey, Function, RouteTable, Snapshot, Subnet, VpcEndpoint
from rotation_doctor.netsem import dns, iam_policy, routes, security_groups
from rotation_doctor.netsem.addresses import ipv4, public_internet_v6

HTTPS = 443
GONE_STATES = frozenset({"deleted", "rejected", "expired"})
# The calls AWS's rotation templates make; GetRandomPassword has no resource-level permission.
ROTATION_ACTIONS = (
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetSecretValue",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecretVersionStage",
    "secretsmanager:GetRandomPassword",
)
SM_NEEDS = (
    FactKey.SUBNETS,
    FactKey.ROUTE_TABLES,
    FactKey.NETWORK_ACLS,
    FactKey.SECURITY_GROUPS,
    FactKey.VPC_ENDPOINTS,
)


def secrets_manager_endpoints(snap: Snapshot, vpc_id: str) -> list[VpcEndpoint]:
    name = dns.secrets_manager_service_name(snap.region)
    return [
        e
        for e in matching(snap.vpc_endpoints, vpc_id=vpc_id)
        if e.service_name == name and e.endpoint_type.lower() == "interface" and e.state.lower() not in GONE_STATES
    ]


def analyze(snap: Snapshot) -> list[Finding]:
    fn = snap.function
    if fn is None or not fn.in_vpc or fn.vpc_id is None:
        return []
    if any(snap.failure(k) for k in SM_NEEDS):
        return []  # AWS_READ_FAILED says what could not be read; this path is not judged
    fn_subnets = [snap.subnets[s] for s in fn.subnet_ids if s in snap.subnets]
    if not fn_subnets:
        return []

    if fn.secrets_manager_endpoint:
        override = dns.parse_endpoint_override(fn.secrets_manager_endpoint, snap.region)
        if override.kind == "vpce":
            return _via_named_endpoint(snap, fn, fn_subnets, override)
        if override.kind == "other":
            return [
                _not_evaluated(
                    f"SECRETS_MANAGER_ENDPOINT sends the function to {override.host}, which rotation-doctor "
                    "does not model.",
                    (fn.name,),
                    {"SECRETS_MANAGER_ENDPOINT_host": override.host},
                )
            ]

    endpoints = secrets_manager_endpoints(snap, fn.vpc_id)
    with_private_dns = [e for e in endpoints if e.private_dns_enabled]
    dns_off_endpoint: VpcEndpoint | None = None
    if with_private_dns:
        if snap.failure(FactKey.DNS_ATTRIBUTES, fn.vpc_id):
            return []
        attrs = snap.dns_attributes.get(fn.vpc_id)
        if attrs is None:  # never read (what-if: an endpoint a change adds): unknown, never "off"
            summary = (
                f"VPC {fn.vpc_id}'s DNS attributes were not read, so whether endpoint {with_private_dns[0].id}'s "
                "private DNS name answers for Secrets Manager cannot be judged."
            )
            return [_not_evaluated(summary, (fn.vpc_id, with_private_dns[0].id), {})]
        if attrs.enable_dns_support and attrs.enable_dns_hostnames:
            return _via_endpoint(snap, fn, fn_subnets, with_private_dns[0], zone=None)
        dns_off_endpoint = with_private_dns[0]

    if snap.failure(FactKey.HOSTED_ZONES, fn.vpc_id):
        return []
    # Zones a service owns (Cloud Map namespaces) are not ones a user points at an endpoint; skip them.
    user_zones = [z for z in snap.hosted_zones.get(fn.vpc_id, ()) if z.owner_service is None]
    zone = dns.zone_answering(public_name(fn, snap.region), user_zones)
    if zone is not None and dns_off_endpoint is None:
        # A private zone answers the name: follow its record to the endpoint it names, here or in another VPC.
        followed = sm_central_endpoint.follow(snap, fn, zone, public_name(fn, snap.region))
        if followed.endpoint is None:
            return list(followed.findings)
        return [
            *followed.findings,
            *_via_endpoint(snap, fn, fn_subnets, followed.endpoint, zone=followed.availability_zone),
        ]

    findings = _via_routes(snap, fn, fn_subnets)
    failing = [f for f in findings if f.severity is not Severity.INFO and not f.code.endswith("NOT_EVALUATED")]
    if not failing:
        return findings
    # A path that would work but for one switch explains the failure better than "no path".
    explained_by: Finding | None = None
    if dns_off_endpoint is not None:
        attrs = snap.dns_attributes.get(fn.vpc_id)
        explained_by = Finding(
            Code.SM_VPC_DNS_DISABLED,
            failing[0].severity,
            f"Endpoint {dns_off_endpoint.id} has private DNS, but VPC {fn.vpc_id} has "
            f"{_dns_switches_off(attrs)} off, so the Secrets Manager name still resolves to the public "
            "endpoint, which the function cannot reach.",
            (fn.vpc_id, dns_off_endpoint.id),
            {
                "enableDnsSupport": attrs.enable_dns_support if attrs else None,
                "enableDnsHostnames": attrs.enable_dns_hostnames if attrs else None,
            },
        )
    elif endpoints:
        endpoint = endpoints[0]
        explained_by = Finding(
            Code.SM_ENDPOINT_PRIVATE_DNS_DISABLED,
            failing[0].severity,
            f"Secrets Manager endpoint {endpoint.id} exists in {fn.vpc_id} but has private DNS off, so the "
            "function still calls the public endpoint, which it cannot reach.",
            (endpoint.id, fn.vpc_id),
            {"endpoint": endpoint.id, "private_dns_enabled": False, "state": endpoint.state},
        )
    if explained_by is None:
        return findings
    return [explained_by, *(f for f in findings if f.code != Code.SM_NO_PATH)]


def _dns_switches_off(attrs: DnsAttributes | None) -> str:
    if attrs is None:
        return "DNS support"
    names = [
        n
        for n, on in (
            ("enableDnsSupport", attrs.enable_dns_support),
            ("enableDnsHostnames", attrs.enable_dns_hostnames),
        )
        if not on
    ]
    return " and ".join(names)


def _not_evaluated(summary: str, resources: tuple[str, ...], evidence: dict[str, object]) -> Finding:
    return Finding(Code.SM_PATH_NOT_EVALUATED, Severity.WARNING, summary, resources, evidence)


def _via_named_endpoint(
    snap: Snapshot,
    fn: Function,
    fn_subnets: list[Subnet],
    override: dns.EndpointOverride,
) -> list[Finding]:
    endpoint = next(iter(matching(snap.vpc_endpoints, id=override.endpoint_id)), None)
    if endpoint is None or endpoint.state.lower() in GONE_STATES:
        return [
            Finding(
                Code.SM_ENDPOINT_NOT_AVAILABLE,
                Severity.ERROR,
                f"SECRETS_MANAGER_ENDPOINT on {fn.name} names endpoint {override.endpoint_id}, which does not exist.",
                (fn.name, override.endpoint_id or override.host),
                {"SECRETS_MANAGER_ENDPOINT_host": override.host},
            )
        ]
    if endpoint.vpc_id != fn.vpc_id:
        return [
            _not_evaluated(
                f"SECRETS_MANAGER_ENDPOINT points {fn.name} at endpoint {endpoint.id} in another VPC "
                f"({endpoint.vpc_id}); the way there is not modelled.",
                (fn.name, endpoint.id),
                {"endpoint_vpc": endpoint.vpc_id},
            )
        ]
    return _via_endpoint(snap, fn, fn_subnets, endpoint, zone=override.availability_zone)


def _via_endpoint(
    snap: Snapshot, fn: Function, fn_subnets: list[Subnet], endpoint: VpcEndpoint, zone: str | None
) -> list[Finding]:
    # An endpoint in another VPC (centralized) is met after the way there: at the far end, before its subnet's ACL.
    far = endpoint.vpc_id != fn.vpc_id
    hops.hop(
        HopKind.VPC_ENDPOINT,
        endpoint.id,
        "HTTPS to Secrets Manager",
        endpoint.state,
        stage=hops.Stage.DESTINATION if far else hops.Stage.TRANSIT,
    )
    if endpoint.state.lower() != "available":
        return [
            Finding(
                Code.SM_ENDPOINT_NOT_AVAILABLE,
                Severity.ERROR,
                f"The function resolves Secrets Manager to endpoint {endpoint.id}, which is {endpoint.state}, not "
                "available.",
                (endpoint.id,),
                facts=EndpointUnavailable(endpoint.state),
            )
        ]
    subnets = [snap.subnets[s] for s in endpoint.subnet_ids if s in snap.subnets]
    if zone:
        subnets = [s for s in subnets if s.availability_zone == zone]
    if not subnets:
        return [
            Finding(
                Code.SM_ENDPOINT_NOT_AVAILABLE,
                Severity.ERROR,
                f"Endpoint {endpoint.id} has no network interface{' in ' + zone if zone else ''} for the function "
                "to reach.",
                (endpoint.id,),
                {"subnets": list(endpoint.subnet_ids), "zone": zone},
            )
        ]
    findings = _policy_findings(snap, fn, endpoint)
    cases = []
    for fs in fn_subnets:
        table = routes.table_for_subnet(fs.id, fs.vpc_id, snap.route_tables)
        for es in subnets:
            case = Case(f"{fs.id} -> {es.id}")
            src = Side(fs, fn.security_group_ids, f"rotation function {fn.name}", PeerKind.FUNCTION)
            dst = Side(es, endpoint.group_ids, f"endpoint {endpoint.id}", PeerKind.VPC_ENDPOINT)
            if es.vpc_id != fs.vpc_id:  # a centralized endpoint, reached through a private hosted zone
                case.problems.extend(sm_central_endpoint.case_problems(snap, src, dst))
                cases.append(case)
                continue
            case.problems.extend(_local_route_problems(snap, fs, es, table))
            case.problems.extend(security_group_problems(snap, src, dst, HTTPS, SM_FLOW))
            case.problems.extend(pair_nacls(snap, src, dst, HTTPS, SM_FLOW.nacl))
            cases.append(case)
    return findings + fold(cases)


def _local_route_problems(snap: Snapshot, fs: Subnet, es: Subnet, table: RouteTable | None) -> list[Problem]:
    """Inside a VPC the local route carries the traffic, unless a more specific route sends it to an appliance."""
    problems = []
    for src, dst in ((fs, es), (es, fs)):
        src_table = table if src is fs else routes.table_for_subnet(src.id, src.vpc_id, snap.route_tables)
        dst_net = ipv4(dst.cidr)
        if src_table is None or dst_net is None:
            continue
        choice = routes.choose(src_table, dst_net, snap.prefix_lists)
        route = choice.route
        if not choice.known:
            problems.append(unread_route_problem(Code.SM_PATH_NOT_EVALUATED, src_table.id, dst.cidr, choice))
        elif route is not None and route.target != "local":
            problems.append(
                Problem(
                    Code.SM_PATH_NOT_EVALUATED,
                    f"Route table {src_table.id} sends {dst.cidr} to {route.target} instead of the local route; "
                    "the appliance on the way is not modelled.",
                    (src_table.id, route.target),
                    {"destination": route.destination, "target": route.target},
                )
            )
    return problems


def _policy_findings(snap: Snapshot, fn: Function, endpoint: VpcEndpoint) -> list[Finding]:
    principals = {snap.secret.account}
    if fn.role_arn:
        principals.add(fn.role_arn)
    context = {
        "aws:principalaccount": snap.secret.account,
        "aws:sourcevpce": endpoint.id,
        "aws:sourcevpc": endpoint.vpc_id,
        "secretsmanager:secretid": snap.secret.arn,
    }
    if fn.role_arn:
        context["aws:principalarn"] = fn.role_arn
    denied: dict[str, str] = {}
    unevaluated: set[str] = set()
    for action in ROTATION_ACTIONS:
        resource = "*" if action.endswith("GetRandomPassword") else snap.secret.arn
        decision = iam_policy.evaluate(
            endpoint.policy, iam_policy.Request(action, resource, frozenset(principals), context)
        )
        unevaluated.update(decision.unevaluated_conditions)
        if not decision.allowed:
            denied[action] = (
                ("explicit deny in " + ", ".join(decision.statement_ids))
                if decision.explicit_deny
                else "no statement allows it"
            )
    if not denied:
        return []
    return [
        Finding(
            Code.SM_ENDPOINT_POLICY_DENIES,
            Severity.ERROR,
            f"The policy of endpoint {endpoint.id} does not allow {', '.join(a.split(':')[1] for a in denied)} on "
            "this secret, which rotation needs.",
            (endpoint.id,),
            {"denied": denied, "conditions_not_evaluated": sorted(unevaluated)},
        )
    ]


def public_name(fn: Function, region: str) -> str:
    """The public Secrets Manager name the function's SDK calls (`dns.name_called`)."""
    return dns.name_called(fn, region)


def calls_over_ipv6(fn: Function, fn_subnets: list[Subnet], region: str) -> bool:
    """Whether the function reaches the public Secrets Manager API over IPv6.

    Only when the name its SDK calls answers over IPv6 (`dns.SECRETS_MANAGER_NAMES`: the standard and the
    `api.aws` names do, the FIPS `amazonaws.com` name does not), Lambda lets the function send IPv6
    (Ipv6AllowedForDualStack) and every subnet of the function is dual-stack. The name then answers with an IPv6
    address that the function's resolver prefers, and a connection there that goes unanswered outlasts a rotation
    step: the IPv6 path alone decides.
    """
    return (
        dns.IPV6 in dns.address_families(public_name(fn, region), region)
        and fn.ipv6_allowed_for_dual_stack
        and bool(fn_subnets)
        and all(s.dual_stack for s in fn_subnets)
    )


def _via_ipv6_routes(snap: Snapshot, fn: Function, fn_subnets: list[Subnet]) -> list[Finding]:
    """A public dual-stack name over IPv6: `::/0` to an egress-only or internet gateway (no NAT needed)."""
    cases = []
    internet = public_internet_v6()
    for fs in fn_subnets:
        case = Case(fs.id)
        cases.append(case)
        table = routes.table_for_subnet(fs.id, fs.vpc_id, snap.route_tables)
        choice = routes.choose(table, routes.DEFAULT_ROUTE_V6, snap.prefix_lists) if table else None
        route = choice.route if choice else None
        hops.route(table.id if table else None, fs.vpc_id, "::/0", choice)
        if table is not None and choice is not None and not choice.known:
            case.problems.append(unread_route_problem(Code.SM_PATH_NOT_EVALUATED, table.id, "::/0", choice, fs.id))
            continue
        if table is None or route is None:
            where = f"Route table {table.id}" if table else "The route table"
            case.problems.append(
                Problem(
                    Code.SM_IPV6_NO_ROUTE,
                    f"{where} of {{subjects}} has no ::/0 route, and rotation function {fn.name} calls Secrets "
                    f"Manager's dual-stack name {public_name(fn, snap.region)} over IPv6 (Ipv6AllowedForDualStack, "
                    "dual-stack subnets): nothing leads to Secrets Manager over IPv6.",
                    (table.id,) if table else (fs.vpc_id,),
                    {"route_table": table.id if table else None, "destination": "::/0"},
                    subject=fs.id,
                )
            )
            continue
        if route.state != "active":
            case.problems.append(_blackhole(fs, table.id, route.target, f"the ::/0 route is {route.state}"))
            continue
        if route.target_kind not in {"eigw", "igw"}:
            case.problems.append(
                Problem(
                    Code.SM_PATH_NOT_EVALUATED,
                    f"Route table {table.id} of {{subjects}} sends ::/0 to {route.target} "
                    f"({_kind_name(route.target_kind)}); what lies beyond is not modelled.",
                    (table.id, route.target),
                    {"route_table": table.id, "target": route.target},
                    subject=fs.id,
                )
            )
            continue
        egress = security_groups.allows_tcp(
            groups(snap, fn.security_group_ids),
            egress=True,
            port=HTTPS,
            peer=security_groups.Peer(frozenset(), internet),
            prefix_lists=snap.prefix_lists,
        )
        hops.hop(HopKind.INTERNET_GATEWAY, route.target, "carry IPv6 to the internet", "route's target")
        hops.groups(
            fn.security_group_ids, f"TCP {HTTPS} out to the internet over IPv6", egress, stage=hops.Stage.SOURCE
        )
        if egress.undecided:
            case.problems.append(
                unread_prefix_list_problem(
                    SM_FLOW.not_evaluated, egress, fn.security_group_ids, "to the internet over IPv6", HTTPS
                )
            )
        elif not egress.allowed:
            case.problems.append(
                Problem(
                    Code.SM_LAMBDA_EGRESS_DENIES,
                    f"The security groups of rotation function {fn.name} ({', '.join(fn.security_group_ids)}) "
                    "allow no TCP 443 out to the internet over IPv6, where the dual-stack Secrets Manager "
                    "endpoint answers.",
                    fn.security_group_ids,
                    facts=EgressDenied(HTTPS, PeerKind.INTERNET, "::/0", fn.security_group_ids),
                )
            )
        case.problems.extend(
            nacl_problems(
                snap,
                fs,
                peer=internet,
                peer_kind=PeerKind.INTERNET,
                peer_label="the internet over IPv6",
                port=HTTPS,
                initiator=True,
                code=Code.SM_NACL_DENIES,
                soft_when_partial=True,
            )
        )
    return fold(cases)


def _via_routes(snap: Snapshot, fn: Function, fn_subnets: list[Subnet]) -> list[Finding]:
    if calls_over_ipv6(fn, fn_subnets, snap.region):
        return _via_ipv6_routes(snap, fn, fn_subnets)
    cases = []
    for fs in fn_subnets:
        case = Case(fs.id)
        cases.append(case)
        table = routes.table_for_subnet(fs.id, fs.vpc_id, snap.route_tables)
        choice = routes.choose(table, routes.DEFAULT_ROUTE, snap.prefix_lists) if table else None
        route = choice.route if choice else None
        hops.route(table.id if table else None, fs.vpc_id, "0.0.0.0/0", choice)
        if table is not None and choice is not None and not choice.known:
            case.problems.append(unread_route_problem(Code.SM_PATH_NOT_EVALUATED, table.id, "0.0.0.0/0", choice, fs.id))
            continue
        if table is None or route is None:
            where = f"Route table {table.id}" if table else "The route table"
            case.problems.append(
                Problem(
                    Code.SM_NO_PATH,
                    f"{where} of {{subjects}} has no default route and {fs.vpc_id} has no Secrets Manager "
                    "endpoint: nothing leads to Secrets Manager.",
                    (table.id,) if table else (fs.vpc_id,),
                    {"route_table": table.id if table else None},
                    subject=fs.id,
                )
            )
            continue
        target = route.target
        if route.state != "active":
            case.problems.append(_blackhole(fs, table.id, target, f"the route is {route.state}"))
            continue
        kind = route.target_kind
        if kind == "igw":
            case.problems.append(
                Problem(
                    Code.SM_PUBLIC_SUBNET_NO_NAT,
                    f"Route table {table.id} of {{subjects}} sends 0.0.0.0/0 straight to internet gateway {target}, "
                    "but Lambda network interfaces get no public IP, so the function cannot reach Secrets Manager.",
                    (table.id, target),
                    {"route_table": table.id, "target": target},
                    subject=fs.id,
                )
            )
            continue
        if kind == "tgw":
            # Centralized egress: through the transit gateway to an egress VPC's NAT gateway, and back (sm_egress).
            case.problems.extend(sm_egress.through_transit_gateway(snap, fn, fs, table.id, target))
            continue
        if kind != "nat":
            case.problems.append(
                Problem(
                    Code.SM_PATH_NOT_EVALUATED,
                    f"Route table {table.id} of {{subjects}} sends 0.0.0.0/0 to {target} ({_kind_name(kind)}); "
                    "what lies beyond is not modelled.",
                    (table.id, target),
                    {"route_table": table.id, "target": target},
                    subject=fs.id,
                )
            )
            continue
        case.problems.extend(_nat_problems(snap, fn, fs, table.id, target))
    return fold(cases)


def _kind_name(kind: str) -> str:
    return {
        "tgw": "a transit gateway",
        "pcx": "a peering connection",
        "vgw": "a virtual private gateway",
        "eni": "a network interface",
        "i": "an instance",
        "vpce": "a firewall or load balancer endpoint",
        "lgw": "a local gateway",
        "cagw": "a carrier gateway",
        "eigw": "an egress-only gateway",
    }.get(kind, kind)


def _blackhole(fs: Subnet, table_id: str, target: str, why: str) -> Problem:
    return Problem(
        Code.SM_ROUTE_BLACKHOLE,
        f"The default route in {table_id} (of {{subjects}}) points to {target}, but {why}: traffic to "
        "Secrets Manager is dropped.",
        (table_id, target),
        {"route_table": table_id, "target": target, "why": why},
        subject=fs.id,
    )


def _nat_problems(snap: Snapshot, fn: Function, fs: Subnet, table_id: str, nat_id: str) -> list[Problem]:
    if snap.failure(FactKey.NAT_GATEWAYS) or snap.failure(FactKey.INTERNET_GATEWAYS):
        return [Problem(Code.SM_PATH_NOT_EVALUATED, f"The NAT gateway {nat_id} could not be read.", (nat_id,))]
    nat = snap.nat_gateways.get(nat_id)
    hops.hop(HopKind.NAT_GATEWAY, nat_id, "forward to the internet", nat.state if nat else "gone")
    if nat is None or nat.state != "available":
        return [_blackhole(fs, table_id, nat_id, f"the NAT gateway is {nat.state if nat else 'gone'}")]
    if nat.connectivity == "private":
        return [
            Problem(
                Code.SM_PATH_NOT_EVALUATED,
                f"NAT gateway {nat_id} is private; where its subnet sends traffic on is not modelled.",
                (nat_id,),
            )
        ]
    nat_subnet = snap.subnets.get(nat.subnet_id)
    nat_table = routes.table_for_subnet(nat.subnet_id, nat.vpc_id, snap.route_tables)
    nat_choice = routes.choose(nat_table, routes.DEFAULT_ROUTE, snap.prefix_lists) if nat_table else None
    if nat_table is not None and nat_choice is not None and not nat_choice.known:
        return [unread_route_problem(Code.SM_PATH_NOT_EVALUATED, nat_table.id, "0.0.0.0/0", nat_choice)]
    nat_route = nat_choice.route if nat_choice else None
    hops.route(nat_table.id if nat_table else None, nat.vpc_id, "0.0.0.0/0", nat_choice)
    if nat_route is not None and nat_route.state == "active" and nat_route.target_kind not in {"igw", "nat", "local"}:
        return [
            Problem(
                Code.SM_PATH_NOT_EVALUATED,
                f"NAT gateway {nat_id}'s subnet sends 0.0.0.0/0 to {nat_route.target} "
                f"({_kind_name(nat_route.target_kind)}); what lies beyond is not modelled.",
                (nat_id, nat_route.target),
                {"nat_subnet": nat.subnet_id, "target": nat_route.target},
            )
        ]
    igw = snap.internet_gateways.get(nat_route.target) if nat_route and nat_route.target_kind == "igw" else None
    if nat_route is None or nat_route.state != "active" or igw is None or nat.vpc_id not in igw.attached_vpc_ids:
        why = (
            "has no default route"
            if nat_route is None
            else f"routes 0.0.0.0/0 to {nat_route.target}, which is not an internet gateway attached to {nat.vpc_id}"
        )
        return [
            Problem(
                Code.SM_NAT_NO_INTERNET,
                f"NAT gateway {nat_id} is in subnet {nat.subnet_id}, which {why}; the NAT cannot reach the internet.",
                (nat_id, nat.subnet_id, *((nat_table.id,) if nat_table else ())),
                {
                    "nat_subnet": nat.subnet_id,
                    "nat_route_table": nat_table.id if nat_table else None,
                    "target": nat_route.target if nat_route else None,
                },
            )
        ]
    hops.hop(HopKind.INTERNET_GATEWAY, igw.id, f"attached to {nat.vpc_id}", "attached")
    return internet_problems(snap, fn, fs, nat_subnet)
