from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "apps.billing"
    label = "billing"

    def ready(self) -> None:
        from apps.billing.djstripe_events import connect_djstripe_events

        connect_djstripe_events()
