"""Publishing a version mirrors its pricing plans; paid plans become Stripe Products and Prices (recorded
Stripe answers), usage plans get a Billing Meter, and a changed price replaces the old one."""

from __future__ import annotations

import pytest

from apps.billing.models import BillingPlan
from apps.billing.services import sync_billing_plans
from apps.marketplace.models import VersionStatus
from apps.marketplace.services.pipeline import publish_version
from tests.billing.conftest import PAID_PLANS
from tests.factories.marketplace import PublisherFactory, add_published_version, manifest, publish_extension

pytestmark = pytest.mark.django_db


def _extension():
    publisher = PublisherFactory()
    return publish_extension(publisher=publisher, slug=f"{publisher.slug}.sync", pricing={"plans": PAID_PLANS})


def test_paid_plans_become_products_and_prices(stripe_recorder):
    # given a published version with four plans
    extension = _extension()
    # when its plans are synced
    plans = sync_billing_plans(version=extension.latest_version)
    # then every plan is mirrored, and the three paid ones are on sale
    assert {p.plan_id: p.model for p in plans} == {
        "free": "free",
        "pro": "one_time",
        "team": "subscription",
        "metered": "usage",
    }
    assert len(stripe_recorder.made("POST", "/v1/products")) == 3
    prices = {r.params["metadata[plan]"]: r.params for r in stripe_recorder.made("POST", "/v1/prices")}
    assert prices["pro"]["unit_amount"] == "4900"
    assert "recurring[interval]" not in prices["pro"]
    assert prices["team"]["recurring[interval]"] == "month"
    assert prices["team"]["recurring[usage_type]"] == "licensed"
    assert prices["metered"]["recurring[usage_type]"] == "metered"
    assert prices["metered"]["recurring[meter]"] == "mtr_Recorded1"
    assert prices["metered"]["billing_scheme"] == "tiered"
    assert prices["metered"]["tiers[0][up_to]"] == "1000"
    assert prices["metered"]["tiers[1][up_to]"] == "inf"
    (meter,) = stripe_recorder.made("POST", "/v1/billing/meters")
    assert meter.params["event_name"] == f"{extension.slug.replace('.', '_')}__api_calls"
    assert meter.params["default_aggregation[formula]"] == "sum"
    assert BillingPlan.objects.get(extension=extension, plan_id="pro").stripe_price_id == "price_pro"
    assert BillingPlan.objects.get(extension=extension, plan_id="free").stripe_price_id == ""


def test_syncing_unchanged_plans_again_makes_no_new_prices(stripe_recorder):
    # given
    extension = _extension()
    sync_billing_plans(version=extension.latest_version)
    before = len(stripe_recorder.made("POST", "/v1/prices"))
    # when
    sync_billing_plans(version=extension.latest_version)
    # then
    assert len(stripe_recorder.made("POST", "/v1/prices")) == before


def test_a_new_version_with_a_new_price_replaces_the_old_price(stripe_recorder):
    # given a plan on sale at 49.00
    extension = _extension()
    sync_billing_plans(version=extension.latest_version)
    plans = [dict(p, amount=5900) if p["id"] == "pro" else p for p in PAID_PLANS]
    version = add_published_version(
        extension=extension, manifest_data=manifest(id=extension.slug, version="1.1.0", pricing={"plans": plans})
    )
    # when
    sync_billing_plans(version=version)
    # then a new Price sells the plan and the old one is switched off
    new_prices = [r for r in stripe_recorder.made("POST", "/v1/prices") if r.params.get("unit_amount") == "5900"]
    assert len(new_prices) == 1
    assert [r.params for r in stripe_recorder.requests if r.path == "/v1/prices/price_pro"] == [{"active": "false"}]


def test_publishing_a_version_syncs_its_plans_after_commit(stripe_recorder, django_capture_on_commit_callbacks):
    # given a version that passed the pipeline
    extension = _extension()
    version = add_published_version(
        extension=extension,
        manifest_data=manifest(id=extension.slug, version="2.0.0", pricing={"plans": PAID_PLANS}),
        status=VersionStatus.PASSED,
    )
    # when it is published
    with django_capture_on_commit_callbacks(execute=True):
        assert publish_version(version_id=version.pk, explicit=True)
    # then
    assert BillingPlan.objects.filter(extension=extension).count() == 4
    assert stripe_recorder.made("POST", "/v1/prices")


def test_a_stripe_outage_does_not_fail_publishing(stripe_recorder, django_capture_on_commit_callbacks):
    # given Stripe answers nothing we recorded (every request is an error)
    stripe_recorder.routes = []
    extension = _extension()
    version = add_published_version(
        extension=extension,
        manifest_data=manifest(id=extension.slug, version="2.0.0", pricing={"plans": PAID_PLANS}),
        status=VersionStatus.PASSED,
    )
    # when
    with django_capture_on_commit_callbacks(execute=True):
        published = publish_version(version_id=version.pk, explicit=True)
    # then the version is published, its paid plans just not on sale yet
    assert published
    version.refresh_from_db()
    assert version.status == VersionStatus.PUBLISHED
    assert not BillingPlan.objects.exclude(stripe_price_id="").exists()
