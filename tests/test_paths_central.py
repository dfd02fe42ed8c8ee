"""The path to Secrets Manager through centralized egress (a transit gateway to an egress VPC's NAT gateway and back,
`scenarios.centralized_egress`) and to a centralized endpoint (a private hosted zone naming an endpoint in a shared
VPC reached over a peering or a transit gateway, `scenarios.central_endpoint`): every way each breaks is blocked at
the hops its error findings name, and the chain reads in the order packets meet the hops."""

from __future__ import annotations

from typing import Any

import pytest

from rotation_doctor.cli import main as cli
from rotation_doctor.simulated import scenarios
from rotation_doctor.simulated.account import AccountBuilder
from tests.cli_process import assert_valid, run_json
from tests.path_checks import (
    assert_blocked_where_the_findings_say,
    assert_mermaid_grammar,
    assert_text_marks_the_blocking_hops,
)

S = scenarios.DEMO_SECRET


def spoke(b: AccountBuilder) -> scenarios.Orders:
    """The orders VPC with a healthy database path and no way to Secrets Manager of its own."""
    return scenarios.orders(b, db_admits_function=True)


def sm_path(payload: dict[str, Any]) -> dict[str, Any]:
    return next(p for p in payload["paths"] if p["path"] == "sm")


def stops(case: dict[str, Any]) -> list[tuple[str, str]]:
    """The case's hops as drawn: consecutive questions to one component are one stop (its worst verdict)."""
    drawn: list[tuple[str, str, str]] = []
    worst = ("blocks", "not_evaluated", "doubt", "passes")
    for hop in case["hops"]:
        if drawn and drawn[-1][:2] == (hop["kind"], hop["id"]):
            verdict = min(drawn[-1][2], hop["verdict"], key=worst.index)
            drawn[-1] = (hop["kind"], hop["id"], verdict)
        else:
            drawn.append((hop["kind"], hop["id"], hop["verdict"]))
    return [(kind, verdict) for kind, _, verdict in drawn]


def diagnosed(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    _, payload = run_json(capsys, "diagnose", S)
    assert_valid("diagnose", payload)
    assert_blocked_where_the_findings_say(payload)
    return payload


# ----- centralized egress ------------------------------------------------------------------------------------------

# The way there, through the egress VPC and back, as drawn when nothing breaks (each function subnet's case alike).
EGRESS_CHAIN = [
    "function",
    "security_groups",  # the function's, out on 443
    "network_acl",  # the function's subnet
    "route_table",  # the function's subnet: 0.0.0.0/0 to the transit gateway
    "transit_gateway",  # the spoke attachment's table: 0.0.0.0/0 to the egress attachment
    "network_acl",  # the egress attachment's subnet
    "route_table",  # the egress attachment's subnet: 0.0.0.0/0 to the NAT gateway of its zone
    "nat_gateway",
    "network_acl",  # the NAT gateway's subnet
    "route_table",  # the NAT gateway's subnet: 0.0.0.0/0 to the internet gateway
    "internet_gateway",
    "secrets_manager",
    "route_table",  # the reply: the NAT gateway's subnet back to the transit gateway
    "transit_gateway",  # the egress attachment's table back to the spoke
]

# What is flagged, per way of breaking: the stop's kind, its verdict and its index in the drawn chain (a path that
# stops before the egress VPC draws only the hops judged: the function's groups are judged once the way out is).
EGRESS_BLOCKS: dict[str, tuple[str, str, int]] = {
    "spoke_route": ("route_table", "blocks", 1),
    "tgw_out": ("transit_gateway", "blocks", 2),
    "tgw_back": ("transit_gateway", "blocks", 13),
    "blackhole": ("transit_gateway", "blocks", 2),
    "no_nat": ("route_table", "blocks", 3),
    "nat_no_igw": ("route_table", "blocks", 9),
    "no_return": ("route_table", "blocks", 12),
    "acl": ("network_acl", "blocks", 8),
    "appliance": ("transit_gateway", "not_evaluated", 2),
    "gwlb": ("route_table", "not_evaluated", 3),
}


def in_order(kinds: list[str], chain: list[str]) -> bool:
    """Whether `kinds` are stops of `chain`, in its order."""
    rest = iter(chain)
    return all(kind in rest for kind in kinds)


def test_every_egress_break_has_its_blocking_hop() -> None:
    assert set(EGRESS_BLOCKS) == set(scenarios.EGRESS_BREAKS)


def test_healthy_centralized_egress_shows_the_way_out_and_back(
    builder: AccountBuilder, capsys: pytest.CaptureFixture[str]
) -> None:
    built = scenarios.centralized_egress(builder, spoke(builder))
    path = sm_path(diagnosed(capsys))
    assert not path["blocked"] and path["cases_judged"] == 2
    for case in path["cases"]:
        assert stops(case) == [(kind, "passes") for kind in EGRESS_CHAIN]
    hops = path["cases"][0]["hops"]
    nat = next(h for h in hops if h["kind"] == "nat_gateway")
    assert nat["id"] in built["nats"].values() and nat["answer"] == "available"
    (igw,) = (h for h in hops if h["kind"] == "internet_gateway")
    assert igw["id"] == built["igw"]
    out, back = (h for h in hops if h["kind"] == "transit_gateway")
    assert (out["question"], out["answer"]) == ("carry traffic to Secrets Manager", "delivered")
    assert built["tgw_tables"]["spoke"] in out["ids"] and built["tgw_tables"]["egress"] in back["ids"]
    assert back["question"] == "carry traffic back to the function"
    returning = hops[-2]
    assert returning["id"] == built["public_table"] and returning["question"].startswith("route for 10.20.")


@pytest.mark.parametrize("breaks", scenarios.EGRESS_BREAKS)
def test_each_egress_break_is_blocked_at_the_hop_its_findings_name(
    breaks: str, builder: AccountBuilder, capsys: pytest.CaptureFixture[str]
) -> None:
    scenarios.centralized_egress(builder, spoke(builder), breaks=breaks)
    path = sm_path(diagnosed(capsys))
    kind, verdict, index = EGRESS_BLOCKS[breaks]
    drawn = stops(path["cases"][0])
    flagged = [(i, k, v) for i, (k, v) in enumerate(drawn) if v != "passes"]
    assert flagged == [(index, kind, verdict)], drawn
    assert in_order([k for k, _ in drawn], EGRESS_CHAIN), drawn
    assert path["blocked"] == (verdict == "blocks")


# ----- centralized endpoints ---------------------------------------------------------------------------------------


def endpoint_chain(via: str) -> list[str]:
    crossing = "peering" if via == "peering" else "transit_gateway"
    there = ["route_table", crossing]  # a peering is asked both ways there: one stop
    back = ["route_table"] + ([] if via == "peering" else ["transit_gateway"])
    return [
        "function",
        "hosted_zone",  # resolving the name comes first
        "security_groups",
        "network_acl",
        *there,
        "vpc_endpoint",
        "network_acl",
        "security_groups",
        "secrets_manager",
        *back,
    ]


@pytest.mark.parametrize("via", ["peering", "tgw"])
def test_healthy_centralized_endpoint_shows_the_zone_and_the_far_endpoint(
    via: str, builder: AccountBuilder, capsys: pytest.CaptureFixture[str]
) -> None:
    found = scenarios.central_endpoint(builder, spoke(builder), via=via)
    path = sm_path(diagnosed(capsys))
    assert not path["blocked"]
    (case,) = path["cases"]
    assert stops(case) == [(kind, "passes") for kind in endpoint_chain(via)]
    zone = next(h for h in case["hops"] if h["kind"] == "hosted_zone")
    assert zone["id"] == found["zone"].split("/")[-1]
    assert zone["question"].startswith("resolve secretsmanager.us-east-1.amazonaws.com in vpc-")
    assert zone["answer"].startswith(found["endpoint"] + "-")  # the endpoint's regional DNS name
    endpoint = next(h for h in case["hops"] if h["kind"] == "vpc_endpoint")
    assert (endpoint["id"], endpoint["answer"]) == (found["endpoint"], "available")


# Per way of breaking: what is drawn flagged, in order. "zone" leaves the zone unassociated: the name resolves to the
# public endpoint and the function subnet's table has no default route (the spoke is built without one).
ENDPOINT_BLOCKS: dict[str, list[tuple[str, str]]] = {
    "zone": [("route_table", "blocks")],
    "deleted": [("vpc_endpoint", "blocks")],
    "there": [("route_table", "blocks")],
    "back": [("route_table", "blocks")],
    "dns": [("hosted_zone", "blocks")],
    "admits-none": [("security_groups", "blocks")],
}


@pytest.mark.parametrize("via", ["peering", "tgw"])
@pytest.mark.parametrize("breaks", list(ENDPOINT_BLOCKS))
def test_each_centralized_endpoint_break_is_blocked_at_the_hop_its_findings_name(
    via: str, breaks: str, builder: AccountBuilder, capsys: pytest.CaptureFixture[str]
) -> None:
    options = {"admits": "none"} if breaks == "admits-none" else {"breaks": breaks}
    scenarios.central_endpoint(builder, spoke(builder), via=via, **options)
    path = sm_path(diagnosed(capsys))
    assert path["blocked"]
    flagged = [(k, v) for k, v in stops(path["cases"][0]) if v != "passes"]
    assert flagged == ENDPOINT_BLOCKS[breaks]
    if breaks == "dns":
        zone = next(h for h in path["cases"][0]["hops"] if h["kind"] == "hosted_zone")
        assert zone["answer"] == "nothing (enableDnsSupport off)"


def test_a_group_reference_across_a_transit_gateway_blocks_at_the_endpoints_groups(
    builder: AccountBuilder, capsys: pytest.CaptureFixture[str]
) -> None:
    found = scenarios.central_endpoint(builder, spoke(builder), via="tgw", admits="group")
    path = sm_path(diagnosed(capsys))
    (blocked,) = (h for h in path["cases"][0]["hops"] if h["verdict"] == "blocks")
    assert blocked["kind"] == "security_groups" and blocked["id"] == found["endpoint_sg"]


# ----- what people see ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda b: scenarios.centralized_egress(b, spoke(b), breaks="nat_no_igw"), id="egress"),
        pytest.param(lambda b: scenarios.central_endpoint(b, spoke(b), via="tgw", breaks="dns"), id="central"),
    ],
)
def test_text_and_mermaid_show_the_chain_and_its_block(
    build: Any, builder: AccountBuilder, capsys: pytest.CaptureFixture[str]
) -> None:
    build(builder)
    payload = diagnosed(capsys)
    cli.main(["diagnose", S, "--format", "mermaid"])
    chart = capsys.readouterr().out
    assert_mermaid_grammar(chart)
    worst = sm_path(payload)["cases"][0]
    for hop in worst["hops"]:
        assert hop["id"] in chart
    blocked = [i for i, h in enumerate(stops(worst)) if h[1] == "blocks"]
    assert [f"  class sm_{i} blocks" for i in blocked] == [
        line for line in chart.splitlines() if line.startswith("  class sm_")
    ]
    cli.main(["diagnose", S, "--format", "text"])
    text = capsys.readouterr().out
    assert_text_marks_the_blocking_hops(text, payload)
    chain = next(line for line in text.splitlines() if line.startswith("    path ("))
    assert chain.count(" → ") == len(stops(worst)) - 1  # every stop of the case, in order
