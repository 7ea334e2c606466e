from django.urls import path

from apps.regions import views

app_name = "regions"
urlpatterns = [
    path("regions/replication/", views.replication_inbox, name="replication_inbox"),
    path("regions/organization-imports/", views.organization_import, name="organization_import"),
    path("orgs/<slug:organization_slug>/", views.organization_entry, name="organization_entry"),
]
