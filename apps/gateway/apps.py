from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "apps.gateway"
    label = "gateway"
    verbose_name = "API gateway"

    def ready(self) -> None:
        # Registers the OpenAPI descriptions of the gateway's credentials (import has the side effect).
        from apps.gateway import schema_extensions  # noqa: F401
