from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.regions.health import measure_health, sample_data, sample_health


class Command(BaseCommand):
    help = "Measure this region's health now (beat does it every minute) and print the sample."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Measure and print; store and publish nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        sample = measure_health() if options["dry_run"] else sample_health()
        for name, value in sample_data(sample).items():
            self.stdout.write(f"{name}: {value}")
