"""Billing's entitlement check (the `MARKETPLACE_ENTITLEMENT_CHECK` seam): free plans are always allowed;
a paid plan needs a license in good standing for the organization, extension and plan."""

from __future__ import annotations

from typing import TYPE_CHECKING

from apps.billing.models import License, LicenseStatus
from apps.billing.stripe_api import stripe_configured
from apps.marketplace.entitlements import Entitlement, plan_model
from nofx_sdk.rules.manifest import PricingModel

if TYPE_CHECKING:
    from apps.accounts.models import Organization
    from apps.marketplace.models import Extension, ExtensionVersion

REASONS = {
    LicenseStatus.LAPSED: "The subscription lapsed after a failed payment; pay the open invoice to resume.",
    LicenseStatus.CANCELED: "The subscription was canceled; buy the plan again to use it.",
    LicenseStatus.REFUNDED: "The purchase was refunded; buy the plan again to use it.",
}


def licensed_plans(
    *, organization: Organization, extension: Extension, version: ExtensionVersion, plan_id: str
) -> Entitlement:
    """May the organization use `plan_id` of the extension? Same contract as `free_plans_only`."""
    model = plan_model(version, plan_id)
    if model is None:
        return Entitlement(False, f"The extension has no plan {plan_id!r}.")
    if model == PricingModel.FREE:
        return Entitlement(True)
    license_ = License.objects.filter(organization=organization, extension=extension, plan_id=plan_id).first()
    if license_ is not None and license_.in_good_standing:
        return Entitlement(True)
    if license_ is not None:
        return Entitlement(False, REASONS.get(LicenseStatus(license_.status), "The license is not active."))
    if not stripe_configured():
        return Entitlement(False, "Paid plans are unavailable on this deployment: billing is not set up.")
    return Entitlement(False, "This plan is paid: buy it through checkout first.")
