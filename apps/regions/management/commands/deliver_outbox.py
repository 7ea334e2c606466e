from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.regions import replication
from apps.regions.models import Region


class Command(BaseCommand):
    help = "Deliver pending directory changes to peer regions now (beat does it every 30 s)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--snapshot-to", metavar="REGION", help="First queue the whole directory for this region (a new peer)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["snapshot_to"]:
            region = Region.objects.filter(code=options["snapshot_to"]).first()
            if region is None:
                raise CommandError(f"No region {options['snapshot_to']!r} is registered here.")
            queued = replication.enqueue_snapshot(region=region)
            self.stdout.write(f"Queued {queued} directory entries for {region.code}.")
        report = replication.deliver_pending()
        self.stdout.write(f"Delivered {report.delivered}, failed {report.failed}.")
        for code, error in sorted(report.errors.items()):
            self.stderr.write(f"  {code}: {error}")
        if report.failed:
            raise CommandError("Some deliveries failed; they will be retried.")
