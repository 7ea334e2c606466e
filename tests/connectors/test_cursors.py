"""`read_changes` cursors: opaque, versioned, and never skipping a record that moves during a read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.connectors.errors import InvalidCursor
from apps.connectors.providers.base import Record
from apps.connectors.providers.cursors import Cursor, advance, take_new
from apps.connectors.sandboxes import github

MOMENT = datetime(2026, 5, 1, 12, tzinfo=UTC)


def test_a_cursor_survives_encoding():
    cursor = Cursor(watermark=MOMENT, seen=("7:abc",), token="next", extra={"m": "x"})

    assert Cursor.decode(cursor.encode()) == cursor


@pytest.mark.parametrize("value", ["not base64 at all!", "e30", Cursor().encode()[:-4] + "AAAA"])
def test_a_cursor_we_did_not_make_is_refused(value):
    with pytest.raises(InvalidCursor):
        Cursor.decode(value)


def test_records_at_the_watermark_are_new_only_if_unseen_or_changed():
    first = Record("issue", "1", {"title": "a"}, MOMENT)
    cursor = advance(Cursor(), [first])

    same = take_new(cursor, [first])
    edited = take_new(cursor, [Record("issue", "1", {"title": "b"}, MOMENT)])
    older = take_new(cursor, [Record("issue", "2", {}, MOMENT - timedelta(seconds=1))])

    assert (same, [r.data for r in edited], older) == ([], [{"title": "b"}], [])


def test_a_record_that_changes_during_a_paged_read_skips_nothing(sandbox_for, provider_factory):
    # given six issues, read two at a time
    sandbox = sandbox_for("github")
    sandbox.seed_issues(6, start=datetime.now(tz=UTC) - timedelta(days=1), step=timedelta(minutes=1))
    provider = provider_factory(
        "github",
        sandbox.url,
        settings={"owner": github.OWNER, "repo": github.REPO},
        credentials={"token": github.TOKEN},
    )
    first = provider.read_changes("issue", None, page_size=2)
    # when an issue already read changes (it moves to the end of an "updated asc" listing, which would
    # shift the vendor's offset pages by one and make page 2 skip issue 3)
    sandbox.touch_issue(1, title="Edited mid-read")
    seen = [r.id for r in first.records]
    cursor = first.next_cursor
    while True:
        page = provider.read_changes("issue", cursor, page_size=2)
        seen += [r.id for r in page.records]
        cursor = page.next_cursor
        if not page.has_more:
            break
    # then every issue came, and the edited one came again
    assert set(seen) == {"1", "2", "3", "4", "5", "6"}
    assert seen.count("1") == 2
