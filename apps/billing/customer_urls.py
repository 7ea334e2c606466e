"""The customer's billing pages and Stripe's webhook, mounted at /billing/."""

from django.urls import path

from apps.billing import views

app_name = "billing_customer"
urlpatterns = [
    path("checkout/success/", views.checkout_success, name="checkout-success"),
    path("checkout/cancel/", views.checkout_cancel, name="checkout-cancel"),
    path("usage/", views.usage, name="usage"),
    path("licenses/<uuid:pk>/cancel/", views.cancel_subscription, name="license-cancel"),
    path("licenses/<uuid:pk>/plan/", views.change_plan, name="license-change-plan"),
    path("stripe/webhook/", views.stripe_webhook, name="stripe-webhook"),
]
