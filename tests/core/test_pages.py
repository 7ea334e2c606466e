"""The site's own pages: landing, dashboard, the site frame and the error pages."""

from __future__ import annotations

import re

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory

from apps.accounts.roles import Role
from apps.core.views import server_error
from apps.security.services import record_audit_event
from tests.factories.accounts import InvitationFactory, MembershipFactory, TeamFactory, UserFactory

INVALID = "INVALID_TEMPLATE_VARIABLE"


def _page(response, status=200) -> str:
    """The body of a rendered page (whitespace runs squashed to one space), after checking its status and
    that every template variable resolved."""
    assert response.status_code == status
    body = response.content.decode()
    assert INVALID not in body
    return re.sub(r"\s+", " ", body)


# -- Landing ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_landing_page_explains_the_three_pillars_and_the_connectors(client):
    # when
    body = _page(client.get("/"))
    # then
    for pillar in ("Integration platform", "Marketplace of certified extensions", "Global operations and security"):
        assert pillar in body
    for system in (
        "Salesforce",
        "ServiceNow",
        "Jira",
        "Azure DevOps",
        "Slack",
        "Microsoft Teams",
        "GitHub",
        "GitLab",
    ):
        assert f"<li>{system}</li>" in body
    assert "conflict" in body


@pytest.mark.django_db
def test_the_landing_page_has_a_skip_link_landmarks_and_a_labelled_navigation(client):
    body = _page(client.get("/"))

    assert '<a class="skip-link" href="#main">' in body
    assert '<main id="main"' in body
    assert '<header class="site-header">' in body
    assert '<nav id="site-nav" class="site-nav" aria-label="Main">' in body
    assert '<footer class="site-footer">' in body
    assert 'aria-controls="site-nav"' in body
    assert '<html lang="en"' in body


@pytest.mark.django_db
def test_no_element_id_repeats_on_the_landing_page_or_the_dashboard(client, owner, organization):
    MembershipFactory(user=owner)
    record_audit_event(actor=owner, action="accounts.something_done", target=organization)
    client.force_login(owner)

    for path in ("/", "/dashboard/"):
        ids = re.findall(r'\sid="([^"]+)"', _page(client.get(path)))

        assert len(ids) == len(set(ids)), path


@pytest.mark.django_db
def test_the_landing_page_invites_visitors_to_sign_up(client):
    body = _page(client.get("/"))

    assert 'href="/accounts/signup/"' in body
    assert 'href="/accounts/login/"' in body
    assert "Sign out" not in body


@pytest.mark.django_db
def test_the_landing_page_sends_members_to_their_dashboard(client, owner):
    # given
    client.force_login(owner)
    # when
    body = _page(client.get("/"))
    # then
    assert "Open your dashboard" in body
    assert "Sign out" in body


# -- The site frame --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_navigation_links_the_sections_of_the_site(client, owner):
    client.force_login(owner)

    body = _page(client.get("/dashboard/"))

    for href in ('href="/marketplace/"', 'href="/developers/"', 'href="/account/"', 'href="/dashboard/"'):
        assert href in body
    assert '<a href="/dashboard/" aria-current="page">Dashboard</a>' in body


@pytest.mark.django_db
def test_the_admin_link_is_shown_to_staff_only(client, owner):
    # given
    staff = UserFactory(is_staff=True)
    # when
    client.force_login(owner)
    member_page = _page(client.get("/"))
    client.force_login(staff)
    staff_page = _page(client.get("/"))
    # then
    assert 'href="/admin/"' not in member_page
    assert 'href="/admin/"' in staff_page


@pytest.mark.django_db
def test_the_organization_switcher_appears_only_for_members_of_several_organizations(client, owner, organization):
    # given
    client.force_login(owner)
    alone = _page(client.get("/dashboard/"))
    second = MembershipFactory(user=owner, role=Role.VIEWER).organization
    # when
    body = _page(client.get("/dashboard/"))
    # then
    assert 'id="org-switcher"' not in alone
    assert 'id="org-switcher"' in body
    assert f'<option value="{organization.pk}" selected>' in body
    assert f'<option value="{second.pk}">' in body


@pytest.mark.django_db
def test_messages_are_shown_in_the_page(client, owner, organization):
    # given
    client.force_login(owner)
    # when
    response = client.post("/account/profile/", {"full_name": "Ada Lovelace"}, follow=True)
    # then
    body = _page(response)
    assert '<div class="messages" role="status">' in body
    assert "Your profile is saved." in body


# -- Dashboard -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_dashboard_asks_visitors_to_sign_in(client):
    response = client.get("/dashboard/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/dashboard/"


@pytest.mark.django_db
def test_the_dashboard_shows_the_active_organization_its_counts_and_your_role(client, owner, organization):
    # given
    MembershipFactory.create_batch(2, organization=organization)
    TeamFactory(organization=organization)
    InvitationFactory(organization=organization)
    client.force_login(owner)
    # when
    body = _page(client.get("/dashboard/"))
    # then
    assert f"<h1>{organization.name}</h1>" in body
    assert organization.home_region_code in body
    assert '<dd class="stat__text">Owner</dd>' in body
    assert "<dt>Members</dt> <dd>3</dd>" in body
    assert "<dt>Teams</dt> <dd>1</dd>" in body
    assert "<dt>Pending invitations</dt> <dd>1</dd>" in body


@pytest.mark.django_db
def test_the_dashboard_lists_the_ten_newest_audit_events_of_its_organization_only(
    client, owner, organization, other_organization
):
    # given
    for n in range(12):
        record_audit_event(actor=owner, action=f"accounts.thing_number_{n}", target=organization)
    record_audit_event(actor=None, action="accounts.foreign_thing", target=other_organization)
    client.force_login(owner)
    # when
    body = _page(client.get("/dashboard/"))
    # then
    assert body.count('class="timeline__what">Thing number') == 10
    assert "Thing number 11" in body
    assert "Thing number 1<" not in body
    assert "Foreign thing" not in body
    assert owner.get_full_name() in body


@pytest.mark.django_db
def test_the_dashboard_keeps_the_audit_log_from_viewers(client, viewer, organization):
    # given
    record_audit_event(actor=None, action="accounts.secret_thing", target=organization)
    client.force_login(viewer)
    # when
    body = _page(client.get("/dashboard/"))
    # then
    assert "Secret thing" not in body
    assert "The audit log is not part of your role" in body
    assert "Pending invitations" not in body


@pytest.mark.django_db
def test_the_dashboard_asks_someone_without_an_organization_to_create_one(client, user):
    client.force_login(user)

    body = _page(client.get("/dashboard/"))

    assert "Create your organization" in body
    assert 'href="/account/organizations/new/"' in body


@pytest.mark.django_db
def test_the_dashboard_needs_the_same_queries_however_long_the_audit_log_is(
    client, owner, organization, django_assert_max_num_queries
):
    # given many events by many people
    for _ in range(15):
        actor = MembershipFactory(organization=organization).user
        record_audit_event(actor=actor, action="accounts.something_done", target=organization)
    client.force_login(owner)
    # when / then (one of them reads the team tree for roles inherited down nested teams)
    with django_assert_max_num_queries(11):
        _page(client.get("/dashboard/"))


# -- Error pages ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_missing_page_gets_the_styled_not_found_page(client):
    body = _page(client.get("/no-such-page/"), status=404)

    assert "We could not find that page" in body
    assert '<main id="main"' in body


@pytest.mark.django_db
def test_a_missing_api_resource_still_answers_in_json(client):
    response = client.get("/api/v1/no-such-thing/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/problem+json")


def test_the_server_error_page_renders_without_context_or_database():
    # given a request that has been through no middleware, in a test that may not touch the database
    request = RequestFactory().get("/broken/")
    # when
    response = server_error(request)
    # then
    body = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong on our side" in body
    assert INVALID not in body
    assert "/static/" not in body


def test_the_server_error_template_needs_no_variables():
    body = render_to_string("500.html")

    assert "Something went wrong on our side" in body
    assert INVALID not in body
