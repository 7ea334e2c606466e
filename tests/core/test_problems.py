"""Every API error has one shape: RFC 9457 problem details."""

from apps.core.problems import flatten_validation_errors


def test_nested_validation_errors_become_dotted_field_paths():
    detail = {
        "name": ["This field is required."],
        "config": {"url": ["Enter a valid URL."], "headers": [{"value": ["Too long."]}]},
        "non_field_errors": ["The dates are in the wrong order."],
    }

    flat = flatten_validation_errors(detail)

    assert [(e["field"], e["message"]) for e in flat] == [
        ("name", "This field is required."),
        ("config.url", "Enter a valid URL."),
        ("config.headers[0].value", "Too long."),
        (None, "The dates are in the wrong order."),
    ]


def test_an_unknown_api_path_is_a_problem_document(client):
    response = client.get("/api/v1/no-such-thing/")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["instance"] == "/api/v1/no-such-thing/"


def test_a_malformed_json_body_is_a_400_problem(owner_client):
    response = owner_client.generic("POST", "/api/v1/teams/", "{not json", content_type="application/json")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"].endswith("/parse-error")


def test_a_wrong_media_type_is_a_415_problem(owner_client):
    response = owner_client.generic("POST", "/api/v1/teams/", "name=x", content_type="text/csv")

    assert response.status_code == 415
    assert response.json()["status"] == 415


def test_a_malformed_cursor_is_a_404_problem(owner_client):
    # "o=abc": an offset that is not a number
    response = owner_client.get("/api/v1/teams/?cursor=bz1hYmM=")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


def test_an_empty_or_wordy_offset_on_a_ranked_list_is_a_400_naming_it(client):
    empty = client.get("/api/v1/extensions/?offset=")
    wordy = client.get("/api/v1/extensions/?limit=ten")

    assert (empty.status_code, wordy.status_code) == (400, 400)
    assert empty.json()["errors"][0]["field"] == "offset"
    assert wordy.json()["errors"][0]["field"] == "limit"


def test_an_empty_catalog_facet_is_a_400_naming_it(client):
    response = client.get("/api/v1/extensions/?support_level=")

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "support_level"
