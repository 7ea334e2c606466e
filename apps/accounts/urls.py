from django.urls import path

from apps.accounts import security_views, views

app_name = "accounts"
urlpatterns = [
    path("", views.account_home, name="home"),
    path("profile/", views.update_profile, name="update_profile"),
    path("switch-organization/", views.switch_organization, name="switch_organization"),
    path("organizations/new/", views.create_organization, name="create_organization"),
    path("organization/", views.organization_detail, name="organization"),
    path("organization/settings/", views.update_organization, name="update_organization"),
    path("organization/members/<uuid:membership_id>/role/", views.change_member_role, name="change_member_role"),
    path("organization/members/<uuid:membership_id>/remove/", views.remove_member, name="remove_member"),
    path("organization/teams/", views.create_team, name="create_team"),
    path("organization/teams/<uuid:team_id>/delete/", views.delete_team, name="delete_team"),
    path("organization/invitations/", views.create_invitation, name="create_invitation"),
    path(
        "organization/invitations/<uuid:invitation_id>/revoke/",
        views.revoke_invitation,
        name="revoke_invitation",
    ),
    path("invitations/<str:token>/", views.invitation_accept, name="invitation_accept"),
    path("sessions/", security_views.sessions_page, name="sessions"),
    path("sessions/end-others/", security_views.end_other_sessions, name="end_other_sessions"),
    path("sessions/<uuid:session_id>/end/", security_views.end_session, name="end_session"),
    path(
        "organization/members/<uuid:membership_id>/sessions/end/",
        security_views.end_member_sessions,
        name="end_member_sessions",
    ),
    path("organization/security/", security_views.security_page, name="security"),
    path("organization/security/policy/", security_views.update_security_policy, name="update_security_policy"),
    path("organization/security/domains/", security_views.claim_email_domain, name="claim_email_domain"),
    path(
        "organization/security/domains/<uuid:domain_id>/remove/",
        security_views.remove_email_domain,
        name="remove_email_domain",
    ),
    path("organization/security/saml/", security_views.save_saml_idp, name="save_saml_idp"),
    path("organization/security/oidc/", security_views.save_oidc_idp, name="save_oidc_idp"),
    path("organization/security/scim-tokens/", security_views.create_scim_token, name="create_scim_token"),
    path(
        "organization/security/scim-tokens/<uuid:token_id>/revoke/",
        security_views.revoke_scim_token,
        name="revoke_scim_token",
    ),
    path("organization/oauth-apps/", security_views.oauth_apps_page, name="oauth_apps"),
    path("organization/oauth-apps/new/", security_views.register_oauth_app, name="register_oauth_app"),
    path("organization/oauth-apps/<uuid:app_id>/delete/", security_views.delete_oauth_app, name="delete_oauth_app"),
    path(
        "organization/access/<str:object_type>/<str:object_id>/",
        security_views.object_access_page,
        name="object_access",
    ),
]
