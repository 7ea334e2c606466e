"""The hand-off from the marketplace's install flow to payment, for paid plans.

The install flow collects consent, configuration and a plan; for a plan that is not free and not yet
entitled it asks the function named by the `MARKETPLACE_CHECKOUT` setting where to send the customer.
Billing (apps.billing) provides the real one (a Stripe Checkout Session that installs on payment); until
it is configured, `checkout_unavailable` says why paid plans cannot be bought here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from django.conf import settings
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from django.http import HttpRequest

    from apps.accounts.models import Organization, User
    from apps.marketplace.models import ExtensionVersion


@dataclass(frozen=True)
class CheckoutStart:
    """Where to send the customer to pay (`redirect_url`), or, when there is nowhere, `message` saying why."""

    redirect_url: str | None
    message: str = ""


class BeginPaidInstall(Protocol):
    def __call__(
        self,
        *,
        request: HttpRequest,
        organization: Organization,
        actor: User,
        version: ExtensionVersion,
        plan_id: str,
        config: dict[str, Any],
        granted_permissions: dict[str, list[str]],
    ) -> CheckoutStart: ...


def checkout_unavailable(
    *,
    request: HttpRequest,
    organization: Organization,
    actor: User,
    version: ExtensionVersion,
    plan_id: str,
    config: dict[str, Any],
    granted_permissions: dict[str, list[str]],
) -> CheckoutStart:
    """The default when billing is not set up: nothing to pay through, and the reason."""
    return CheckoutStart(None, "Paid plans are unavailable on this deployment: billing is not set up.")


def begin_paid_install(
    *,
    request: HttpRequest,
    organization: Organization,
    actor: User,
    version: ExtensionVersion,
    plan_id: str,
    config: dict[str, Any],
    granted_permissions: dict[str, list[str]],
) -> CheckoutStart:
    """Start paying for `plan_id` of `version`; the installation is made once payment succeeds."""
    begin: BeginPaidInstall = import_string(settings.MARKETPLACE_CHECKOUT)
    return begin(
        request=request,
        organization=organization,
        actor=actor,
        version=version,
        plan_id=plan_id,
        config=config,
        granted_permissions=granted_permissions,
    )
