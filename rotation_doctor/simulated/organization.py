"""A simulated AWS Organization on moto: the management account and member accounts, each built through the
real APIs with its own clients (moto maps an assumed role's credentials to the role's account)."""

from __future__ import annotations

from dataclasses import dataclass

from rotation_doctor.collect.accounts import AccountSessions, Place
from rotation_doctor.collect.aws import AwsClients
from rotation_doctor.simulated import scenarios
from rotation_doctor.simulated.account import AccountBuilder

LEDGER_SECRET = "prod/ledger/db"  # its database is in a peered VPC with no route: DB_NO_ROUTE, broken


@dataclass(frozen=True)
class Member:
    """One account of the organization and the two secrets built in it."""

    account: str
    region: str
    healthy: str  # the secret's ARN: an endpoint to Secrets Manager, the database admits the function
    broken: str  # the secret's ARN: its database is across a peering with no route


def organization(management: AwsClients, members: int) -> list[str]:
    """An organization whose management account is `management`'s, with `members` new member accounts; every
    account's id, the management account first."""
    org = management.client("organizations")
    org.create_organization(FeatureSet="ALL")  # type: ignore[attr-defined]
    made = [
        org.create_account(Email=f"member{i}@example.com", AccountName=f"member{i}")  # type: ignore[attr-defined]
        for i in range(members)
    ]
    root = str(management.client("sts").get_caller_identity()["Account"])  # type: ignore[attr-defined]
    return [root, *(str(m["CreateAccountStatus"]["AccountId"]) for m in made)]


def builder_in(sessions: AccountSessions, account: str, region: str) -> AccountBuilder:
    """A builder of `account` in `region`, through the member role (or the caller's own credentials)."""
    return AccountBuilder(sessions.clients(Place(account, region)), account)


def healthy_and_broken(b: AccountBuilder) -> Member:
    """In one account and region: a healthy secret and a broken one, rotated by the same function."""
    o = scenarios.orders(b, db_admits_function=True, endpoint=True)
    scenarios.peered_database(b, o, routes="none", secret_name=LEDGER_SECRET)
    broken = str(b.clients.secretsmanager.describe_secret(SecretId=LEDGER_SECRET)["ARN"])
    return Member(b.account, b.region, o.secret_arn, broken)
