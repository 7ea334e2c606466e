from django.urls import path

from apps.connectors import views

app_name = "connectors"
urlpatterns = [
    path("hooks/<uuid:connector_id>/", views.webhook_receiver, name="webhook"),
    path("schemas/connector-manifest.schema.json", views.connector_manifest_schema, name="manifest-schema"),
]
