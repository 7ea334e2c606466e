from django.urls import path

from apps.developers import views

app_name = "developers"
urlpatterns = [
    path("", views.home, name="home"),
    path("profile/", views.update_profile, name="profile"),
    path("upload/", views.upload, name="upload"),
    path("extensions/<str:slug>/", views.extension_detail, name="extension"),
    path("versions/<uuid:version_id>/", views.version_detail, name="version"),
    path("versions/<uuid:version_id>/status/", views.version_status, name="version_status"),
    path("versions/<uuid:version_id>/publish/", views.version_publish, name="version_publish"),
    path("versions/<uuid:version_id>/yank/", views.version_yank, name="version_yank"),
    path("versions/<uuid:version_id>/channel/", views.version_channel, name="version_channel"),
    path("versions/<uuid:version_id>/install/", views.version_install, name="version_install"),
    path("analytics/", views.analytics, name="analytics"),
    path("analytics/<slug:series_key>.csv", views.analytics_csv, name="analytics_csv"),
    path("credentials/", views.credentials, name="credentials"),
    path("credentials/keys/", views.create_api_key, name="create_api_key"),
    path("credentials/keys/<uuid:key_id>/revoke/", views.revoke_key, name="revoke_key"),
    path("credentials/oauth-apps/", views.create_oauth_app, name="create_oauth_app"),
    path("support/", views.tickets, name="tickets"),
    path("support/<uuid:ticket_id>/", views.ticket_detail, name="ticket"),
    path("docs/", views.docs_index, name="docs"),
    path("docs/search/", views.docs_search, name="docs_search"),
    path("docs/<slug:slug>/", views.doc_page, name="doc"),
]
