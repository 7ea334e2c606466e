"""Billing rows for the billing tests."""

from __future__ import annotations

import factory

from apps.billing.models import License, LicenseStatus, PublisherAccount
from tests.factories.accounts import OrganizationFactory
from tests.factories.marketplace import PublisherFactory


class PublisherAccountFactory(factory.django.DjangoModelFactory[PublisherAccount]):
    class Meta:
        model = PublisherAccount

    publisher = factory.SubFactory(PublisherFactory)
    stripe_account_id = factory.Sequence(lambda n: f"acct_Factory{n}")
    details_submitted = True
    charges_enabled = True
    payouts_enabled = True


class LicenseFactory(factory.django.DjangoModelFactory[License]):
    class Meta:
        model = License

    organization = factory.SubFactory(OrganizationFactory)
    plan_id = "pro"
    status = LicenseStatus.ACTIVE
