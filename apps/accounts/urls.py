from django.urls import path

from apps.accounts import views

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
]
