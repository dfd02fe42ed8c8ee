"""How many AWS calls one `diagnose` makes, and how long it takes, across typical situations.

Run: `make bench` (or `.venv/bin/python bench/diagnose_calls.py`). Calls are counted with botocore's
`before-call` hook (one per API operation, retries not counted); time is wall-clock against moto,
in process, so it measures rotation-doctor's own work, not AWS latency.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _account import make_clients, median
from _output import finish, options, parser, say, table

from rotation_doctor.examine import diagnose_secret
from rotation_doctor.simulated import scenarios, simulated_aws
from rotation_doctor.simulated.account import AccountBuilder, tcp


def demo_broken(b: AccountBuilder) -> None:
    scenarios.orders(b)
    scenarios.seed_failed_rotation_logs(b, "orders-db-rotation")


def endpoint_healthy(b: AccountBuilder) -> None:
    scenarios.orders(b, db_admits_function=True, endpoint=True)


def endpoint_sg_broken(b: AccountBuilder) -> None:
    o = scenarios.orders(b, db_admits_function=True, endpoint=True)
    b.ec2.revoke_security_group_ingress(GroupId=o.extra["endpoint_sg"], IpPermissions=[tcp(443, cidr="10.20.0.0/16")])


def nat_healthy(b: AccountBuilder) -> None:
    o = scenarios.orders(b, db_admits_function=True)
    b.route(o.net.tables["private"], "0.0.0.0/0", NatGatewayId=b.nat_gateway(o.net, "public-a"))


def nat_deleted(b: AccountBuilder) -> None:
    o = scenarios.orders(b, db_admits_function=True)
    nat = b.nat_gateway(o.net, "public-a")
    b.route(o.net.tables["private"], "0.0.0.0/0", NatGatewayId=nat)
    b.ec2.delete_nat_gateway(NatGatewayId=nat)


def private_dns_off(b: AccountBuilder) -> None:
    o = scenarios.orders(b, db_admits_function=True)
    sg = b.security_group(o.net, "vpce", ingress=[tcp(443, cidr="10.20.0.0/16")])
    b.secrets_manager_endpoint(o.net, ["app-a", "app-b"], [sg], private_dns=False)


def aurora_cluster(b: AccountBuilder) -> None:
    o = scenarios.orders(b, db_admits_function=True, endpoint=True)
    cluster = b.aurora_cluster("orders-aurora", "orders-data", [o.db_sg])
    b.clients.secretsmanager.delete_secret(SecretId=o.secret_arn, ForceDeleteWithoutRecovery=True)
    b.rotated_secret(scenarios.DEMO_SECRET, {"host": cluster["host"], "port": 5432, "password": "x"}, o.function_arn)


def peered_database(b: AccountBuilder) -> None:
    o = scenarios.orders(b, db_admits_function=True, endpoint=True)
    b.clients.secretsmanager.delete_secret(SecretId=o.secret_arn, ForceDeleteWithoutRecovery=True)
    scenarios.peered_database(b, o, secret_name=scenarios.DEMO_SECRET)


def prefix_lists(b: AccountBuilder) -> None:
    """The function reaches the database, and the database admits it, only through managed prefix lists."""
    o = scenarios.orders(b, endpoint=True)
    scenarios.prefix_list_paths(b, o)


def dual_stack(b: AccountBuilder) -> None:
    """No NAT: the function calls Secrets Manager's dual-stack name over ::/0 to an egress-only gateway."""
    scenarios.orders(b, db_admits_function=True, dual_stack=True)


def tgw_database(b: AccountBuilder) -> None:
    o = scenarios.orders(b, db_admits_function=True, endpoint=True)
    b.clients.secretsmanager.delete_secret(SecretId=o.secret_arn, ForceDeleteWithoutRecovery=True)
    scenarios.tgw_database(b, o, secret_name=scenarios.DEMO_SECRET)


def egress_healthy(b: AccountBuilder) -> None:
    scenarios.centralized_egress(b, scenarios.orders(b, db_admits_function=True))


def egress_no_return(b: AccountBuilder) -> None:
    scenarios.centralized_egress(b, scenarios.orders(b, db_admits_function=True), breaks="tgw_back")


def egress_and_tgw_database(b: AccountBuilder) -> None:
    """Both paths cross transit gateways: centralized egress, and the database in another VPC behind another."""
    o = scenarios.orders(b, db_admits_function=True)
    scenarios.centralized_egress(b, o)
    b.clients.secretsmanager.delete_secret(SecretId=o.secret_arn, ForceDeleteWithoutRecovery=True)
    scenarios.tgw_database(b, o, secret_name=scenarios.DEMO_SECRET)


def proxied_database(b: AccountBuilder) -> None:
    o = scenarios.orders(b, db_admits_function=True, endpoint=True)
    scenarios.proxied_database(b, o, secret_name=scenarios.DEMO_SECRET + "-proxy")
    b.clients.secretsmanager.delete_secret(SecretId=o.secret_arn, ForceDeleteWithoutRecovery=True)
    proxy = b.clients.rds.describe_db_proxies(DBProxyName="orders-proxy")["DBProxies"][0]
    b.rotated_secret(scenarios.DEMO_SECRET, {"engine": "postgres", "host": proxy["Endpoint"]}, o.function_arn)


def central_endpoint_peering(b: AccountBuilder) -> None:
    """No endpoint of its own: a private zone aliases the name to an endpoint in a shared VPC, through a peering."""
    scenarios.central_endpoint(b, scenarios.orders(b, db_admits_function=True), via="peering")


def central_endpoint_tgw(b: AccountBuilder) -> None:
    scenarios.central_endpoint(b, scenarios.orders(b, db_admits_function=True), via="tgw")


def central_endpoint_deleted(b: AccountBuilder) -> None:
    scenarios.central_endpoint(b, scenarios.orders(b, db_admits_function=True), via="tgw", breaks="deleted")


def central_endpoint_no_route_back(b: AccountBuilder) -> None:
    scenarios.central_endpoint(b, scenarios.orders(b, db_admits_function=True), via="peering", breaks="back")


def large_vpc(b: AccountBuilder) -> None:
    """The demo account plus 60 subnets, 60 route tables and 150 security groups with 5 rules each."""
    o = scenarios.orders(b)
    for i in range(60):
        b.subnet(o.net, f"extra-{i}", f"10.20.{150 + i // 4}.{(i % 4) * 64}/26", "abc"[i % 3])
        b.route_table(o.net, f"extra-{i}", [f"extra-{i}"])
    for i in range(150):
        b.security_group(o.net, f"noise-{i}", ingress=[tcp(1000 + p, cidr=f"10.{p}.0.0/16") for p in range(5)])


SITUATIONS: list[tuple[str, Callable[[AccountBuilder], None]]] = [
    ("demo: no way to SM, DB group closed (logs read)", demo_broken),
    ("endpoint path, healthy", endpoint_healthy),
    ("endpoint group admits nothing", endpoint_sg_broken),
    ("NAT path, healthy", nat_healthy),
    ("NAT gateway deleted", nat_deleted),
    ("endpoint with private DNS off", private_dns_off),
    ("Aurora cluster writer endpoint", aurora_cluster),
    ("database in a peered VPC", peered_database),
    ("database through prefix-list rules", prefix_lists),
    ("dual-stack function, IPv6 via egress-only gateway", dual_stack),
    ("database behind a transit gateway", tgw_database),
    ("RDS Proxy in front of the database", proxied_database),
    ("centralized endpoint through a peering", central_endpoint_peering),
    ("centralized endpoint through a transit gateway", central_endpoint_tgw),
    ("centralized endpoint deleted (transit gateway)", central_endpoint_deleted),
    ("centralized endpoint, no route back (peering)", central_endpoint_no_route_back),
    ("centralized egress through a transit gateway, healthy", egress_healthy),
    ("centralized egress, no route back in the transit gateway", egress_no_return),
    ("centralized egress and a database behind a second transit gateway", egress_and_tgw_database),
    ("large VPC (60 subnets, 60 tables, 150 groups)", large_vpc),
]


def main() -> int:
    options(parser(__doc__))
    clients = make_clients()
    with simulated_aws():  # warm-up: client creation and imports are not part of a diagnosis
        endpoint_healthy(AccountBuilder(clients))
        diagnose_secret(clients, scenarios.DEMO_SECRET)
    rows = []
    counts = []
    for name, build in SITUATIONS:
        with simulated_aws():
            build(AccountBuilder(clients))
            clients.counter.calls.clear()
            started = time.perf_counter()
            _, diagnosis = diagnose_secret(clients, scenarios.DEMO_SECRET)
            elapsed = time.perf_counter() - started
            total = clients.counter.total
            counts.append(total)
            rows.append((name, diagnosis.verdict, total, f"{elapsed * 1000:.0f}"))
    table(("situation", "verdict", "AWS calls", "ms (moto, in process)"), rows)
    say()
    by_name = {name: total for (name, _, total, _) in rows}
    # A transit gateway on the Secrets Manager path adds at most 6 calls to the NAT path it replaces.
    egress_extra = by_name["centralized egress through a transit gateway, healthy"] - by_name["NAT path, healthy"]
    say(f"calls: median {median(counts):.0f}, max {max(counts)}, centralized egress adds {egress_extra}")
    say("(targets: median <= 15, max <= 25, a transit gateway on the Secrets Manager path adds <= 6)")
    finish(calls_median=median(counts), calls_max=max(counts), centralized_egress_adds=egress_extra)
    return 0 if median(counts) <= 15 and max(counts) <= 25 and egress_extra <= 6 else 1


if __name__ == "__main__":
    sys.exit(main())
