"""The entitlement seam: free plans always, paid plans only with a license in good standing."""

from __future__ import annotations

import pytest

from apps.billing.entitlements import licensed_plans
from apps.billing.models import LicenseStatus
from apps.core.exceptions import NotPermitted
from apps.marketplace.services.installations import install_extension, permissions_of
from tests.factories.billing import LicenseFactory

pytestmark = pytest.mark.django_db


def _check(organization, extension, plan_id):
    return licensed_plans(
        organization=organization, extension=extension, version=extension.latest_version, plan_id=plan_id
    )


def test_a_free_plan_is_always_allowed(organization, paid_extension):
    assert _check(organization, paid_extension, "free").allowed


def test_a_paid_plan_without_a_license_is_refused_with_the_way_to_buy_it(organization, paid_extension):
    entitlement = _check(organization, paid_extension, "pro")
    assert not entitlement.allowed
    assert "checkout" in entitlement.reason


def test_an_unknown_plan_is_refused(organization, paid_extension):
    assert "no plan" in _check(organization, paid_extension, "gold").reason


@pytest.mark.parametrize(
    ("status", "allowed"),
    [
        (LicenseStatus.ACTIVE, True),
        (LicenseStatus.TRIALING, True),
        (LicenseStatus.PAST_DUE, True),
        (LicenseStatus.LAPSED, False),
        (LicenseStatus.CANCELED, False),
        (LicenseStatus.REFUNDED, False),
    ],
)
def test_a_license_allows_the_plan_only_in_good_standing(organization, paid_extension, status, allowed):
    LicenseFactory(organization=organization, extension=paid_extension, plan_id="pro", status=status)
    assert _check(organization, paid_extension, "pro").allowed is allowed


def test_another_organizations_license_does_not_count(organization, other_organization, paid_extension):
    LicenseFactory(organization=other_organization, extension=paid_extension, plan_id="pro")
    assert not _check(organization, paid_extension, "pro").allowed


def test_installing_a_paid_plan_without_paying_is_refused(organization, owner, paid_extension):
    with pytest.raises(NotPermitted):
        install_extension(
            organization=organization,
            actor=owner,
            extension=paid_extension,
            accepted_permissions=permissions_of(paid_extension.latest_version),
            config={"region": "eu"},
            plan_id="pro",
        )


def test_without_stripe_keys_a_paid_plan_is_unavailable_with_a_clear_message(organization, paid_extension, settings):
    settings.STRIPE_TEST_SECRET_KEY = ""
    entitlement = _check(organization, paid_extension, "pro")
    assert not entitlement.allowed
    assert "billing is not set up" in entitlement.reason
