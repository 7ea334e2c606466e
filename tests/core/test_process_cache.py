"""Per-process copies of hot rows: reused while nothing changed, dropped as soon as the rows change."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.db import transaction

from apps.core.process_cache import ProcessCache, rows_changed
from tests.factories.accounts import OrganizationFactory
from tests.testapp.models import SecretHolder

HOLDERS = ProcessCache("test-secret-holders", watch=("testapp.SecretHolder",))


class Loader:
    """Counts how often the cache had to go to the source."""

    def __init__(self, value: Any = None) -> None:
        self.calls = 0
        self.value = value if value is not None else {"names": ["first"]}

    def __call__(self) -> Any:
        self.calls += 1
        return self.value


@pytest.fixture(autouse=True)
def _fresh_copies() -> None:
    HOLDERS.clear_local()


def test_a_copy_is_reused_while_nothing_changed():
    # given
    load = Loader()
    # when
    first = HOLDERS.get("k", load)
    second = HOLDERS.get("k", load)
    # then
    assert load.calls == 1
    assert first == second == {"names": ["first"]}


def test_every_caller_gets_objects_of_its_own_to_change():
    # given
    load = Loader()
    first = HOLDERS.get("k", load)
    # when
    first["names"].append("changed by one caller")
    # then
    assert HOLDERS.get("k", load) == {"names": ["first"]}


def test_a_change_made_by_another_process_is_seen_on_the_next_lookup():
    # given
    load = Loader()
    HOLDERS.get("k", load)
    # when: another worker bumped the shared generation (its local copies are not ours)
    cache.incr(HOLDERS.generation_key)
    HOLDERS.get("k", load)
    # then
    assert load.calls == 2


def test_other_processes_changes_are_looked_for_at_most_every_recheck_interval(settings):
    # given
    settings.PROCESS_CACHE_RECHECK_SECONDS = 3600
    load = Loader()
    HOLDERS.get("k", load)
    # when
    cache.incr(HOLDERS.generation_key)
    HOLDERS.get("k", load)
    # then: still this process's copy, until the interval has passed
    assert load.calls == 1
    settings.PROCESS_CACHE_RECHECK_SECONDS = 0
    HOLDERS.get("k", load)
    assert load.calls == 2


def test_a_lost_generation_never_matches_an_old_copy():
    # given
    load = Loader()
    HOLDERS.get("k", load)
    # when: the shared cache restarted and forgot the number
    cache.delete(HOLDERS.generation_key)
    HOLDERS.get("k", load)
    # then
    assert load.calls == 2


def test_no_copy_outlives_its_maximum_age():
    # given
    short_lived = ProcessCache("test-short-lived", watch=(), max_age=0.0)
    load = Loader()
    # when
    short_lived.get("k", load)
    short_lived.get("k", load)
    # then
    assert load.calls == 2


def test_an_answer_of_none_is_kept_too():
    # given: an unknown API key asked for again and again
    load = Loader()
    load.value = None
    unknown = ProcessCache("test-unknown", watch=())
    # when
    answers = [unknown.get("nope", load), unknown.get("nope", load)]
    # then
    assert answers == [None, None]
    assert load.calls == 1


@pytest.mark.django_db
def test_nothing_loaded_inside_a_transaction_is_kept():
    # given: inside a transaction the rows may be rolled back (the test itself runs in one)
    load = Loader()
    # when
    HOLDERS.get("k", load)
    HOLDERS.get("k", load)
    # then
    assert load.calls == 2


@pytest.mark.django_db(transaction=True)
def test_saving_or_deleting_a_watched_row_drops_the_copies():
    # given
    load = Loader()
    HOLDERS.get("k", load)
    # when
    holder = SecretHolder.objects.create(organization=OrganizationFactory(), name="jira", token="t")
    HOLDERS.get("k", load)
    holder.delete()
    HOLDERS.get("k", load)
    # then
    assert load.calls == 3


@pytest.mark.django_db(transaction=True)
def test_a_process_that_reloaded_before_the_commit_reloads_after_it():
    # given
    load = Loader()
    generations = []
    # when
    with transaction.atomic():
        SecretHolder.objects.create(organization=OrganizationFactory(), name="jira", token="t")
        generations.append(HOLDERS.generation())
    generations.append(HOLDERS.generation())
    # then: bumped again at the commit, so a copy taken from the old rows in between is not trusted
    assert generations[1] > generations[0]
    HOLDERS.get("k", load)
    assert load.calls == 1


@pytest.mark.django_db(transaction=True)
def test_changes_behind_the_signals_back_are_announced_by_name():
    # given
    load = Loader()
    HOLDERS.get("k", load)
    # when
    SecretHolder.objects.filter(name="nothing").update(name="still nothing")
    HOLDERS.get("k", load)
    rows_changed("testapp.SecretHolder")
    HOLDERS.get("k", load)
    # then: the update alone went unseen (the maximum age covers it); the announcement did not
    assert load.calls == 2
