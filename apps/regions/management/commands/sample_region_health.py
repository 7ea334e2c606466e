from typing import Any

from django.core.management.base import BaseCommand

from apps.regions.health import sample_data, sample_health


class Command(BaseCommand):
    help = "Measure this region's health now (beat does it every minute) and print the sample."

    def handle(self, *args: Any, **options: Any) -> None:
        sample = sample_health()
        for name, value in sample_data(sample).items():
            self.stdout.write(f"{name}: {value}")
