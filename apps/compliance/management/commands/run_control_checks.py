from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.accounts.models import Organization
from apps.compliance.services import run_all_control_checks, run_control_checks


class Command(BaseCommand):
    help = "Run the continuous control checks now (beat runs them hourly)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--organization", help="Only this organization (slug).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["organization"]:
            organization = Organization.objects.get(slug=options["organization"])
            for code, status in run_control_checks(organization=organization).items():
                self.stdout.write(f"{code}: {status}")
        else:
            self.stdout.write(f"{run_all_control_checks()} organizations checked.")
