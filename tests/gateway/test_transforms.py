"""Declarative transforms: each step, the order of steps, and configurations refused when saved."""

from __future__ import annotations

import pytest

from apps.gateway.transforms import TransformError, apply_transform, validate_transform


def test_rename_moves_values_between_dotted_paths():
    config = {"*": [{"rename": {"ticket.title": "summary", "absent": "ignored"}}]}

    result = apply_transform(config, "any.action", {"ticket": {"title": "Printer on fire", "id": 7}})

    assert result == {"ticket": {"id": 7}, "summary": "Printer on fire"}


def test_select_keeps_only_the_listed_paths():
    config = {"*": [{"select": ["a", "b.c", "missing"]}]}

    result = apply_transform(config, "x", {"a": 1, "b": {"c": 2, "d": 3}, "e": 4})

    assert result == {"a": 1, "b": {"c": 2}}


def test_default_fills_only_what_is_missing():
    config = {"*": [{"default": {"priority": "normal", "meta.source": "gateway", "title": "unused"}}]}

    result = apply_transform(config, "x", {"title": "Given"})

    assert result == {"title": "Given", "priority": "normal", "meta": {"source": "gateway"}}


def test_a_jmespath_expression_reshapes_the_whole_document():
    config = {"*": [{"jmespath": "{ids: items[?open].id}"}]}

    result = apply_transform(config, "x", {"items": [{"id": 1, "open": True}, {"id": 2, "open": False}]})

    assert result == {"ids": [1]}


def test_an_actions_own_steps_win_over_the_wildcard():
    config = {"*": [{"select": ["a"]}], "github.comment": [{"select": ["b"]}]}

    assert apply_transform(config, "github.comment", {"a": 1, "b": 2}) == {"b": 2}
    assert apply_transform(config, "jira.comment", {"a": 1, "b": 2}) == {"a": 1}


def test_steps_apply_in_order_and_leave_the_input_untouched():
    original = {"n": {"v": 1}}
    config = {
        "*": [{"rename": {"n.v": "value"}}, {"default": {"value": 99, "unit": "ms"}}, {"select": ["value", "unit"]}]
    }

    result = apply_transform(config, "x", original)

    assert result == {"value": 1, "unit": "ms"}
    assert original == {"n": {"v": 1}}


def test_no_configuration_is_the_identity():
    assert apply_transform({}, "x", {"a": [1, 2]}) == {"a": [1, 2]}


def test_a_step_on_something_that_is_not_an_object_fails_clearly():
    config = {"*": [{"jmespath": "items"}, {"rename": {"a": "b"}}]}

    with pytest.raises(TransformError, match="needs an object"):
        apply_transform(config, "x", {"items": [1, 2]})


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"*": [{"jmespath": "items[?"}]}, "jmespath"),
        ({"*": [{"rename": {"a": "b"}, "select": ["a"]}]}, "too many properties"),
        ({"*": [{"explode": {}}]}, "explode"),
        ({"*": [{"select": ["not a path"]}]}, "does not match"),
        ({"*": "rename everything"}, "is not of type 'array'"),
        (["not", "an", "object"], "is not of type 'object'"),
        ({"*": [{"rename": {"a": 1}}]}, "is not of type 'string'"),
    ],
)
def test_broken_configurations_are_described(config, fragment):
    problems = validate_transform(config)

    assert problems
    assert any(fragment in problem for problem in problems), problems


def test_a_sound_configuration_has_no_problems():
    config = {"*": [{"rename": {"a": "b"}}, {"select": ["b"]}, {"default": {"c": [1]}}, {"jmespath": "@"}]}

    assert validate_transform(config) == []


def test_a_broken_transform_is_refused_when_the_client_is_saved(owner_client, gateway_client):
    response = owner_client.patch(
        f"/api/v1/api-clients/{gateway_client.pk}/", {"response_transform": {"*": [{"jmespath": "a[?"}]}}
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"].startswith("response_transform")
    gateway_client.refresh_from_db()
    assert gateway_client.response_transform == {}


def test_a_sound_transform_is_saved(owner_client, gateway_client):
    config = {"github.comment_on_issue": [{"rename": {"text": "body"}}]}

    response = owner_client.patch(f"/api/v1/api-clients/{gateway_client.pk}/", {"request_transform": config})

    assert response.status_code == 200
    assert response.json()["request_transform"] == config
