from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.regions.database_endpoints import EndpointRecordError
from apps.regions.failover import FailoverError, fail_back


class Command(BaseCommand):
    help = "Rebuild the former primary as a standby, switch back to it, and rebuild the standby."
    # Needed exactly when the database may be unreachable (before the endpoint record exists, or with the
    # primary down); system checks of installed apps (dj-stripe's) query the database, so they are skipped.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("region", help="The region this deployment serves.")
        parser.add_argument("--dry-run", action="store_true", help="Print every step and command; change nothing.")
        parser.add_argument(
            "--method",
            choices=["auto", "rewind", "basebackup"],
            default="auto",
            help="How to rebuild a standby: pg_rewind, a fresh base backup, or rewind falling back to a base backup.",
        )
        parser.add_argument("--endpoint-file", default=None, help="Default: NOFX_DATABASE_ENDPOINT_FILE.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            outcome = fail_back(
                region_code=options["region"],
                endpoint_file=options["endpoint_file"] or settings.DATABASE_ENDPOINT_FILE,
                write=self.stdout.write,
                dry_run=options["dry_run"],
                method=options["method"],
            )
        except (FailoverError, EndpointRecordError) as exc:
            raise CommandError(str(exc)) from None
        if outcome.drill is not None:
            self.stdout.write(f"RTO of the switch back: {outcome.rto_seconds:.3f} s   RPO: 0 s")
            self.stdout.write(self.style.SUCCESS(f"Failback recorded as drill {outcome.drill.pk}."))
