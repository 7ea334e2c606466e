from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core.exceptions import BusinessRuleViolation
from apps.regions.models import Region, RegionStatus
from apps.regions.services import register_region


class Command(BaseCommand):
    help = "Register a region (or update its description); peers learn it through directory replication."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("code", help="e.g. eu-west")
        parser.add_argument("--name", required=True)
        parser.add_argument("--public-url", required=True, help="Where customers reach the region.")
        parser.add_argument("--status", choices=RegionStatus.values)
        parser.add_argument("--certification", action="append", dest="certifications", help="Repeat for each.")
        parser.add_argument("--replication-url", help="Where peers deliver directory changes (default: public URL).")
        parser.add_argument("--dry-run", action="store_true", help="Say what would be registered; change nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["dry_run"]:
            known = "update" if Region.objects.filter(code=options["code"]).exists() else "register"
            self.stdout.write(f"Would {known} {options['code']} at {options['public_url']} and replicate it to peers.")
            return
        try:
            region = register_region(
                code=options["code"],
                name=options["name"],
                public_url=options["public_url"],
                status=options["status"],
                certifications=options["certifications"],
                replication_url=options["replication_url"],
            )
        except BusinessRuleViolation as exc:
            raise CommandError(exc.message) from None
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(f"{region.code}: {region.name}, {region.status}, {region.public_url}")
