"""Where moto differs from AWS in a way the engine depends on, make it answer as AWS does.

- moto 5.2 reports every Lambda function's `VpcConfig.VpcId` as `vpc-123abc`; AWS reports the VPC
  of the function's subnets. The collector copes with a wrong VpcId (it re-reads the subnets, at
  the cost of extra calls), but the simulated account should look like AWS so that the demo, the
  tests and the call-count benchmarks see what a real account shows.
- moto ignores `PrivateDnsEnabled` in `ModifyVpcEndpoint`; AWS turns private DNS on or off.
- moto's DynamoDB checks a write's condition and then writes, with nothing between two threads; AWS
  makes a conditional write atomic. Racing approvals rely on that, so moto's writes are serialized.
- moto names an RDS Proxy `NAME.db-proxy-ID.REGION.rds.amazonaws.com`; AWS names it
  `NAME.proxy-ID.REGION.rds.amazonaws.com`, which is what the host parser recognises.

- moto's transit gateway attachments always report the default route table association, even on a gateway
  created with `DefaultRouteTableAssociation` disabled and after `AssociateTransitGatewayRouteTable` or
  `DisassociateTransitGatewayRouteTable`; AWS reports the current one.
- moto answers a revoke of an IPv6 egress rule in a VPC without IPv6 with success (it drops the IPv6 ranges
  first); AWS answers `InvalidPermission.NotFound`, as for any rule that is not there (outside a default VPC).
- moto keeps a transit gateway route's attachment as one object, which its serializer drops, so
  `SearchTransitGatewayRoutes` answers with no `TransitGatewayAttachments`; AWS answers with the list.
- moto names an interface endpoint `vpce-ID-RANDOM.com.amazonaws.REGION.SERVICE`; AWS names its regional DNS name
  `vpce-ID-RANDOM.SERVICE.REGION.vpce.amazonaws.com` (Amazon VPC User Guide, "DNS hostnames" of interface
  endpoints), which is what a private hosted zone's alias names and the name parser recognises. moto also does not
  implement the `vpc-endpoint-id` filter of `DescribeVpcEndpoints`, which AWS documents.

See docs/moto.md.
"""

from __future__ import annotations

from typing import Any

_lambda_patched = False
_others_patched = False


def apply() -> None:
    _patch_lambda_vpc_id()
    _patch_once()


def _patch_lambda_vpc_id() -> None:
    global _lambda_patched
    if _lambda_patched:
        return
    from moto.awslambda.models import LambdaFunction
    from moto.ec2.models import ec2_backends

    def vpc_config(self: Any) -> dict[str, Any] | None:
        if not self._vpc_config:
            return None
        config = dict(self._vpc_config)
        subnets = config.get("SubnetIds") or []
        if subnets:
            try:
                config["VpcId"] = ec2_backends[self.account_id][self.region].get_subnet(subnets[0]).vpc_id
            except Exception:
                config["VpcId"] = ""
        return config

    LambdaFunction.vpc_config = property(vpc_config)  # type: ignore[method-assign,assignment]
    _lambda_patched = True


def _patch_once() -> None:
    global _others_patched
    if _others_patched:
        return
    from moto.ec2.responses.vpcs import VPCs
    from moto.rds.models import DBProxy

    original_init = DBProxy.__init__

    def proxy_init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.endpoint = self.endpoint.replace(".db-proxy-", ".proxy-", 1)

    DBProxy.__init__ = proxy_init  # type: ignore[method-assign]

    original_modify = VPCs.modify_vpc_endpoint

    def modify_vpc_endpoint(self: Any) -> Any:
        result = original_modify(self)
        private_dns = self._get_param("PrivateDnsEnabled")
        if private_dns is not None:
            endpoint = self.ec2_backend.describe_vpc_endpoints(vpc_end_point_ids=[self._get_param("VpcEndpointId")])[0]
            endpoint.private_dns_enabled = str(private_dns).lower() == "true"
        return result

    VPCs.modify_vpc_endpoint = modify_vpc_endpoint  # type: ignore[method-assign]

    _patch_transit_gateways()
    _patch_ipv6_revoke()
    _patch_endpoint_names()

    import threading

    from moto.dynamodb.models import DynamoDBBackend

    write_lock = threading.RLock()
    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        setattr(DynamoDBBackend, name, _serialized(getattr(DynamoDBBackend, name), write_lock))
    _others_patched = True


def _patch_transit_gateways() -> None:
    from moto.ec2.models.transit_gateway_attachments import TransitGatewayAttachment, TransitGatewayAttachmentBackend
    from moto.ec2.models.transit_gateway_route_tables import TransitGatewayRouteTableBackend

    default_association = TransitGatewayAttachment.association

    def association(self: Any) -> dict[str, str] | None:
        data = getattr(self, "_association_data", None)
        if self.state == "available" and data:
            return {"State": data["state"], "TransitGatewayRouteTableId": data["transitGatewayRouteTableId"]}
        gateway = self.ec2_backend.transit_gateways.get(self.transit_gateway_id)
        default_off = gateway is not None and gateway.options.get("DefaultRouteTableAssociation") == "disable"
        if getattr(self, "_disassociated", False) or default_off:
            return None
        return default_association.fget(self)  # type: ignore[no-any-return,attr-defined]

    TransitGatewayAttachment.association = property(association)  # type: ignore[method-assign,assignment]

    original_unset = TransitGatewayAttachmentBackend.unset_attachment_association

    def unset_attachment_association(self: Any, tgw_attach_id: str) -> None:
        original_unset(self, tgw_attach_id)
        self.transit_gateway_attachments[tgw_attach_id]._disassociated = True

    TransitGatewayAttachmentBackend.unset_attachment_association = unset_attachment_association  # type: ignore[method-assign]

    original_route = TransitGatewayRouteTableBackend.create_transit_gateway_route

    def create_transit_gateway_route(self: Any, *args: Any, **kwargs: Any) -> Any:
        route = original_route(self, *args, **kwargs)
        attachment = route.get("transitGatewayAttachments")
        if isinstance(attachment, dict):
            route["transitGatewayAttachments"] = [attachment]
        return route

    TransitGatewayRouteTableBackend.create_transit_gateway_route = create_transit_gateway_route  # type: ignore[method-assign]


def _patch_ipv6_revoke() -> None:
    from moto.ec2.exceptions import InvalidPermissionNotFoundError
    from moto.ec2.models.security_groups import SecurityGroupBackend

    original_revoke = SecurityGroupBackend.revoke_security_group_egress

    def revoke_security_group_egress(self: Any, group_name_or_id: str, *args: Any, **kwargs: Any) -> Any:
        group = self.get_security_group_by_name_or_id(group_name_or_id, kwargs.get("vpc_id"))
        vpc = self.vpcs.get(group.vpc_id) if group is not None and group.vpc_id else None
        ranges = kwargs.get("ip_ranges") or []
        only_v6 = bool(ranges) and all("CidrIpv6" in r for r in ranges)
        others = kwargs.get("source_groups") or kwargs.get("prefix_list_ids") or kwargs.get("security_rule_ids")
        if vpc is not None and only_v6 and not others and not vpc.get_cidr_block_association_set(ipv6=True):
            raise InvalidPermissionNotFoundError()  # moto drops the IPv6 ranges and answers success
        return original_revoke(self, group_name_or_id, *args, **kwargs)

    SecurityGroupBackend.revoke_security_group_egress = revoke_security_group_egress  # type: ignore[method-assign]


def _patch_endpoint_names() -> None:
    import re

    from moto.ec2.models import vpcs

    original_entries = vpcs.create_dns_entries  # type: ignore[attr-defined]
    aws_service = re.compile(r"\Acom\.amazonaws\.(?P<region>[a-z0-9-]+)\.(?P<service>[a-z0-9-]+)\Z")

    def create_dns_entries(service_name: str, vpc_endpoint_id: str) -> dict[str, str]:
        entries = original_entries(service_name, vpc_endpoint_id)
        match = aws_service.match(service_name)
        if match:
            suffix = entries["dns_name"].split(".", 1)[0].rsplit("-", 1)[1]
            entries["dns_name"] = (
                f"{vpc_endpoint_id}-{suffix}.{match.group('service')}.{match.group('region')}.vpce.amazonaws.com"
            )
        return entries

    vpcs.create_dns_entries = create_dns_entries  # type: ignore[attr-defined]
    vpcs.VPCEndPoint.vpc_endpoint_id = property(lambda self: self.id)  # type: ignore[attr-defined]


def _serialized(method: Any, lock: Any) -> Any:
    def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return method(self, *args, **kwargs)

    return locked


def revert_for_test() -> None:
    """Give back moto's own Lambda VpcId (a test of the collector's repair path uses it)."""
    global _lambda_patched
    from moto.awslambda.models import LambdaFunction

    def vpc_config(self: Any) -> dict[str, Any] | None:
        if not self._vpc_config:
            return None
        config = dict(self._vpc_config)
        if config.get("SecurityGroupIds"):
            config["VpcId"] = "vpc-123abc"
        return config

    LambdaFunction.vpc_config = property(vpc_config)  # type: ignore[method-assign,assignment]
    _lambda_patched = False
