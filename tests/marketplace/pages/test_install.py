from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from apps.accounts.models import Organization
from apps.marketplace.forms import ConfigForm
from apps.marketplace.models import Extension, Installation, InstallationStatus
from tests.factories.marketplace import add_published_version, make_installation, manifest, publish_extension
from tests.marketplace.pages import checkout_stub
from tests.marketplace.pages.conftest import INVALID

PAID_PLANS = {
    "plans": [
        {"id": "free", "name": "Starter", "model": "free"},
        {"id": "pro", "name": "Pro", "model": "subscription", "amount": 1200, "currency": "usd", "interval": "month"},
    ]
}


def _url(extension: Extension) -> str:
    return reverse("marketplace:install", args=[extension.slug])


def _post(extension: Extension, **overrides: str) -> dict[str, str]:
    data = {"version": extension.latest_version.version, "accept": "on", "plan": "free", "config-region": "eu"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_the_consent_screen_lists_permissions_configuration_and_plans(
    extension: Extension, admin_client_of_org: Client
) -> None:
    # when an admin opens the install page
    response = admin_client_of_org.get(_url(extension))

    # then it shows what the extension may do, a field per configuration property and the plans
    body = response.content.decode()
    assert response.status_code == 200
    assert INVALID not in body
    assert "See your connectors and their health." in body
    assert 'name="config-region"' in body
    assert '<option value="eu"' in body
    assert 'type="password" name="config-apiKey"' in body
    assert 'name="plan" value="free"' in body
    assert '<label for="id_accept">' in body


def test_an_admin_installs_a_free_extension_with_its_configuration(
    extension: Extension, organization: Organization, admin_client_of_org: Client
) -> None:
    # when the admin consents, configures and chooses the free plan
    response = admin_client_of_org.post(_url(extension), _post(extension, **{"config-apiKey": "s3cret"}))

    # then the extension is active in their organization, secrets kept apart, and the result page follows
    installation = Installation.objects.get(organization=organization, extension=extension)
    assert response.status_code == 302
    assert response["Location"] == reverse("marketplace:install_result", args=[installation.pk])
    assert installation.status == InstallationStatus.ACTIVE
    assert installation.config == {"region": "eu"}
    assert installation.secret_config == {"apiKey": "s3cret"}
    result = admin_client_of_org.get(response["Location"]).content.decode()
    assert "Acme Tickets is installed" in result


def test_without_consent_nothing_is_installed(extension: Extension, admin_client_of_org: Client) -> None:
    # when the admin leaves the consent box unticked
    response = admin_client_of_org.post(_url(extension), _post(extension, accept=None))

    # then the page says so next to the box, and nothing is installed
    assert response.status_code == 400
    assert "Tick the box to consent" in response.content.decode()
    assert not Installation.objects.exists()


@pytest.mark.parametrize(
    ("region", "message"),
    [("", "This field is required."), ("mars", "Select a valid choice. mars is not one of the available choices.")],
)
def test_invalid_configuration_is_shown_next_to_its_field(
    extension: Extension, admin_client_of_org: Client, region: str, message: str
) -> None:
    # when the configuration is missing or wrong
    response = admin_client_of_org.post(_url(extension), _post(extension, **{"config-region": region}))

    # then the error sits under the field, and nothing is installed
    body = response.content.decode()
    assert response.status_code == 400
    field_html = body.split('id="id_config-region"', 1)[1]
    assert message in field_html.split("</div>", 1)[0]
    assert not Installation.objects.exists()


def test_a_version_published_while_reading_asks_for_consent_again(
    extension: Extension, admin_client_of_org: Client
) -> None:
    # given the admin opened the consent screen for 1.0.0, then 2.0.0 was published
    stale = _post(extension)
    add_published_version(extension=extension, manifest_data=manifest(id=extension.slug, version="2.0.0"))

    # when they submit
    response = admin_client_of_org.post(_url(extension), stale)

    # then they are asked to look again
    assert response.status_code == 400
    assert "A new version (2.0.0) was published" in response.content.decode()
    assert not Installation.objects.exists()


def test_a_paid_plan_without_billing_says_why_next_to_the_plan(admin_client_of_org: Client, db: None) -> None:
    # given an extension with a paid plan and no billing configured
    extension = publish_extension(slug="acme.pro", pricing=PAID_PLANS)

    # when the admin chooses the paid plan
    response = admin_client_of_org.post(_url(extension), _post(extension, plan="pro"))

    # then the reason is shown by the plan choice
    body = response.content.decode()
    assert response.status_code == 400
    assert "Paid plans are unavailable on this deployment" in body.split('id="plan-title"', 1)[1]
    assert "USD 12.00 a month" in body
    assert not Installation.objects.exists()


def test_a_paid_plan_goes_to_checkout_when_billing_offers_one(
    admin_client_of_org: Client, organization: Organization, settings: Any, db: None
) -> None:
    # given billing's checkout is plugged in
    settings.MARKETPLACE_CHECKOUT = "tests.marketplace.pages.checkout_stub.begin_stub_checkout"
    extension = publish_extension(slug="acme.pro", pricing=PAID_PLANS)
    checkout_stub.STARTED.clear()

    # when the admin chooses the paid plan
    response = admin_client_of_org.post(_url(extension), _post(extension, plan="pro"))

    # then they are sent to pay, with the consent and configuration handed over
    assert response.status_code == 302
    assert response["Location"] == "https://checkout.invalid/pay/pro"
    started = checkout_stub.STARTED[0]
    assert started["organization"] == organization
    assert started["config"] == {"region": "eu"}
    assert started["granted_permissions"]["scopes"] == ["connectors.view"]
    assert not Installation.objects.exists()


def test_a_viewer_sees_why_they_cannot_install_and_cannot_post(
    extension: Extension, viewer_client_of_org: Client
) -> None:
    # when a viewer opens the page
    body = viewer_client_of_org.get(_url(extension)).content.decode()

    # then the reasons are shown, and posting anyway is refused
    assert "Your role cannot install extensions." in body
    assert viewer_client_of_org.post(_url(extension), _post(extension)).status_code == 403
    assert not Installation.objects.exists()


def test_an_anonymous_visitor_is_sent_to_sign_in(client: Client, extension: Extension) -> None:
    response = client.get(_url(extension))

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_an_installed_extension_sends_the_admin_to_manage_it(
    extension: Extension, organization: Organization, admin_client_of_org: Client
) -> None:
    # given it is installed already
    installation = make_installation(organization=organization, extension=extension)

    # when the admin opens the install page, then they are sent to the installation
    response = admin_client_of_org.get(_url(extension))
    assert response["Location"] == reverse("marketplace:installation", args=[installation.pk])


def test_the_install_result_of_another_organization_is_not_found(
    extension: Extension, other_organization: Organization, admin_client_of_org: Client
) -> None:
    foreign = make_installation(organization=other_organization, extension=extension)

    response = admin_client_of_org.get(reverse("marketplace:install_result", args=[foreign.pk]))

    assert response.status_code == 404


def test_the_consent_screen_queries_are_bounded(
    extension: Extension, admin_client_of_org: Client, django_assert_max_num_queries: Any
) -> None:
    with django_assert_max_num_queries(10):
        assert admin_client_of_org.get(_url(extension)).status_code == 200


# -- The configuration form built from a JSON Schema -------------------------------------------------------

SCHEMA = {
    "type": "object",
    "required": ["name", "retries"],
    "properties": {
        "name": {"type": "string", "title": "Display name", "maxLength": 10},
        "retries": {"type": "integer", "minimum": 0, "maximum": 5},
        "ratio": {"type": "number", "description": "Share of records to sample."},
        "verbose": {"type": "boolean"},
        "mode": {"type": "string", "enum": ["fast", "safe"]},
        "token": {"type": "string", "secret": True},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
}


def test_the_form_has_a_field_of_the_right_kind_for_each_property() -> None:
    form = ConfigForm(schema=SCHEMA)

    kinds = {name: type(field).__name__ for name, field in form.fields.items()}
    assert kinds == {
        "name": "CharField",
        "retries": "IntegerField",
        "ratio": "FloatField",
        "verbose": "BooleanField",
        "mode": "TypedChoiceField",
        "token": "CharField",
    }
    assert form.fields["name"].label == "Display name"
    assert form.fields["name"].required
    assert not form.fields["ratio"].required
    assert form.fields["ratio"].help_text == "Share of records to sample."
    assert form.fields["token"].widget.input_type == "password"
    assert form.unsupported == ["tags"]


def test_the_form_returns_typed_values_and_leaves_out_empty_optional_ones() -> None:
    form = ConfigForm({"config-name": "Ops", "config-retries": "3", "config-ratio": "0.5"}, schema=SCHEMA)

    assert form.is_valid(), form.errors
    assert form.config == {"name": "Ops", "retries": 3, "ratio": 0.5, "verbose": False}


def test_the_form_refuses_out_of_range_values_next_to_the_field() -> None:
    form = ConfigForm({"config-name": "A name far too long", "config-retries": "9"}, schema=SCHEMA)

    assert not form.is_valid()
    assert "at most 10 characters" in form.errors["name"][0]
    assert "less than or equal to 5" in form.errors["retries"][0]


def test_jsonschema_rules_a_form_field_cannot_express_are_still_enforced() -> None:
    # given a schema with a pattern (no form field knows it)
    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^[A-Z]{3}$"}}}

    form = ConfigForm({"config-code": "abc"}, schema=schema)

    assert not form.is_valid()
    assert "does not match" in form.errors["code"][0]


def test_a_stored_secret_may_be_left_empty_when_reconfiguring() -> None:
    schema = {"type": "object", "required": ["token"], "properties": {"token": {"type": "string", "secret": True}}}

    form = ConfigForm({}, schema=schema, stored_secrets={"token": "kept"})

    assert form.is_valid(), form.errors
    assert form.config == {}


# -- Inline validation through htmx ------------------------------------------------------------------------


def test_a_changed_field_comes_back_with_its_error(extension: Extension, admin_client_of_org: Client) -> None:
    # when htmx posts the form after the region changed to a value the schema refuses
    response = admin_client_of_org.post(
        reverse("marketplace:install_check", args=[extension.slug]),
        {"config-region": "mars"},
        headers={"HX-Request": "true", "HX-Trigger-Name": "config-region"},
    )

    # then only that field comes back, with the error beside it and still wired for the next change
    body = response.content.decode()
    assert response.status_code == 200
    assert INVALID not in body
    assert body.count('class="field') == 1
    assert "Select a valid choice" in body
    assert 'hx-post="/marketplace/extensions/acme.tickets/install/check/"' in body


def test_a_valid_change_comes_back_without_errors(extension: Extension, admin_client_of_org: Client) -> None:
    response = admin_client_of_org.post(
        reverse("marketplace:install_check", args=[extension.slug]),
        {"config-region": "eu"},
        headers={"HX-Request": "true", "HX-Trigger-Name": "config-region"},
    )

    body = response.content.decode()
    assert "errorlist" not in body
    assert '<option value="eu" selected>' in body


def test_secret_fields_are_not_checked_on_change(extension: Extension, admin_client_of_org: Client) -> None:
    # given the consent screen
    body = admin_client_of_org.get(_url(extension)).content.decode()

    # then the secret field is not swapped (that would clear what was typed)
    secret_input = body.split('name="config-apiKey"', 1)[1].split(">", 1)[0]
    assert "hx-post" not in secret_input


def test_checking_an_unknown_field_is_not_found(extension: Extension, admin_client_of_org: Client) -> None:
    response = admin_client_of_org.post(
        reverse("marketplace:install_check", args=[extension.slug]), {}, headers={"HX-Trigger-Name": "config-nope"}
    )

    assert response.status_code == 404


def test_a_viewer_cannot_use_the_check(extension: Extension, viewer_client_of_org: Client) -> None:
    response = viewer_client_of_org.post(
        reverse("marketplace:install_check", args=[extension.slug]), {}, headers={"HX-Trigger-Name": "config-region"}
    )

    assert response.status_code == 403


def test_a_paid_plan_the_organization_already_holds_installs_without_checkout(
    admin_client_of_org: Client, organization: Organization, settings: Any, db: None
) -> None:
    # given billing says the organization is entitled to the paid plan
    settings.MARKETPLACE_ENTITLEMENT_CHECK = "tests.marketplace.entitlement_stub.allow_everything"
    settings.MARKETPLACE_CHECKOUT = "tests.marketplace.pages.checkout_stub.begin_stub_checkout"
    extension = publish_extension(slug="acme.pro", pricing=PAID_PLANS)
    checkout_stub.STARTED.clear()

    # when the admin chooses it
    response = admin_client_of_org.post(_url(extension), _post(extension, plan="pro"))

    # then it is installed at once on that plan, with no checkout
    installation = Installation.objects.get(organization=organization)
    assert response["Location"] == reverse("marketplace:install_result", args=[installation.pk])
    assert installation.plan == "pro"
    assert checkout_stub.STARTED == []


def test_someone_without_an_organization_is_told_so(client: Client, user: Any, extension: Extension) -> None:
    client.force_login(user)

    body = client.get(_url(extension)).content.decode()

    assert "You are not a member of any organization." in body
    assert client.post(_url(extension), _post(extension)).status_code == 403


def test_the_result_page_queries_are_bounded(
    extension: Extension, organization: Organization, admin_client_of_org: Client, django_assert_max_num_queries: Any
) -> None:
    installation = make_installation(organization=organization, extension=extension)

    with django_assert_max_num_queries(6):
        response = admin_client_of_org.get(reverse("marketplace:install_result", args=[installation.pk]))
    assert response.status_code == 200
    assert INVALID not in response.content.decode()
