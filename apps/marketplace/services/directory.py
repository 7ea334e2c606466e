"""Publishers and the extension catalog in the global directory, replicated to every region.

The catalog is global: an organization homed in any region browses every publisher's extensions. The
rows live in the region of the publisher's organization; each change is published as a directory entry
(apps.regions, transactional outbox, signed delivery) inside the transaction that makes it, so peers see
a publisher or catalog entry exactly when it is committed here. Entries carry whole states; receiving
regions keep the highest version, so a message delivered once or many times ends in the same entry.
"""

from __future__ import annotations

from typing import Any

from apps.marketplace.models import Extension, Publisher
from apps.regions.models import DirectoryEntry, DirectoryKind
from apps.regions.services import publish_directory_entry


def publisher_entry_data(publisher: Publisher) -> dict[str, Any]:
    """The facts about a publisher other regions need: who it is and whether the platform verified it."""
    return {
        "id": str(publisher.pk),
        "slug": publisher.slug,
        "name": publisher.name,
        "website": publisher.website,
        "verification": publisher.verification,
    }


def extension_status(extension: Extension) -> str:
    """`listed`, or why the catalog does not offer it: `delisted` by an operator, `unpublished` (no
    installable version, e.g. every version yanked); `deprecated` is listed but ranked lower."""
    if extension.is_delisted:
        return "delisted"
    if extension.latest_version_id is None:
        return "unpublished"
    return "deprecated" if extension.is_deprecated else "listed"


def extension_entry_data(extension: Extension) -> dict[str, Any]:
    latest = extension.latest_version
    return {
        "id": str(extension.pk),
        "slug": extension.slug,
        "name": extension.name,
        "type": extension.type,
        "publisher": extension.publisher.slug,
        "publisher_id": str(extension.publisher_id),
        "latest_version": latest.version if latest is not None else None,
        "status": extension_status(extension),
    }


def _publish_if_changed(*, kind: str, key: str, slug: str, region_code: str, data: dict[str, Any]) -> None:
    # Catalog refreshes run often (rankings, reviews): an unchanged state is not worth a replicated version.
    current = DirectoryEntry.objects.filter(kind=kind, key=key).values("slug", "region_code", "data", "is_deleted")
    state = {"slug": slug, "region_code": region_code, "data": data, "is_deleted": False}
    if current and current[0] == state:
        return
    publish_directory_entry(kind=kind, key=key, slug=slug, region_code=region_code, data=data)


def publish_publisher_entry(*, publisher: Publisher) -> None:
    """Replicate the publisher's current state. Call inside the transaction that changed it."""
    _publish_if_changed(
        kind=DirectoryKind.PUBLISHER,
        key=str(publisher.pk),
        slug=publisher.slug,
        region_code=publisher.organization.home_region_code,
        data=publisher_entry_data(publisher),
    )


def publish_extension_entry(*, extension: Extension) -> None:
    """Replicate the catalog entry's current state. Call inside the transaction that changed it."""
    _publish_if_changed(
        kind=DirectoryKind.EXTENSION,
        key=str(extension.pk),
        slug=extension.slug,
        region_code=extension.publisher.organization.home_region_code,
        data=extension_entry_data(extension),
    )
