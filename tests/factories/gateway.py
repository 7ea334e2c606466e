import secrets
from datetime import timedelta

import factory
from django.utils import timezone

from apps.gateway.credentials import hash_secret, mint_key
from apps.gateway.models import (
    ApiClient,
    ApiKey,
    CertificateAuthority,
    ClientCertificate,
    CredentialKind,
    Plan,
    UsageDay,
    UsageRecord,
)
from apps.gateway.scopes import SCOPES
from tests.factories.accounts import OrganizationFactory


class PlanFactory(factory.django.DjangoModelFactory[Plan]):
    class Meta:
        model = Plan

    name = factory.Sequence(lambda n: f"Plan {n}")
    slug = factory.Sequence(lambda n: f"plan-{n}")
    rate_per_minute = 6000
    burst = 100
    monthly_quota = None


class ApiClientFactory(factory.django.DjangoModelFactory[ApiClient]):
    class Meta:
        model = ApiClient

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Client {n}")
    plan = factory.SubFactory(PlanFactory)
    allowed_scopes = factory.LazyFunction(lambda: list(SCOPES))


class ApiKeyFactory(factory.django.DjangoModelFactory[ApiKey]):
    """A key whose secret nobody knows; tests that call with a key use `services.issue_api_key`."""

    class Meta:
        model = ApiKey

    client = factory.SubFactory(ApiClientFactory)
    organization = factory.SelfAttribute("client.organization")
    name = factory.Sequence(lambda n: f"Key {n}")
    key_id = factory.LazyFunction(lambda: mint_key("test").key_id)
    environment = "test"
    secret_hash = factory.LazyFunction(lambda: hash_secret(secrets.token_hex(16)))
    scopes = factory.LazyAttribute(lambda o: list(o.client.allowed_scopes))


class ClientCertificateFactory(factory.django.DjangoModelFactory[ClientCertificate]):
    class Meta:
        model = ClientCertificate

    client = factory.SubFactory(ApiClientFactory)
    organization = factory.SelfAttribute("client.organization")
    name = factory.Sequence(lambda n: f"Certificate {n}")
    fingerprint_sha256 = factory.LazyFunction(lambda: secrets.token_hex(32))
    not_after = factory.LazyFunction(lambda: timezone.now() + timedelta(days=90))


class CertificateAuthorityFactory(factory.django.DjangoModelFactory[CertificateAuthority]):
    class Meta:
        model = CertificateAuthority

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"CA {n}")
    certificate_pem = "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"
    fingerprint_sha256 = factory.LazyFunction(lambda: secrets.token_hex(32))
    subject = "CN=Example CA"
    not_after = factory.LazyFunction(lambda: timezone.now() + timedelta(days=365))


class UsageRecordFactory(factory.django.DjangoModelFactory[UsageRecord]):
    class Meta:
        model = UsageRecord

    client = factory.SubFactory(ApiClientFactory)
    organization = factory.SelfAttribute("client.organization")
    occurred_at = factory.LazyFunction(timezone.now)
    credential = CredentialKind.API_KEY
    method = "GET"
    operation = "api:team-list"
    status_code = 200
    latency_us = 1500
    bytes_in = 0
    bytes_out = 512


class UsageDayFactory(factory.django.DjangoModelFactory[UsageDay]):
    class Meta:
        model = UsageDay

    client = factory.SubFactory(ApiClientFactory)
    organization = factory.SelfAttribute("client.organization")
    day = factory.LazyFunction(lambda: timezone.now().date())
    calls = 10
