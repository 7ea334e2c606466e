"""The publisher's payouts pages, mounted at /developers/payouts/ (before the developer portal's own URLs)."""

from django.urls import path

from apps.billing import views

app_name = "billing"
urlpatterns = [
    path("", views.payouts, name="payouts"),
    path("onboarding/", views.start_onboarding, name="onboarding"),
    path("onboarding/return/", views.onboarding_return, name="onboarding-return"),
    path("statements/<uuid:pk>.csv", views.statement_csv, name="statement-csv"),
]
