"""The fix kinds of the contract (section 3), one module each, registered here and nowhere else.

The order is the order the planner offers them in: the first that can address a finding does.
"""

from __future__ import annotations

from remediations.add_invoke_permission import AddInvokePermission
from remediations.add_nacl_entries import AddNaclEntries
from remediations.add_peering_routes import AddPeeringRoutes
from remediations.attach_lambda_to_vpc import AttachLambdaToVpc
from remediations.authorize_db_ingress import AuthorizeDbIngress
from remediations.authorize_endpoint_ingress import AuthorizeEndpointIngress
from remediations.authorize_lambda_egress import AuthorizeLambdaEgress
from remediations.base import PlanContext, Planned, Remediation
from remediations.create_nat_gateway import CreateNatGateway
from remediations.create_secretsmanager_endpoint import CreateSecretsManagerEndpoint
from remediations.enable_endpoint_private_dns import EnableEndpointPrivateDns
from remediations.enable_vpc_dns import EnableVpcDns
from rotation_doctor.model.plan import FixKind

REGISTRY: dict[FixKind, Remediation] = {
    r.kind: r
    for r in (
        AttachLambdaToVpc(),
        CreateSecretsManagerEndpoint(),
        EnableVpcDns(),
        EnableEndpointPrivateDns(),
        AddPeeringRoutes(),
        AuthorizeEndpointIngress(),
        AuthorizeLambdaEgress(),
        AuthorizeDbIngress(),
        AddNaclEntries(),
        AddInvokePermission(),
        CreateNatGateway(),
    )
}


def write_actions() -> set[str]:
    """Every IAM write action any fix kind may need: the deployment grants exactly these."""
    return {a for r in REGISTRY.values() for a in r.iam_actions}


__all__ = ["REGISTRY", "PlanContext", "Planned", "Remediation", "write_actions"]
