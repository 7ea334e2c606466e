from django.urls import path

from apps.gateway import views

app_name = "gateway"
urlpatterns = [
    path("", views.api_usage, name="api_usage"),
]
