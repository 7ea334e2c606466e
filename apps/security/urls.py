from django.urls import path

from apps.security import views

app_name = "security"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("events/<uuid:pk>/", views.event_detail, name="event"),
    path("alerts/read/", views.mark_alerts_read, name="mark_alerts_read"),
]
