"""Roles and the named permissions they carry: the one place that says who may do what.

Views, the API, the admin and services ask `apps.accounts.permissions.user_can()`, which reads
`ROLE_PERMISSIONS` for organization-wide rights and django-guardian for object grants.
"""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    DEVELOPER = "developer", "Developer"
    OPERATOR = "operator", "Operator"
    VIEWER = "viewer", "Viewer"


# Higher ranks may grant any role up to their own rank (an admin cannot make an owner).
ROLE_RANK: dict[str, int] = {
    Role.VIEWER: 10,
    Role.OPERATOR: 20,
    Role.DEVELOPER: 30,
    Role.ADMIN: 40,
    Role.OWNER: 50,
}

# Every named permission the platform checks, with what it allows.
PERMISSIONS: dict[str, str] = {
    "organization.view": "See the organization and its settings",
    "organization.manage": "Change the organization's name and settings",
    "organization.delete": "Delete the organization",
    "members.view": "See who belongs to the organization",
    "members.manage": "Change members' roles and remove members",
    "invitations.manage": "Invite people and revoke invitations",
    "teams.view": "See teams",
    "teams.manage": "Create, change and delete teams and their members",
    "audit.view": "Read the audit log",
    "connectors.view": "See connectors and their health",
    "connectors.operate": "Test connectors and run their actions",
    "connectors.manage": "Create, configure and delete connectors",
    "workflows.view": "See integration workflows and their runs",
    "workflows.operate": "Run, pause and resume workflows and resolve conflicts",
    "workflows.manage": "Create, change and delete workflows",
    "gateway.view": "See API clients and usage",
    "gateway.manage": "Manage API clients, keys and plans",
    "extensions.view": "See installed extensions",
    "extensions.install": "Install, configure and remove extensions",
    "extensions.publish": "Publish extensions as the organization's publisher",
    "billing.view": "See invoices, licenses and usage",
    "billing.manage": "Buy extensions and manage subscriptions",
    "security.view": "See security events and IP rules",
    "security.manage": "Resolve security events and change IP rules and SSO",
    "compliance.view": "See compliance assessments and reports",
    "compliance.manage": "Run assessments and upload evidence",
    "identity.manage": "Configure sign-in policy, single sign-on, SCIM provisioning and the organization's OAuth apps",
    "access.review": "See who can do what on any object of the organization",
}

_VIEW = {name for name in PERMISSIONS if name.endswith(".view")}

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    Role.VIEWER: frozenset(_VIEW - {"audit.view", "security.view"}),
    Role.OPERATOR: frozenset((_VIEW - {"security.view"}) | {"connectors.operate", "workflows.operate"}),
    Role.DEVELOPER: frozenset(
        _VIEW
        | {
            "connectors.operate",
            "connectors.manage",
            "workflows.operate",
            "workflows.manage",
            "gateway.manage",
            "extensions.publish",
        }
    ),
    Role.ADMIN: frozenset(set(PERMISSIONS) - {"organization.delete"}),
    Role.OWNER: frozenset(PERMISSIONS),
}


def role_permissions(role: str) -> frozenset[str]:
    return ROLE_PERMISSIONS.get(role, frozenset())


def can_grant(granter_role: str, role: str) -> bool:
    return ROLE_RANK.get(granter_role, 0) >= ROLE_RANK.get(role, 10**6)
