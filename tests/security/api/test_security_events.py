from apps.security.models import EventStatus, ResponseKind, ResponseStatus
from tests.factories.security import ResponseActionFactory, SecurityEventFactory


def test_members_with_security_view_list_their_organizations_events_with_responses(
    owner_client, organization, other_organization
):
    # given
    mine = SecurityEventFactory(organization=organization)
    ResponseActionFactory(event=mine, kind=ResponseKind.LOCK_ACCOUNT)
    SecurityEventFactory(organization=other_organization)
    # when
    response = owner_client.get("/api/v1/security-events/")
    # then
    assert response.status_code == 200
    [event] = response.json()["results"]
    assert event["id"] == str(mine.pk)
    assert event["responses"][0]["kind"] == ResponseKind.LOCK_ACCOUNT


def test_events_are_filtered_by_status_and_severity(owner_client, organization):
    SecurityEventFactory(organization=organization, severity="low")
    SecurityEventFactory(organization=organization, severity="critical", status=EventStatus.RESOLVED)

    critical = owner_client.get("/api/v1/security-events/?severity=critical").json()["results"]
    open_ones = owner_client.get("/api/v1/security-events/?status=open").json()["results"]
    bad = owner_client.get("/api/v1/security-events/?severity=apocalyptic")

    assert [e["severity"] for e in critical] == ["critical"]
    assert [e["severity"] for e in open_ones] == ["low"]
    assert bad.status_code == 400


def test_a_viewer_cannot_see_security_events(api_client, viewer):
    api_client.force_authenticate(viewer)

    assert api_client.get("/api/v1/security-events/").status_code == 403


def test_an_admin_resolves_an_event_once(owner_client, organization):
    event = SecurityEventFactory(organization=organization)

    first = owner_client.post(f"/api/v1/security-events/{event.pk}/resolve/", {"resolution": "Our pen test."})
    again = owner_client.post(f"/api/v1/security-events/{event.pk}/resolve/", {"resolution": "again"})
    empty = owner_client.post(
        f"/api/v1/security-events/{SecurityEventFactory(organization=organization).pk}/resolve/", {}
    )

    assert first.status_code == 200
    assert (first.json()["status"], first.json()["resolution"]) == ("resolved", "Our pen test.")
    assert again.status_code == 409
    assert empty.status_code == 400


def test_an_operator_reverses_a_response_through_the_api(owner_client, organization):
    action = ResponseActionFactory(event__organization=organization, kind=ResponseKind.NOTIFY)

    response = owner_client.post(f"/api/v1/security-responses/{action.pk}/reverse/")

    assert response.status_code == 200
    assert response.json()["status"] == ResponseStatus.REVERSED


def test_a_not_available_response_cannot_be_reversed(owner_client, organization):
    action = ResponseActionFactory(event__organization=organization, status=ResponseStatus.NOT_AVAILABLE)

    assert owner_client.post(f"/api/v1/security-responses/{action.pk}/reverse/").status_code == 409


def test_listing_security_events_takes_a_constant_number_of_queries(
    owner_client, organization, django_assert_max_num_queries
):
    for _ in range(15):
        ResponseActionFactory(event__organization=organization)

    with django_assert_max_num_queries(6):
        response = owner_client.get("/api/v1/security-events/?page_size=50")

    assert len(response.json()["results"]) == 15
