"""`read_changes` cursors: opaque, versioned, and never skipping a record that moves during a read."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from apps.connectors.errors import InvalidCursor
from apps.connectors.providers.base import Record
from apps.connectors.providers.cursors import MAX_PAGES_PER_CALL, MAX_SEEN, Cursor, advance, take_new
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


def _github_provider(sandbox, provider_factory):
    return provider_factory(
        "github",
        sandbox.url,
        settings={"owner": github.OWNER, "repo": github.REPO},
        credentials={"token": github.TOKEN},
    )


def _read_to_the_end(provider, cursor, *, page_size, limit=200):
    """Every id returned, call by call, and the cursors handed back; fails rather than loop forever."""
    ids: list[str] = []
    cursors = [cursor]
    for _ in range(limit):
        page = provider.read_changes("issue", cursor, page_size=page_size)
        ids += [r.id for r in page.records]
        cursor = page.next_cursor
        cursors.append(cursor)
        if not page.has_more:
            return ids, cursors
    raise AssertionError(f"the change feed never ended after {limit} calls ({len(ids)} records returned)")


def test_more_records_than_a_cursor_remembers_at_one_timestamp_are_each_read_exactly_once(
    sandbox_for, provider_factory
):
    # given more issues than MAX_SEEN sharing one updated_at (a bulk edit), with one older and one newer
    sandbox = sandbox_for("github")
    moment = datetime.now(tz=UTC).replace(microsecond=0) - timedelta(hours=1)
    sandbox.add_issue("Before the bulk edit", updated=moment - timedelta(minutes=1))
    count = MAX_SEEN + 137
    for n in range(count):
        sandbox.add_issue(f"Bulk edited {n}", updated=moment)
    sandbox.add_issue("After the bulk edit", updated=moment + timedelta(minutes=1))
    provider = _github_provider(sandbox, provider_factory)
    # when the feed is read a page at a time to its end
    ids, cursors = _read_to_the_end(provider, None, page_size=100)
    # then every issue came exactly once, and every call moved the cursor on
    assert len(ids) == count + 2
    assert sorted(ids, key=int) == [str(n) for n in range(1, count + 3)]
    assert all(before != after for before, after in itertools.pairwise(cursors))
    assert len(Cursor.decode(cursors[-1]).seen) <= MAX_SEEN
    # and a later call returns nothing new, until something changes
    assert provider.read_changes("issue", cursors[-1], page_size=100).records == []
    sandbox.touch_issue(5, title="Edited after the bulk edit")
    assert [r.id for r in provider.read_changes("issue", cursors[-1], page_size=100).records] == ["5"]


def test_a_same_timestamp_group_longer_than_a_calls_page_budget_still_advances(sandbox_for, provider_factory):
    # given more pages of one timestamp than a single call follows through records it already returned
    sandbox = sandbox_for("github")
    moment = datetime.now(tz=UTC).replace(microsecond=0) - timedelta(hours=1)
    count = MAX_PAGES_PER_CALL * 2 + 5
    for n in range(count):
        sandbox.add_issue(f"Bulk edited {n}", updated=moment)
    provider = _github_provider(sandbox, provider_factory)
    # when
    ids, cursors = _read_to_the_end(provider, None, page_size=1, limit=count * 2)
    # then
    assert sorted(ids, key=int) == [str(n) for n in range(1, count + 1)]
    assert all(before != after for before, after in itertools.pairwise(cursors))


def test_a_same_timestamp_group_at_the_end_of_the_feed_is_not_read_again_by_later_calls(sandbox_for, provider_factory):
    # given more issues than MAX_SEEN sharing the newest updated_at, read to the end
    sandbox = sandbox_for("github")
    moment = datetime.now(tz=UTC).replace(microsecond=0) - timedelta(hours=1)
    count = MAX_SEEN + 50
    for n in range(count):
        sandbox.add_issue(f"Bulk edited {n}", updated=moment)
    provider = _github_provider(sandbox, provider_factory)
    ids, cursors = _read_to_the_end(provider, None, page_size=100)
    assert len(ids) == count
    # when the feed is polled again, twice, with nothing changed, and then after one change
    quiet = provider.read_changes("issue", cursors[-1], page_size=100)
    again = provider.read_changes("issue", quiet.next_cursor, page_size=100)
    sandbox.touch_issue(3, title="Edited later")
    changed = provider.read_changes("issue", again.next_cursor, page_size=100)
    # then nothing is read twice, and the change is read once
    assert (quiet.records, quiet.has_more, again.records) == ([], False, [])
    assert [r.id for r in changed.records] == ["3"]
    assert provider.read_changes("issue", changed.next_cursor, page_size=100).records == []
