"""How `scan` grows: AWS calls and time for N = 10, 100, 1,000 Lambda-rotated secrets sharing five functions.

The account: one VPC, five rotation functions, and one Multi-AZ RDS instance per ten secrets (so 1,000
secrets name 100 databases). Half the secrets name their database in the value (read in batches of
20 by BatchGetSecretValue), half with the `rotation-doctor:target` tag (no value read at all). A third
of the databases do not admit the functions' group, so the logs of functions are read too.
Target (issue 2): 1,000 secrets in at most 120 calls.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _account import make_clients
from _output import finish, options, parser, say, table

from rotation_doctor.examine import scan
from rotation_doctor.simulated import scenarios, simulated_aws
from rotation_doctor.simulated.account import AccountBuilder, tcp

FUNCTIONS = 5


def build(b: AccountBuilder, secrets: int) -> None:
    o = scenarios.orders(b, db_admits_function=True, endpoint=True)
    functions = [o.function_arn] + [
        b.rotation_function(f"rotation-{i}", subnets=o.fn_subnets, groups=[o.fn_sg]) for i in range(1, FUNCTIONS)
    ]
    closed_sg = b.security_group(o.net, "closed-db", ingress=[tcp(5432, group=o.app_sg)])
    databases = []
    for i in range(max(1, secrets // 10)):
        groups = [closed_sg] if i % 3 == 2 else [o.db_sg]
        databases.append(b.rds_instance(f"db-{i:04d}", "orders-data", groups, multi_az=True))
    for i in range(secrets - 1):  # the scenario made one secret already
        db = databases[i % len(databases)]
        fn = functions[i % FUNCTIONS]
        if i % 2:
            b.rotated_secret(
                f"app/{i:04d}",
                {"username": "u", "password": "x"},
                fn,
                tags={"rotation-doctor:target": f"rds:{db['dbInstanceIdentifier']}"},
            )
        else:
            b.rotated_secret(f"app/{i:04d}", {**db, "username": "u", "password": "x"}, fn)


def main() -> int:
    options(parser(__doc__))
    clients = make_clients()
    with simulated_aws():  # warm-up: client creation is not part of a scan
        build(AccountBuilder(clients), 10)
        scan(clients)
    rows = []
    ok = True
    for n in (10, 100, 1000):
        with simulated_aws():
            build(AccountBuilder(clients), n)
            clients.counter.calls.clear()
            started = time.perf_counter()
            results = scan(clients)
            elapsed = time.perf_counter() - started
            assert len(results) == n, len(results)
            calls = clients.counter.calls
            verdicts = {v: sum(1 for d in results if d.verdict == v) for v in ("healthy", "broken")}
            rows.append(
                (
                    n,
                    clients.counter.total,
                    calls["secretsmanager:ListSecrets"],
                    calls["secretsmanager:BatchGetSecretValue"],
                    calls["rds:DescribeDBInstances"],
                    calls["logs:FilterLogEvents"],
                    f"{verdicts['healthy']}/{verdicts['broken']}",
                    f"{elapsed:.2f}",
                )
            )
            if n == 1000:
                ok = clients.counter.total <= 120
    table(
        (
            "secrets",
            "AWS calls",
            "ListSecrets",
            "BatchGetSecretValue",
            "DescribeDBInstances",
            "FilterLogEvents",
            "healthy/broken",
            "seconds (moto)",
        ),
        rows,
    )
    say()
    say("target: 1,000 secrets in at most 120 calls:", "met" if ok else "NOT MET")
    finish(target_met=ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
