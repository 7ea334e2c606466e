"""The entitlement hook for paid extensions. Billing (apps.billing) plugs its check in through the
`MARKETPLACE_ENTITLEMENT_CHECK` setting (a dotted path to a function with the signature of
`free_plans_only`); until it does, free plans are always allowed and paid ones are refused with a reason."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from nofx_sdk.rules.manifest import PricingModel

if TYPE_CHECKING:
    from apps.accounts.models import Organization
    from apps.marketplace.models import Extension, ExtensionVersion


@dataclass(frozen=True)
class Entitlement:
    allowed: bool
    reason: str = ""


class EntitlementCheck(Protocol):
    def __call__(
        self, *, organization: Organization, extension: Extension, version: ExtensionVersion, plan_id: str
    ) -> Entitlement: ...


def plan_model(version: ExtensionVersion, plan_id: str) -> str | None:
    """The pricing model of a plan of the version's manifest, or None if it has no such plan."""
    plans = ((version.manifest or {}).get("pricing") or {}).get("plans") or [{"id": "free", "model": "free"}]
    return next((p.get("model") for p in plans if p.get("id") == plan_id), None)


def free_plans_only(
    *, organization: Organization, extension: Extension, version: ExtensionVersion, plan_id: str
) -> Entitlement:
    """The default until billing exists: free plans are always allowed; paid plans cannot be bought yet."""
    model = plan_model(version, plan_id)
    if model is None:
        return Entitlement(False, f"The extension has no plan {plan_id!r}.")
    if model == PricingModel.FREE:
        return Entitlement(True)
    return Entitlement(False, "Paid plans are not available yet on this deployment: billing is not set up.")


def check_entitlement(
    *, organization: Organization, extension: Extension, version: ExtensionVersion, plan_id: str
) -> Entitlement:
    """May `organization` install, update to or use `version` on `plan_id`? Asked on install and on update."""
    check: EntitlementCheck = import_string(settings.MARKETPLACE_ENTITLEMENT_CHECK)
    return check(organization=organization, extension=extension, version=version, plan_id=plan_id)
