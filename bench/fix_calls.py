"""AWS calls of `fix` for typical plans: the diagnosis before (with the planning read), the plan's own
calls, and the diagnosis after. Run: `make bench`."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _account import make_clients
from _output import finish, options, parser, table

from rotation_doctor.apply.executor import Executor
from rotation_doctor.apply.guardrails import Approval, Mode, Policy
from rotation_doctor.model.plan import Risk
from rotation_doctor.simulated import scenarios, simulated_aws
from rotation_doctor.simulated.account import AccountBuilder, tcp

READS = ("Describe", "Get", "List", "BatchGet", "FilterLog")


def demo(b: AccountBuilder) -> None:
    scenarios.orders(b)


def db_group_only(b: AccountBuilder) -> None:
    scenarios.orders(b, endpoint=True)


def invoke_permission(b: AccountBuilder) -> None:
    scenarios.orders(b, endpoint=True, db_admits_function=True)
    b.clients.lambda_.remove_permission(FunctionName="orders-db-rotation", StatementId="SecretsManagerAccess")


def private_dns_off(b: AccountBuilder) -> None:
    o = scenarios.orders(b, db_admits_function=True)
    sg = b.security_group(o.net, "vpce", ingress=[tcp(443, cidr="10.20.0.0/16")])
    b.secrets_manager_endpoint(o.net, ["app-a", "app-b"], [sg], private_dns=False)


SITUATIONS: list[tuple[str, Callable[[AccountBuilder], None]]] = [
    ("demo: endpoint + database ingress", demo),
    ("database ingress rule only", db_group_only),
    ("invoke permission only", invoke_permission),
    ("turn on private DNS", private_dns_off),
]


def main() -> int:
    options(parser(__doc__))
    clients = make_clients()
    with simulated_aws():  # warm-up: client creation is not part of a fix
        demo(AccountBuilder(clients))
        Executor(clients, Policy(mode=Mode.PROPOSE), poll=0.01).run(
            scenarios.DEMO_SECRET, approval=Approval("bench", max_risk=Risk.HIGH)
        )
    rows = []
    for name, build in SITUATIONS:
        with simulated_aws():
            build(AccountBuilder(clients))
            clients.counter.calls.clear()
            started = time.perf_counter()
            outcome = Executor(clients, Policy(mode=Mode.PROPOSE), poll=0.01).run(
                scenarios.DEMO_SECRET, approval=Approval("bench", max_risk=Risk.HIGH)
            )
            elapsed = time.perf_counter() - started
            calls = clients.counter.calls
            written = sum(v for k, v in calls.items() if not k.split(":")[1].startswith(READS))
            after = outcome.after.verdict if outcome.after else "-"
            rows.append(
                (
                    name,
                    ", ".join(outcome.applied),
                    written,
                    clients.counter.total - written,
                    clients.counter.total,
                    after,
                    f"{elapsed * 1000:.0f}",
                )
            )
    table(("situation", "applied", "writes", "reads", "AWS calls", "after", "ms (moto)"), rows)
    finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
