from apps.security.services import record_audit_event


def test_the_audit_log_lists_my_organizations_events_newest_first(owner_client, organization, other_organization):
    # given
    for action in ("test.first", "test.second"):
        record_audit_event(actor=None, action=action, organization=organization)
    record_audit_event(actor=None, action="test.foreign", organization=other_organization)
    # when
    response = owner_client.get("/api/v1/audit-events/")
    # then
    assert response.status_code == 200
    assert [e["action"] for e in response.json()["results"]] == ["test.second", "test.first"]


def test_the_audit_log_is_filtered_by_action_and_target(owner_client, organization):
    record_audit_event(actor=None, action="test.kept", organization=organization, target=("thing", "42"))
    record_audit_event(actor=None, action="test.dropped", organization=organization, target=("thing", "7"))

    by_action = owner_client.get("/api/v1/audit-events/?action=test.kept").json()["results"]
    by_target = owner_client.get("/api/v1/audit-events/?target_type=thing&target_id=7").json()["results"]

    assert [e["action"] for e in by_action] == ["test.kept"]
    assert [e["action"] for e in by_target] == ["test.dropped"]


def test_an_invalid_date_filter_is_a_400(owner_client):
    response = owner_client.get("/api/v1/audit-events/?occurred_after=yesterday")

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "occurred_after"


def test_the_audit_log_cannot_be_written_through_the_api(owner_client, organization):
    event = record_audit_event(actor=None, action="test.fixed", organization=organization)

    created = owner_client.post("/api/v1/audit-events/", {"action": "forged"})
    changed = owner_client.patch(f"/api/v1/audit-events/{event.pk}/", {"action": "forged"})
    deleted = owner_client.delete(f"/api/v1/audit-events/{event.pk}/")

    assert (created.status_code, changed.status_code, deleted.status_code) == (405, 405, 405)


def test_a_viewer_cannot_read_the_audit_log(api_client, viewer):
    api_client.force_authenticate(viewer)

    assert api_client.get("/api/v1/audit-events/").status_code == 403


def test_listing_audit_events_takes_a_constant_number_of_queries(
    owner_client, organization, django_assert_max_num_queries
):
    for i in range(20):
        record_audit_event(actor=None, action=f"test.n{i}", organization=organization)

    # 4, and the savepoint around the export observation (the test runs inside a transaction).
    with django_assert_max_num_queries(6):
        response = owner_client.get("/api/v1/audit-events/?page_size=50")

    assert len(response.json()["results"]) == 20


def test_reading_the_audit_log_page_by_page_counts_as_an_export(owner_client, owner, organization, settings):
    from apps.security.models import SecurityEvent

    # given a low mass-export threshold and a log of five events
    settings.SECURITY_DETECTOR_THRESHOLDS = {"mass_export_records": 5}
    for n in range(5):
        record_audit_event(actor=None, action=f"test.event{n}", organization=organization)
    # when a person reads it all
    response = owner_client.get("/api/v1/audit-events/?page_size=10")
    # then
    assert response.status_code == 200
    event = SecurityEvent.objects.get(event_type="mass_export")
    assert (event.user, event.data["resource_type"]) == (owner, "security.auditevent")


def test_an_empty_audit_log_page_is_no_export(owner_client, settings):
    from apps.security.models import SecurityEvent

    settings.SECURITY_DETECTOR_THRESHOLDS = {"mass_export_records": 1}

    owner_client.get("/api/v1/audit-events/?action=nothing.matches")

    assert not SecurityEvent.objects.exists()
