from django.apps import AppConfig


class RegionsConfig(AppConfig):
    name = "apps.regions"
    label = "regions"

    def ready(self) -> None:
        # Not a signal: the Prometheus registry needs the region collector once per process.
        from apps.regions.monitoring import register_collector

        register_collector()
