from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.regions.models import Region, RegionStatus
from apps.regions.services import set_region_status


class Command(BaseCommand):
    help = "Mark a region active, degraded, failed or standby (replicated to every region)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("code")
        parser.add_argument("status", choices=RegionStatus.values)
        parser.add_argument("--reason", default="")
        parser.add_argument("--dry-run", action="store_true", help="Say what would change and change nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        region = Region.objects.filter(code=options["code"]).first()
        if region is None:
            raise CommandError(f"No region {options['code']!r} is registered here.")
        if options["dry_run"]:
            self.stdout.write(f"Would mark {region.code} {options['status']} (now {region.status}).")
            return
        set_region_status(region=region, status=options["status"], reason=options["reason"])
        self.stdout.write(f"{region.code} is now {options['status']}.")
