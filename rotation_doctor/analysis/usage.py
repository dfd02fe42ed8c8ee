"""Everything a secret's rotation paths use: a change to any of it may break the next rotation."""

from __future__ import annotations

from rotation_doctor.analysis import sm_egress
from rotation_doctor.analysis.sm_path import secrets_manager_endpoints
from rotation_doctor.model.snapshot import Snapshot
from rotation_doctor.netsem import network_acls, routes


def resources_used(snap: Snapshot) -> set[str]:
    """Ids and names: the secret, the function, subnets, tables and their targets (IPv4 and IPv6), ACLs, groups and
    the prefix lists their rules name, endpoints, NAT gateways and their subnets, transit gateway attachments and
    their route tables, VPCs, the database (and an RDS Proxy's targets); through centralized egress, the egress VPC's
    attachment subnets, their tables, NAT gateways and the NAT gateways' subnets and tables."""
    used = {snap.secret.arn, snap.secret.name}
    fn, db = snap.function, snap.database
    subnets: set[str] = set()
    if fn is not None:
        used |= {fn.name, fn.arn, *fn.security_group_ids}
        subnets |= set(fn.subnet_ids)
        if fn.vpc_id:
            used.add(fn.vpc_id)
            for endpoint in [
                *secrets_manager_endpoints(snap, fn.vpc_id),
                *(e for e in snap.vpc_endpoints if e.vpc_id == fn.vpc_id),
            ]:
                used |= {endpoint.id, *endpoint.group_ids}
                subnets |= set(endpoint.subnet_ids)
    if snap.secret.rotation_lambda_arn:
        used.add(snap.secret.rotation_lambda_arn)
    if db is not None:
        used |= {db.identifier, *db.security_group_ids}
        subnets |= set(db.subnet_ids)
        if db.vpc_id:
            used.add(db.vpc_id)
        for target in db.proxy_targets or ():  # an RDS Proxy's own leg: its targets, their groups and subnets
            used |= {target.identifier, *target.security_group_ids}
            subnets |= set(target.subnet_ids)
    if fn is not None:  # centralized egress: where it enters the egress VPC; its tables and NAT gateways follow
        egress = sm_egress.egress_subnets(snap, fn)
        subnets |= egress
        used |= {snap.subnets[s].vpc_id for s in egress}
    for subnet_id in list(subnets):
        subnet = snap.subnets.get(subnet_id)
        if subnet is None:
            continue
        table = routes.table_for_subnet(subnet_id, subnet.vpc_id, snap.route_tables)
        if table is not None:
            used.add(table.id)
            for route in (*table.routes, *table.ipv6_routes):
                if route.target != "local":
                    used.add(route.target)
                    nat = snap.nat_gateways.get(route.target)
                    if nat is not None:
                        subnets.add(nat.subnet_id)
                        nat_table = routes.table_for_subnet(nat.subnet_id, nat.vpc_id, snap.route_tables)
                        if nat_table is not None:
                            used |= {nat_table.id, *(r.target for r in nat_table.routes if r.target != "local")}
    # A transit gateway a route leads to: its attachments in the VPCs used (their subnets' ACLs filter the traffic)
    # and the transit gateway route tables they are associated with.
    vpcs = {s.vpc_id for s in (snap.subnets.get(i) for i in subnets) if s is not None}
    for attachment in snap.tgw_attachments.values():
        if attachment.transit_gateway_id in used and attachment.resource_id in vpcs:
            used |= {attachment.id, *filter(None, [attachment.route_table_id])}
            subnets |= set(attachment.subnet_ids)
    # The managed prefix lists the groups' rules name: a change to a list's entries changes what the rule admits.
    for group_id in [g for g in used if g in snap.security_groups]:
        used |= {r.prefix_list_id for r in snap.security_groups[group_id].rules if r.prefix_list_id}
    for subnet_id in subnets:
        used.add(subnet_id)
        subnet = snap.subnets.get(subnet_id)
        acl = network_acls.acl_for_subnet(subnet_id, subnet.vpc_id, snap.network_acls) if subnet else None
        if acl is not None:
            used.add(acl.id)
    return used
