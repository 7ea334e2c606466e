"""What an extension's permissions mean, in sentences a customer admin can judge before consenting."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apps.accounts.roles import PERMISSIONS

# Sentences for the scopes an extension may ask for (the manifest allows only read and operate scopes).
SCOPE_SENTENCES: dict[str, str] = {
    "organization.view": "See your organization's name and settings.",
    "members.view": "See who belongs to your organization and their roles.",
    "teams.view": "See your teams and who is in them.",
    "audit.view": "Read your organization's audit log.",
    "connectors.view": "See your connectors and their health.",
    "connectors.operate": "Test your connectors and run their actions (this can change data in connected systems).",
    "connectors.manage": "Create, change and delete your connectors and their credentials.",
    "workflows.view": "See your integration workflows and their runs.",
    "workflows.operate": "Run, pause and resume your workflows and resolve their conflicts.",
    "workflows.manage": "Create, change and delete your workflows.",
    "gateway.view": "See your API clients and their usage.",
    "billing.view": "See your invoices, licenses and usage.",
    "security.view": "See your security events and IP rules.",
    "compliance.view": "See your compliance assessments and reports.",
}

DATA_CLASS_SENTENCES: dict[str, str] = {
    "public": "Handle public information that may be shared freely.",
    "internal": "Handle internal business information, such as tickets and records from your systems.",
    "confidential": "Handle confidential business information.",
    "personal": "Handle personal data about people (names, email addresses, identifiers).",
    "sensitive_personal": "Handle sensitive personal data (such as health or identity documents).",
    "financial": "Handle financial data (payments, invoices, account numbers).",
    "health": "Handle health information about people.",
    "credentials": "Handle passwords, API keys or other credentials.",
}

# Data classes that deserve a second look before consenting.
SENSITIVE_DATA_CLASSES = {"personal", "sensitive_personal", "financial", "confidential", "health", "credentials"}


@dataclass(frozen=True)
class PermissionSentence:
    kind: str
    code: str
    text: str
    sensitive: bool = False


def egress_sentence(host: str) -> str:
    if host == "*":
        return "Send data to any server on the internet."
    if host.startswith("*."):
        return f"Send data to servers under {host[2:]}."
    return f"Send data to {host}."


def describe_permissions(permissions: dict[str, Any]) -> list[PermissionSentence]:
    """One sentence per requested scope, outbound host and data class, in that order."""
    sentences: list[PermissionSentence] = []
    for scope in permissions.get("scopes") or []:
        text = SCOPE_SENTENCES.get(scope) or f"{PERMISSIONS.get(scope, scope)}."
        sentences.append(PermissionSentence("scope", scope, text, sensitive=not scope.endswith(".view")))
    for host in permissions.get("egress") or []:
        sentences.append(PermissionSentence("egress", host, egress_sentence(host), sensitive=host == "*"))
    for data_class in permissions.get("dataClasses") or []:
        text = DATA_CLASS_SENTENCES.get(data_class) or f"Handle data classified as {data_class}."
        sentences.append(PermissionSentence("data", data_class, text, sensitive=data_class in SENSITIVE_DATA_CLASSES))
    return sentences
