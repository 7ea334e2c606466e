"""What installing a declarative extension gives the organization, and what uninstalling takes back.

A `connector` extension ships a connector manifest: installing registers it with the connector framework
for the organization (a ConnectorManifest it can create connectors from). A `workflow` or `template`
extension ships a workflow definition: installing keeps it as a workflow draft the organization completes
by choosing its two connectors. Uninstalling deactivates the manifest (its connectors pause) and withdraws
open drafts; nothing the organization already built from them is deleted.

Both run inside the installation's own transaction, so an installation is active exactly when what it
ships is usable.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from apps.connectors.services import deactivate_installed_manifests, register_installed_manifest
from apps.marketplace.models import Installation
from apps.sync.services import create_workflow_draft, withdraw_workflow_drafts
from nofx_sdk import rules
from nofx_sdk.rules.archive import ArchiveLimits
from nofx_sdk.rules.checks import manifest_of, payload_of
from nofx_sdk.rules.manifest import ExtensionType


class PayloadUnusable(Exception):
    """The extension's payload cannot be made usable by the organization (the message says why)."""


def installation_source(installation: Installation) -> str:
    """How the connector framework and the sync engine name what this installation brought."""
    return f"marketplace:{installation.pk}"


def is_framework_manifest(document: Any) -> bool:
    """A connector manifest in the connector framework's format (/schemas/connector-manifest.schema.json),
    as opposed to the marketplace's older descriptive format, which the framework cannot run."""
    return isinstance(document, dict) and "manifest_version" in document


def _payload_document(installation: Installation) -> Any:
    from apps.marketplace.services.publishing import package_bytes

    package = rules.read_package(
        package_bytes(installation.version),
        ArchiveLimits(max_package_bytes=settings.MARKETPLACE_MAX_PACKAGE_BYTES),
    )
    manifest = manifest_of(package)
    if manifest is None:
        raise PayloadUnusable("the package's manifest cannot be read")
    name, _text, document, error = payload_of(package, manifest)
    if error:
        raise PayloadUnusable(f"its payload {name} is {error}")
    return document


def make_payload_usable(*, installation: Installation) -> None:
    """Register what a declarative extension ships for the installation's organization (idempotent).

    Raises PayloadUnusable when the payload cannot be registered; the caller fails the installation.
    """
    kind = installation.extension.type
    if kind not in (ExtensionType.CONNECTOR, ExtensionType.WORKFLOW, ExtensionType.TEMPLATE):
        return
    document = _payload_document(installation)
    source = installation_source(installation)
    if kind == ExtensionType.CONNECTOR:
        if not is_framework_manifest(document):
            # The older descriptive format documents an API but gives the framework nothing to run.
            return
        from apps.core.exceptions import BusinessRuleViolation

        try:
            register_installed_manifest(
                organization=installation.organization, document=document, installed_from=source
            )
        except BusinessRuleViolation as exc:
            details = "; ".join(str(e.get("message")) for e in (exc.errors or [])[:3])
            raise PayloadUnusable(f"its connector manifest was refused: {exc.message} {details}".strip()) from exc
        return
    if not isinstance(document, dict):
        raise PayloadUnusable("its workflow definition is not an object")
    from apps.sync.models import WorkflowDraft

    if WorkflowDraft.objects.filter(organization=installation.organization, installed_from=source).exists():
        return  # activation ran before (a retried task): the draft is there already
    create_workflow_draft(
        organization=installation.organization, actor=None, definition=document, installed_from=source
    )


def withdraw_payload(*, installation: Installation) -> None:
    """Uninstalling: the manifest takes no new connectors (its connectors pause); open drafts are withdrawn."""
    source = installation_source(installation)
    deactivate_installed_manifests(organization=installation.organization, installed_from=source)
    withdraw_workflow_drafts(organization=installation.organization, installed_from=source)
