"""Publishers and catalog entries reach every region's directory; replaying the outbox changes nothing."""

from __future__ import annotations

import pytest
from django.db import transaction

from apps.marketplace.models import Extension, ExtensionVersion, VerificationState
from apps.marketplace.services import (
    create_publisher,
    refresh_extension_listing,
    set_delisted,
    update_publisher,
    upload_version,
    verify_publisher,
    yank_version,
)
from apps.regions import replication
from apps.regions.models import DirectoryEntry, OutboxMessage
from tests.factories.marketplace import build_package, manifest

pytestmark = pytest.mark.django_db


def _directory() -> dict[tuple[str, str], dict]:
    return {
        (entry.kind, entry.key): {
            "slug": entry.slug,
            "region_code": entry.region_code,
            "data": entry.data,
            "version": entry.version,
            "is_deleted": entry.is_deleted,
        }
        for entry in DirectoryEntry.objects.all()
    }


def _receive(messages: list[OutboxMessage], *, times: int, reverse: bool = False) -> dict[tuple[str, str], dict]:
    """A fresh receiving region's directory after the outbox is delivered `times` times."""
    DirectoryEntry.objects.all().delete()
    ordered = list(reversed(messages)) if reverse else messages
    for _ in range(times):
        origin, parsed = replication.parse_batch(replication.batch_body(ordered))
        replication.apply_batch(origin_region=origin, messages=parsed)
    return _directory()


@pytest.fixture
def catalog_history(organization, owner, run_on_commit):
    """A publisher created, renamed and verified; two versions published, the newer yanked; then delisted."""
    publisher = create_publisher(organization=organization, actor=owner, slug="acme", name="Acme", accept_terms=True)
    update_publisher(publisher=publisher, actor=owner, name="Acme Inc.")
    verify_publisher(publisher=publisher, actor=None, verified=True)
    for number in ("1.0.0", "1.1.0"):
        with run_on_commit():
            upload_version(publisher=publisher, actor=owner, data=build_package(manifest(version=number)))
    yank_version(version=ExtensionVersion.objects.get(version="1.1.0"), actor=None, reason="Broke the mapping")
    extension = Extension.objects.get(slug="acme.tickets")
    # What the operators' "delist" action does.
    set_delisted(extension=extension, actor=None, delisted=True)
    return publisher, Extension.objects.get(pk=extension.pk)


def test_publishers_and_catalog_entries_are_published_with_their_current_state(catalog_history, organization):
    # given
    publisher, extension = catalog_history
    # then
    entries = _directory()
    assert entries[("publisher", str(publisher.pk))]["data"] == {
        "id": str(publisher.pk),
        "slug": "acme",
        "name": "Acme Inc.",
        "website": "",
        "verification": VerificationState.VERIFIED,
    }
    assert entries[("publisher", str(publisher.pk))]["region_code"] == organization.home_region_code
    assert entries[("extension", str(extension.pk))]["data"] == {
        "id": str(extension.pk),
        "slug": "acme.tickets",
        "name": "Acme Tickets",
        "type": "connector",
        "publisher": "acme",
        "publisher_id": str(publisher.pk),
        "latest_version": "1.0.0",
        "status": "delisted",
    }
    kinds = OutboxMessage.objects.values_list("kind", flat=True)
    assert {"publisher", "extension"} <= set(kinds)


def test_replaying_the_outbox_once_or_three_times_or_backwards_gives_the_same_directory(catalog_history):
    # given every change the marketplace published, in the order it made them
    sent = _directory()
    messages = list(OutboxMessage.objects.order_by("id"))
    assert len(messages) >= 5
    # when a receiving region gets them once, three times, or in reverse order
    once = _receive(messages, times=1)
    thrice = _receive(messages, times=3)
    backwards = _receive(messages, times=1, reverse=True)
    # then it holds the same, latest state each time: the state the sending region holds
    assert once == thrice == backwards
    assert {key: value["data"] for key, value in once.items()} == {key: value["data"] for key, value in sent.items()}


def test_an_unchanged_catalog_refresh_publishes_nothing_new(catalog_history):
    _publisher, extension = catalog_history
    before = OutboxMessage.objects.count()

    refresh_extension_listing(extension=extension)

    assert OutboxMessage.objects.count() == before


def test_the_directory_entry_commits_with_the_change_or_not_at_all(organization, owner):
    # given a publisher creation whose surrounding transaction fails after the entry was written
    def create_then_fail() -> None:
        with transaction.atomic():
            create_publisher(organization=organization, actor=owner, slug="acme", name="Acme", accept_terms=True)
            raise RuntimeError("the request failed later")

    # when
    with pytest.raises(RuntimeError):
        create_then_fail()
    # then neither the directory entry nor its outbox message exists
    assert not DirectoryEntry.objects.filter(kind="publisher").exists()
    assert not OutboxMessage.objects.filter(kind="publisher").exists()
