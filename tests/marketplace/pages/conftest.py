"""Wiring for the marketplace website's view tests: a small catalog and signed-in members by role."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from apps.accounts.models import Organization, User
from apps.accounts.roles import Role
from apps.marketplace.models import Extension
from tests.factories.marketplace import PublisherFactory, manifest, publish_extension

INVALID = "INVALID_TEMPLATE_VARIABLE"


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin_client_of_org(organization: Organization, make_member: Any) -> Client:
    """An admin of `organization`: may install, configure and review."""
    return signed_in(make_member(organization, Role.ADMIN))


@pytest.fixture
def viewer_client_of_org(organization: Organization, make_member: Any) -> Client:
    """A viewer of `organization`: sees installations, changes nothing."""
    return signed_in(make_member(organization, Role.VIEWER))


@pytest.fixture
def extension(db: None) -> Extension:
    """The Acme Tickets connector: free, certified, with a configSchema (a required enum and a secret)."""
    publisher = PublisherFactory(slug="acme", name="Acme")
    return publish_extension(publisher=publisher, slug="acme.tickets")


def build_catalog(count: int) -> list[Extension]:
    """`count` listed extensions over three publishers and three categories, each with two versions."""
    from tests.factories.marketplace import add_published_version

    publishers = [PublisherFactory() for _ in range(3)]
    extensions = []
    for i in range(count):
        slug = f"{publishers[i % 3].slug}.ext-{i}"
        category = ("ticketing", "crm", "analytics")[i % 3]
        described = {
            "name": f"Extension {i}",
            "category": category,
            "description": f"Keeps records number {i} in sync across teams.",
        }
        extension = publish_extension(publisher=publishers[i % 3], slug=slug, **described)
        add_published_version(
            extension=extension,
            manifest_data=manifest(id=slug, version="1.1.0", changelog=f"Fixes for {i}.", **described),
        )
        extension.refresh_from_db()
        extensions.append(extension)
    return extensions


@pytest.fixture
def catalog(db: None) -> list[Extension]:
    return build_catalog(9)
