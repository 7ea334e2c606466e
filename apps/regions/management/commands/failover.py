from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from apps.regions.database_endpoints import EndpointRecordError
from apps.regions.failover import FailoverError, fail_over


class Command(BaseCommand):
    help = "Promote the region's standby, point the deployment at it, mark the region and record the timings."
    # Needed exactly when the database may be unreachable (before the endpoint record exists, or with the
    # primary down); system checks of installed apps (dj-stripe's) query the database, so they are skipped.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("region", help="The region this deployment serves.")
        parser.add_argument("--dry-run", action="store_true", help="Print every step and command; change nothing.")
        parser.add_argument("--failed-at", help="When the outage began (ISO 8601), so the RTO counts from then.")
        parser.add_argument("--endpoint-file", default=None, help="Default: NOFX_DATABASE_ENDPOINT_FILE.")

    def handle(self, *args: Any, **options: Any) -> None:
        failed_at = parse_datetime(options["failed_at"]) if options["failed_at"] else None
        if options["failed_at"] and failed_at is None:
            raise CommandError("--failed-at is not an ISO 8601 date and time.")
        try:
            outcome = fail_over(
                region_code=options["region"],
                endpoint_file=options["endpoint_file"] or settings.DATABASE_ENDPOINT_FILE,
                write=self.stdout.write,
                dry_run=options["dry_run"],
                failed_at=failed_at,
            )
        except (FailoverError, EndpointRecordError) as exc:
            raise CommandError(str(exc)) from None
        if outcome.drill is not None:
            rpo = "unknown" if outcome.rpo_seconds is None else f"{outcome.rpo_seconds:.3f} s"
            self.stdout.write(f"RTO: {outcome.rto_seconds:.3f} s   RPO: {rpo}")
            self.stdout.write(self.style.SUCCESS(f"Failover recorded as drill {outcome.drill.pk}."))
