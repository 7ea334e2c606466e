"""Installing: consent, entitlement, configuration, activation with the hosted app, updates that need consent
when they ask for more permissions, and the state machine."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from django.urls import reverse

from apps.core.exceptions import BusinessRuleViolation, Conflict, NotPermitted
from apps.marketplace import services
from apps.marketplace.models import (
    AnalyticsEvent,
    Extension,
    Installation,
    InstallationStatus,
    VersionStatus,
)
from apps.marketplace.services.installations import hash_install_token, permissions_of
from apps.security.models import AuditEvent
from nofx_sdk.webhooks import verify_signature
from tests.factories.marketplace import (
    add_published_version,
    app_manifest,
    make_installation,
    manifest,
    publish_extension,
)

pytestmark = pytest.mark.django_db

CONSENT = {"scopes": ["connectors.view"], "egress": ["api.acme.io"], "dataClasses": ["internal"]}


@pytest.fixture
def extension() -> Extension:
    return publish_extension(slug="pub.tickets", id="pub.tickets")


def install(client, run_on_commit, extension: Extension, **body):
    payload = {"extension": extension.slug, "accepted_permissions": CONSENT, "config": {"region": "eu"}, **body}
    with run_on_commit():
        return client.post(reverse("api:installation-list"), payload, format="json")


def release(extension: Extension, version: str, **overrides) -> None:
    """Publish a new version through the service, as the pipeline's last step does."""
    data = manifest(id=extension.slug, version=version, **overrides)
    passed = add_published_version(extension=extension, manifest_data=data, status=VersionStatus.PASSED)
    assert services.publish_version(version_id=passed.pk, explicit=True)


def test_the_consent_screen_lists_what_the_extension_may_do_and_what_you_may_grant(owner_client, extension):
    response = owner_client.get(reverse("api:extension-consent", kwargs={"slug": extension.slug}))

    assert response.status_code == 200
    body = response.json()
    assert body["permissions"] == CONSENT
    assert body["scopes"] == [
        {"scope": "connectors.view", "description": "See connectors and their health", "grantable": True}
    ]
    assert body["secret_fields"] == ["apiKey"]
    assert body["can_install"] is True


def test_the_consent_screen_tells_a_viewer_what_they_cannot_grant(api_client, viewer):
    extension = publish_extension(
        slug="pub.ops", id="pub.ops", permissions={"scopes": ["connectors.operate"], "egress": ["api.acme.io"]}
    )
    api_client.force_authenticate(viewer)

    body = api_client.get(reverse("api:extension-consent", kwargs={"slug": extension.slug})).json()

    assert body["scopes"][0]["grantable"] is False
    assert body["can_install"] is False
    assert "You cannot grant permissions you do not hold yourself: connectors.operate." in body["reasons"]


def test_a_person_cannot_grant_a_scope_they_do_not_hold(viewer, organization):
    extension = publish_extension(
        slug="pub.ops", id="pub.ops", permissions={"scopes": ["connectors.operate"], "egress": ["api.acme.io"]}
    )

    with pytest.raises(NotPermitted) as refused:
        services.install_extension(
            organization=organization,
            actor=viewer,
            extension=extension,
            accepted_permissions={"scopes": ["connectors.operate"], "egress": ["api.acme.io"]},
        )

    assert refused.value.code == "cannot_grant"


def test_installing_a_connector_activates_it_for_the_organization(owner_client, run_on_commit, extension, organization):
    # when
    response = install(owner_client, run_on_commit, extension)

    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "active"
    assert body["config"] == {"region": "eu"}
    installation = Installation.objects.get(pk=body["id"])
    assert installation.granted_permissions == CONSENT
    extension.refresh_from_db()
    assert (extension.active_installs, extension.total_installs) == (1, 1)
    assert AnalyticsEvent.objects.filter(kind="install", extension=extension, region_code="us-east").count() == 1
    from apps.marketplace.selectors import active_payloads

    assert [i.pk for i, _ in active_payloads(organization=organization, types=("connector",))] == [installation.pk]


def test_consent_must_match_the_requested_permissions(owner_client, run_on_commit, extension):
    response = install(owner_client, run_on_commit, extension, accepted_permissions={"scopes": []})

    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "consent_mismatch"
    assert not Installation.objects.exists()


def test_configuration_is_validated_against_the_config_schema_field_by_field(owner_client, run_on_commit, extension):
    response = install(owner_client, run_on_commit, extension, config={"region": "mars", "apiKey": 7})

    assert response.status_code == 422
    errors = {(e["field"], e["code"]) for e in response.json()["errors"]}
    assert errors == {("config.region", "config_enum"), ("config.apiKey", "config_type")}


def test_secret_configuration_is_encrypted_and_never_shown_back(owner_client, run_on_commit, extension):
    response = install(owner_client, run_on_commit, extension, config={"region": "eu", "apiKey": "s3cr3t-value"})

    body = response.json()
    assert body["config"] == {"region": "eu"}
    assert body["secret_fields"] == ["apiKey"]
    assert "s3cr3t-value" not in response.content.decode()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT secret_config FROM user_extension_installations")
        (stored,) = cursor.fetchone()
    assert "s3cr3t-value" not in stored
    assert Installation.objects.get().secret_config == {"apiKey": "s3cr3t-value"}


def test_a_paid_plan_is_refused_until_billing_exists(owner_client, run_on_commit):
    plans = {
        "plans": [
            {"id": "pro", "name": "Pro", "model": "subscription", "amount": 900, "currency": "usd", "interval": "month"}
        ]
    }
    extension = publish_extension(slug="pub.paid", id="pub.paid", pricing=plans)

    response = install(owner_client, run_on_commit, extension, plan="pro")

    assert response.status_code == 403
    problem = response.json()
    assert problem["errors"][0]["code"] == "entitlement_required"
    assert problem["detail"] == "Paid plans are not available yet on this deployment: billing is not set up."


def test_the_entitlement_check_is_pluggable(settings, owner, organization):
    settings.MARKETPLACE_ENTITLEMENT_CHECK = "tests.marketplace.entitlement_stub.allow_everything"
    plans = {"plans": [{"id": "pro", "name": "Pro", "model": "one_time", "amount": 900, "currency": "usd"}]}
    extension = publish_extension(slug="pub.paid", id="pub.paid", pricing=plans)

    installation = services.install_extension(
        organization=organization,
        actor=owner,
        extension=extension,
        accepted_permissions=CONSENT,
        config={"region": "us"},
        plan_id="pro",
    )

    assert installation.plan == "pro"


def test_installing_twice_conflicts_but_reinstalling_after_uninstall_works(owner_client, run_on_commit, extension):
    first = install(owner_client, run_on_commit, extension).json()
    assert install(owner_client, run_on_commit, extension).status_code == 409

    uninstalled = owner_client.post(reverse("api:installation-uninstall", kwargs={"pk": first["id"]}))

    assert uninstalled.json()["status"] == "uninstalled"
    assert install(owner_client, run_on_commit, extension).status_code == 201


def test_disable_and_enable_move_the_active_count(owner_client, run_on_commit, extension):
    installed = install(owner_client, run_on_commit, extension).json()
    url = lambda name: reverse(f"api:installation-{name}", kwargs={"pk": installed["id"]})  # noqa: E731

    assert owner_client.post(url("disable"), {"reason": "holiday"}, format="json").json()["status"] == "disabled"
    extension.refresh_from_db()
    assert extension.active_installs == 0
    assert owner_client.post(url("disable")).status_code == 409
    assert owner_client.post(url("enable")).json()["status"] == "active"
    extension.refresh_from_db()
    assert extension.active_installs == 1


def test_a_viewer_may_list_installations_but_not_install(api_client, viewer, run_on_commit, extension):
    api_client.force_authenticate(viewer)

    assert api_client.get(reverse("api:installation-list")).status_code == 200
    assert install(api_client, run_on_commit, extension).status_code == 403


def test_the_installation_list_runs_a_constant_number_of_queries(
    owner_client, organization, django_assert_max_num_queries
):
    from tests.factories.marketplace import make_installation

    for n in range(5):
        make_installation(organization=organization, extension=publish_extension(slug=f"pub.e{n}", id=f"pub.e{n}"))

    with django_assert_max_num_queries(6):
        response = owner_client.get(reverse("api:installation-list"))

    assert len(response.json()["results"]) == 5


# -- Updates -------------------------------------------------------------------------------------------


def test_an_update_with_no_new_permissions_is_applied_automatically(owner, organization, run_on_commit, extension):
    installation = services.install_extension(
        organization=organization,
        actor=owner,
        extension=extension,
        accepted_permissions=CONSENT,
        config={"region": "eu"},
    )
    services.activate_installation(installation_id=installation.pk)

    release(extension, "1.1.0")

    installation.refresh_from_db()
    assert installation.version.version == "1.1.0"
    assert installation.pending_version is None
    assert AuditEvent.objects.filter(action="marketplace.installation_updated").count() == 1


def test_an_update_that_adds_permissions_waits_for_consent_while_the_old_version_runs(
    owner_client, run_on_commit, extension
):
    # given the extension installed at 1.0.0
    installed = install(owner_client, run_on_commit, extension).json()
    more = {
        "scopes": ["connectors.view", "workflows.view"],
        "egress": ["api.acme.io"],
        "dataClasses": ["internal", "personal"],
    }

    # when 2.0.0 asks for more
    release(extension, "2.0.0", permissions=more)

    # then it waits, and 1.0.0 keeps running
    body = owner_client.get(reverse("api:installation-detail", kwargs={"pk": installed["id"]})).json()
    assert (body["status"], body["version"], body["pending_version"]) == ("active", "1.0.0", "2.0.0")
    assert body["granted_permissions"] == CONSENT
    pending = owner_client.get(reverse("api:installation-list"), {"pending_update": "true"}).json()["results"]
    assert [i["id"] for i in pending] == [installed["id"]]

    # and consent naming the old permissions is refused
    url = reverse("api:installation-approve-update", kwargs={"pk": installed["id"]})
    stale = owner_client.post(url, {"accepted_permissions": CONSENT}, format="json")
    assert stale.status_code == 422

    # when an admin consents to the new permissions
    approved = owner_client.post(url, {"accepted_permissions": more}, format="json")

    # then the installation moves to 2.0.0 with the new grants
    assert approved.status_code == 200, approved.content
    body = approved.json()
    assert (body["version"], body["pending_version"]) == ("2.0.0", None)
    assert body["granted_permissions"] == {
        "scopes": ["connectors.view", "workflows.view"],
        "egress": ["api.acme.io"],
        "dataClasses": ["internal", "personal"],
    }
    assert AuditEvent.objects.filter(action="marketplace.update_consented").count() == 1


def test_approving_without_a_pending_update_conflicts(owner_client, run_on_commit, extension):
    installed = install(owner_client, run_on_commit, extension).json()

    response = owner_client.post(
        reverse("api:installation-approve-update", kwargs={"pk": installed["id"]}),
        {"accepted_permissions": CONSENT},
        format="json",
    )

    assert response.status_code == 409


# -- Hosted apps ---------------------------------------------------------------------------------------


def test_an_app_receives_its_token_once_at_registration_and_only_its_hash_is_kept(
    owner_client, run_on_commit, app_server, organization
):
    # given an agent extension hosted on the loopback app server
    data = app_manifest(base_url=app_server.base_url, id="pub.agent")
    extension = publish_extension(slug="pub.agent", manifest_data=data)
    consent = permissions_of(extension.latest_version)

    # when
    response = install(owner_client, run_on_commit, extension, accepted_permissions=consent, config={"region": "us"})

    # then the app got the registration with a token, and the installation.created webhook, signed
    assert response.json()["status"] == "installing"
    detail = owner_client.get(reverse("api:installation-detail", kwargs={"pk": response.json()["id"]})).json()
    assert detail["status"] == "active", detail
    assert app_server.paths() == ["/register", "/webhooks"]
    registration = json.loads(app_server.requests[0]["body"])
    headers = app_server.requests[0]["headers"]
    signed = f"{headers['Nofx-Timestamp']}.".encode() + app_server.requests[0]["body"]
    key = owner_client.get(reverse("api:extension-signing-key")).json()
    public = serialization.load_pem_public_key(key["public_key_pem"].encode())
    public.verify(base64.b64decode(headers["Nofx-Platform-Signature"]), signed)  # raises if forged
    token = registration["token"]
    assert token.startswith("nxi_")
    installation = Installation.objects.get()
    assert installation.token_hash == hash_install_token(token)
    assert token not in json.dumps(response.json())
    webhook = app_server.requests[1]
    assert verify_signature(registration["webhook_secret"], webhook["body"], webhook["headers"]["Nofx-Signature"])
    assert json.loads(webhook["body"])["event"] == "installation.created"

    # and the token lets the app report usage, once per report id
    for _ in range(2):
        reported = owner_client.post(
            reverse("api:extension-usage"),
            {"id": "run-1", "quantity": 3},
            format="json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
        assert reported.status_code == 202
    assert AnalyticsEvent.objects.filter(kind="usage").count() == 1


def test_a_failed_registration_leaves_the_installation_failed_with_the_reason(owner_client, run_on_commit, app_server):
    app_server.status = 500
    data = app_manifest(base_url=app_server.base_url, id="pub.agent")
    extension = publish_extension(slug="pub.agent", manifest_data=data)
    consent = {"scopes": ["workflows.view"], "egress": [data["permissions"]["egress"][0]], "dataClasses": ["internal"]}

    created = install(owner_client, run_on_commit, extension, accepted_permissions=consent, config={"region": "us"})
    body = owner_client.get(reverse("api:installation-detail", kwargs={"pk": created.json()["id"]})).json()

    assert body["status"] == "failed"
    assert body["status_reason"] == "Registration with the extension failed: the app answered HTTP 500"
    assert Installation.objects.get().token_hash == ""


def test_a_bad_install_token_is_refused(api_client, db):
    response = api_client.post(
        reverse("api:extension-usage"), {"id": "x", "quantity": 1}, format="json", HTTP_AUTHORIZATION="Bearer nxi_wrong"
    )

    assert response.status_code == 401


def test_uninstalling_revokes_the_token(owner, organization, app_server):
    data = app_manifest(base_url=app_server.base_url, id="pub.agent")
    extension = publish_extension(slug="pub.agent", manifest_data=data)
    consent = permissions_of(extension.latest_version)
    installation = services.install_extension(
        organization=organization,
        actor=owner,
        extension=extension,
        accepted_permissions=consent,
        config={"region": "us"},
    )
    services.activate_installation(installation_id=installation.pk)
    installation.refresh_from_db()
    assert installation.status == InstallationStatus.ACTIVE

    services.uninstall_installation(installation=installation, actor=owner)

    installation.refresh_from_db()
    assert installation.token_hash == ""


def test_it_cannot_uninstall_twice(owner, organization, extension):
    installation = services.install_extension(
        organization=organization,
        actor=owner,
        extension=extension,
        accepted_permissions=CONSENT,
        config={"region": "eu"},
    )
    services.uninstall_installation(installation=installation, actor=owner)

    with pytest.raises(Conflict):
        services.uninstall_installation(installation=installation, actor=owner)


def test_an_extension_without_a_published_version_cannot_be_installed(owner, organization, extension):
    extension.latest_version = None
    extension.save()

    with pytest.raises(BusinessRuleViolation, match="no installable version"):
        services.install_extension(
            organization=organization, actor=owner, extension=extension, accepted_permissions=CONSENT
        )


@pytest.mark.parametrize("value", ["maybe", "", "2"])
def test_the_installation_list_refuses_a_pending_update_filter_that_is_not_a_boolean(owner_client, value):
    # when
    response = owner_client.get("/api/v1/installations/", {"pending_update": value})
    # then
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "pending_update"


def test_the_installation_list_filters_on_a_pending_update(owner_client, organization):
    # given two installations, one with an update waiting for consent
    waiting = make_installation(organization=organization, extension=publish_extension(slug="acme.waiting"))
    current = make_installation(organization=organization, extension=publish_extension(slug="acme.current"))
    waiting.pending_version = add_published_version(
        extension=waiting.extension, manifest_data=manifest(id="acme.waiting", version="1.1.0")
    )
    waiting.save(update_fields=["pending_version"])
    # when
    pending = owner_client.get("/api/v1/installations/", {"pending_update": "true"})
    settled = owner_client.get("/api/v1/installations/", {"pending_update": "false"})
    # then
    assert [row["id"] for row in pending.json()["results"]] == [str(waiting.pk)]
    assert [row["id"] for row in settled.json()["results"]] == [str(current.pk)]
