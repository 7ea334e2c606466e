from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.regions import replication
from apps.regions.models import Region
from apps.regions.selectors import local_region_code, pending_deliveries_count


class Command(BaseCommand):
    help = "Deliver pending directory changes to peer regions now (beat does it every 30 s)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--snapshot-to", metavar="REGION", help="First queue the whole directory for this region (a new peer)."
        )
        parser.add_argument("--dry-run", action="store_true", help="Show what each peer is owed; send nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["dry_run"]:
            for peer in Region.objects.exclude(code=local_region_code()).order_by("code"):
                pending = pending_deliveries_count(peer)
                self.stdout.write(f"{peer.code}: {pending} change(s) owed, to {peer.peer_endpoint}")
            if options["snapshot_to"]:
                self.stdout.write(f"Would first queue the whole directory for {options['snapshot_to']}.")
            return
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
