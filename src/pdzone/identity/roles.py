"""Roles and what they may do (the role table in docs/concepts.md).

The three admin roles are separated (三权分立): one account holds at most one of them; the system
admin runs the system but cannot read or change the operation log; the security admin grants
roles and files staff; the auditor reads and reviews the log.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    SYSTEM_ADMIN = "system_admin"
    SECURITY_ADMIN = "security_admin"
    AUDITOR = "auditor"
    SUPERVISOR = "supervisor"
    EXPERT = "expert"
    PROVIDER = "provider"
    OPERATOR_STAFF = "operator_staff"
    PARTNER_ANALYST = "partner_analyst"


ADMIN_ROLES = frozenset({Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN, Role.AUDITOR})
MFA_ROLES = ADMIN_ROLES
FILED_ROLES = frozenset({Role.OPERATOR_STAFF, Role.PARTNER_ANALYST})  # must be filed (备案) for the zone


class Perm(StrEnum):
    ORG_MANAGE = "identity.org.manage"
    USER_MANAGE = "identity.user.manage"
    ZONE_MANAGE = "governance.zone.manage"
    ROLE_GRANT = "identity.role.grant"
    FILING_DECIDE = "identity.filing.decide"
    DIRECTORY_READ = "identity.directory.read"
    AUDIT_READ = "audit.log.read"
    AUDIT_REVIEW = "audit.log.review"
    CHECKPOINT_COSIGN = "audit.checkpoint.cosign"
    CATALOG_READ = "catalog.dataset.read"
    DATASET_IMPORT = "catalog.dataset.import"
    DATASET_METADATA = "catalog.dataset.metadata"   # edit metadata, propose column roles
    DATASET_DECIDE = "catalog.dataset.decide"       # confirm level, R-28 flags, DP bounds, public values
    DATASET_PREVIEW = "catalog.dataset.preview"     # masked previews (through the egress gate)
    GRANT_MANAGE = "egress.grant.manage"            # scenarios, grants, budgets and caps
    CLEANROOM_QUERY = "cleanroom.query.run"         # run clean-room queries within grants
    CLEANROOM_APPROVE = "cleanroom.query.approve"   # approve level-4 queries


PERMISSIONS: dict[Role, frozenset[Perm]] = {
    Role.SYSTEM_ADMIN: frozenset({Perm.ORG_MANAGE, Perm.USER_MANAGE, Perm.ZONE_MANAGE, Perm.DIRECTORY_READ,
                                  Perm.CATALOG_READ}),
    Role.SECURITY_ADMIN: frozenset({Perm.ROLE_GRANT, Perm.FILING_DECIDE, Perm.DIRECTORY_READ, Perm.CATALOG_READ,
                                    Perm.DATASET_DECIDE, Perm.GRANT_MANAGE, Perm.CLEANROOM_APPROVE}),
    Role.AUDITOR: frozenset({Perm.AUDIT_READ, Perm.AUDIT_REVIEW, Perm.CATALOG_READ}),
    Role.SUPERVISOR: frozenset({Perm.AUDIT_READ, Perm.CHECKPOINT_COSIGN, Perm.CATALOG_READ}),
    Role.EXPERT: frozenset(),
    # A provider decides on its own organization's datasets only (checked against the dataset's provider).
    Role.PROVIDER: frozenset({Perm.CATALOG_READ, Perm.DATASET_DECIDE, Perm.DATASET_PREVIEW}),
    # Operator staff and partner analysts must also be filed (备案) for the zone.
    Role.OPERATOR_STAFF: frozenset({Perm.CATALOG_READ, Perm.DATASET_IMPORT, Perm.DATASET_METADATA,
                                    Perm.DATASET_PREVIEW}),
    Role.PARTNER_ANALYST: frozenset({Perm.CATALOG_READ, Perm.CLEANROOM_QUERY}),
}

# Token scopes a user may ask for when issuing an API token; a token never exceeds its user.
SCOPES = frozenset(p.value for p in Perm)

ROLE_NAMES = {
    Role.SYSTEM_ADMIN: ("系统管理员", "System administrator"),
    Role.SECURITY_ADMIN: ("安全管理员", "Security administrator"),
    Role.AUDITOR: ("审计员", "Auditor"),
    Role.SUPERVISOR: ("监管人员", "Supervisor"),
    Role.EXPERT: ("评审专家", "Expert reviewer"),
    Role.PROVIDER: ("数据提供部门人员", "Data provider"),
    Role.OPERATOR_STAFF: ("数据加工处理人员", "Operator staff"),
    Role.PARTNER_ANALYST: ("合作方分析人员", "Partner analyst"),
}
