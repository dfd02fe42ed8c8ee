"""Is the database proven to belong to the secret? The secret alone never decides what gets opened.

A secret's value and tags are written by whoever may create a secret, who need not own the database
it names. Someone who can create a secret and a function could otherwise have rotation-doctor open
another team's database (or a bastion found by its IP) to their function. So a fix that changes
anything on the database's side (its groups, its subnets' ACLs, its VPC's routes, moving the function
into its VPC) needs proof from something the secret's author does not control:

- the database, its cluster, or one of its security groups carries the tag `rotation-doctor:secrets`
  (for an RDS Proxy: the proxy, a target instance or cluster behind it, or a group of either) whose value
  (names, ARNs or `prefix/*` patterns, separated by spaces or commas) names the secret;
- or the deployer trusts the secret's name: it starts with one of `trusted_prefixes`
  (`TrustedSecretPrefixes`, `--trust-prefix`), names that IAM lets only the database's owners create.

A group the database wears is the database's, whoever else wears it: a rule written on it, or naming it as
a rule's source, is a database-side change, even when the function wears that group too. The planner puts
the function's side of a rule on a group only the function wears, when it has one; a rule between two groups
the database wears (a self-reference) admits every member of the group, not the function alone, and is
risk high whatever the link. An RDS Proxy's groups and its targets' groups are all the database's: the proxy's
own leg (a target's group admitting the proxy's group) is a database-side fix like any other, and it is raised
to high when the function wears the proxy's group too (the rule would let it past the proxy).

Without proof the fix is still planned and shown, at risk high, and only a person can approve it. A
target found by its IP address (a network interface) always waits for a person, proven or not.

How a tag entry names a secret, exactly (identities are compared whole, never trimmed or derived):

- an entry starting with `arn:` (in any case) is an ARN: it names only the secret whose full ARN, as
  Secrets Manager reports it, is the very same string (partition, region, account, name and the six
  characters Secrets Manager appends). A partial ARN (without those six characters, as AWS accepts one in
  API calls) names nothing: it is ambiguous between a secret `x` and a secret named `x-AbCdEf`, which
  anyone who may create secrets can create. No suffix is stripped, no name is read out of an ARN, and an
  ARN entry is never a pattern (a `*` in it is just a character no ARN holds).
- any other entry ending in `*` names the secrets whose `Name`, as Secrets Manager reports it, starts
  with what precedes the `*`, as the database's owner wrote it; a bare `*` names none.
- any other entry names only the secret whose `Name` is equal to it. A secret's name cannot hold `:`
  (Secrets Manager allows letters, digits and `/_+=.@-`), so a name entry never equals a piece of an ARN.

A secret whose name is unknown (empty) is named by no name or pattern entry: the link fails closed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from functools import partial

from rotation_doctor.model.findings import PathName
from rotation_doctor.model.plan import NOT_REQUIRED, Fix, Link, LinkStatus, ResourceKind, Risk
from rotation_doctor.model.snapshot import Database, Secret, Snapshot, TargetKind

LINK_TAG = "rotation-doctor:secrets"


def names_secret(tag_value: str, secret: Secret) -> bool:
    """Whether a `rotation-doctor:secrets` value names this secret, by the exact rules of the module's doc."""
    return any(_entry_names(entry, secret) for entry in re.split(r"[\s,]+", tag_value.strip()) if entry)


def _entry_names(entry: str, secret: Secret) -> bool:
    if entry[:4].lower() == "arn:":
        return bool(secret.arn) and entry == secret.arn  # the whole ARN or nothing: never a pattern, never trimmed
    if not secret.name:
        return False  # a name that is not known is named by nothing
    if entry.endswith("*"):
        prefix = entry[:-1]
        return bool(prefix) and secret.name.startswith(prefix)
    return entry == secret.name


def database_link(snap: Snapshot, trusted_prefixes: Sequence[str] = ()) -> Link:
    db = snap.database
    if db is None:
        return Link(LinkStatus.UNPROVEN, "no database was identified", by_person_only=True)
    by_ip = db.kind is TargetKind.ENI
    for what, tags in _owners_tags(snap, db):
        value = tags.get(LINK_TAG)
        if value and names_secret(value, snap.secret):
            return _proven(f"{what} is tagged {LINK_TAG}={value}", by_ip)
    trusted = next((p for p in trusted_prefixes if p and snap.secret.name.startswith(p)), None)
    if trusted is not None:
        return _proven(f"the secret's name starts with the trusted prefix {trusted}", by_ip)
    source = snap.target_ref.source if snap.target_ref else "value"
    groups = ", ".join(db.security_group_ids) or "no group"
    behind = ", a target behind it" if db.proxy_targets else ""
    return Link(
        LinkStatus.UNPROVEN,
        f"{_described(db)} (in {db.vpc_id or 'no VPC'}, groups {groups}) is linked to this secret only by the "
        f"secret's own {source}; its owner links it by tagging it{behind} or one of its groups "
        f"{LINK_TAG}={snap.secret.name}",
        by_person_only=True,
    )


def _proven(proof: str, by_ip: bool) -> Link:
    if by_ip:
        proof += "; the target was found by its IP address, so a person approves every change"
    return Link(LinkStatus.PROVEN, proof, by_person_only=by_ip)


def _described(db: Database) -> str:
    if db.kind is TargetKind.ENI:
        return f"network interface {db.identifier} (found by the IP address {db.host})"
    return f"{db.kind} {db.identifier}"


def _owners_tags(snap: Snapshot, db: Database) -> list[tuple[str, Mapping[str, str]]]:
    """The tags only the database's owners write: the database's, its groups', and for an RDS Proxy its targets'
    and their groups' (a proxy and its targets are one owner's: AWS lets only who may register a target with the
    proxy put it behind it)."""
    found: list[tuple[str, Mapping[str, str]]] = [(_described(db), db.tags)]
    found += [(f"{t.target_type} {t.identifier} behind {db.identifier}", t.tags) for t in db.proxy_targets or ()]
    for group_id in sorted(snap.database_group_ids):
        group = snap.security_groups.get(group_id)
        if group is not None:
            found.append((f"security group {group_id}", group.tags))
    return found


def needs_link(fix: Fix, snap: Snapshot) -> bool:
    """A fix that changes the database's side: one that writes a group the database wears or admits one as a rule's
    source (whoever else wears it: wearing the database's group earns the function nothing), or a database-path
    fix that changes more than the function itself and its own groups."""
    db_groups = snap.database_group_ids
    if any(w.id in db_groups for w in fix.writes) or any(
        not egress and peer in db_groups for _, peer, egress in _group_rules(fix)
    ):
        return True
    if not any(code.path is PathName.DB for code in fix.fixes):
        return False
    fn = snap.function
    # By kind and id: a function's name is its owner's choice (`acl-...`, `rtb-...` are valid names), never an id of
    # another kind of resource.
    own: set[tuple[ResourceKind, str]] = set()
    if fn is not None:
        own = {(ResourceKind.FUNCTION, fn.arn), (ResourceKind.FUNCTION, fn.name)}
        own |= {(ResourceKind.SECURITY_GROUP, g) for g in snap.function_own_group_ids}
    return any(not w.created_by_plan and (w.kind, w.id) not in own for w in fix.writes)


def with_links(fixes: Sequence[Fix], snap: Snapshot, trusted_prefixes: Sequence[str] = ()) -> tuple[Fix, ...]:
    """Each fix with its link; one that is not proven is raised to risk high and says what is not linked. A rule
    between two groups the database wears is high whatever the link (see `_held_high`)."""
    link = database_link(snap, trusted_prefixes)
    out = []
    for fix in map(partial(_held_high, snap=snap), fixes):
        if not needs_link(fix, snap):
            fix = replace(fix, link=NOT_REQUIRED)
        elif link.status is LinkStatus.PROVEN:
            fix = replace(fix, link=link)
        else:
            note = f"Not linked to the secret: {link.proof}. Only a person can approve this fix."
            fix = replace(fix, link=link, risk=_at_least_high(fix.risk), notes=(*fix.notes, note))
        out.append(_held_in_shared_vpc(fix, snap))
    return tuple(out)


def _held_in_shared_vpc(fix: Fix, snap: Snapshot) -> Fix:
    """A fix in a VPC that is neither the function's nor the database's (an egress VPC that centralized egress
    passes through, shared by every spoke and often another team's or account's): risk high, and only a person
    approves it. The spoke's own Secrets Manager endpoint, planned first, heals the path without it."""
    fn, db = snap.function, snap.database
    own = {fn.vpc_id if fn else None, db.vpc_id if db else None}
    if fix.vpc_id is None or fix.vpc_id in own:
        return fix
    why = (
        f"it changes {fix.vpc_id}, which the secret's path only passes through (a shared egress VPC): every VPC "
        "behind it depends on it"
    )
    note = f"Outside the function's and the database's VPCs: {why}. Only a person can approve this fix."
    held = Link(fix.link.status, f"{fix.link.proof}; {why}", by_person_only=True)
    return replace(fix, link=held, risk=_at_least_high(fix.risk), notes=(*fix.notes, note))


def _held_high(fix: Fix, snap: Snapshot) -> Fix:
    """A rule on a group the database wears that names a group the database wears (itself, most often: the function
    wears the database's group) lets every member of that group in, not the function alone: risk high."""
    db_groups = snap.database_group_ids
    broad = [
        (group, peer)
        for group, peer, _ in _group_rules(fix)
        if group in db_groups and peer in db_groups and not _proxy_leg(snap, group, peer)
    ]
    if not broad:
        return fix
    notes = tuple(_broad_note(snap, group, peer) for group, peer in broad)
    return replace(fix, risk=_at_least_high(fix.risk), notes=(*fix.notes, *notes))


def _proxy_leg(snap: Snapshot, group: str, peer: str) -> bool:
    """A rule on an RDS Proxy target's group admitting the proxy's group, as AWS sets a proxy up (RDS User Guide,
    "Planning and setting up RDS Proxy": the database's group admits the proxy's; from memory, not quoted): it
    admits the proxy, not the rotation function, unless the function wears the proxy's group too, or the rule
    names its own group (then it admits every member, as any self-reference)."""
    db = snap.database
    proxy_groups = db.security_group_ids if db is not None and db.kind is TargetKind.RDS_PROXY else ()
    function_groups = snap.function.security_group_ids if snap.function is not None else ()
    return (
        group != peer and group in snap.proxy_target_group_ids and peer in proxy_groups and peer not in function_groups
    )


def _broad_note(snap: Snapshot, group: str, peer: str) -> str:
    function_groups = snap.function.security_group_ids if snap.function is not None else ()
    proxy_groups = snap.database.security_group_ids if snap.database is not None else ()
    if group != peer and group in snap.proxy_target_group_ids and peer in proxy_groups and peer in function_groups:
        return (
            f"The rule on {group} names {peer}, the proxy's group, which the rotation function wears too: it lets "
            "the function past the proxy, straight to its target."
        )
    return (
        f"The rule on {group} names {peer}, a group the database wears: it admits every member of {peer}, not the "
        "rotation function alone."
    )


def _at_least_high(risk: Risk) -> Risk:
    return risk if risk is Risk.NEVER_AUTOMATIC else Risk.HIGH


def _group_rules(fix: Fix) -> Iterator[tuple[str, str, bool]]:
    """(group, peer, egress) of each rule by group reference the fix authorizes."""
    for step in fix.steps:
        egress = step.call.operation == "AuthorizeSecurityGroupEgress"
        if not egress and step.call.operation != "AuthorizeSecurityGroupIngress":
            continue
        group = str(step.call.params.get("GroupId", ""))
        for permission in step.call.params.get("IpPermissions", ()):
            for pair in permission.get("UserIdGroupPairs", ()):
                yield group, str(pair.get("GroupId", "")), egress
