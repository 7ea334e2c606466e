from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        # Registers the OpenAPI descriptions of our authentication classes (import has the side effect).
        from apps.core import schema_extensions  # noqa: F401
