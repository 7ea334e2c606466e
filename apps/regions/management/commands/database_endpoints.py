import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.regions.database_endpoints import Endpoint, EndpointRecordError, read_record
from apps.regions.failover import configure_endpoints
from apps.regions.selectors import local_region_code


class Command(BaseCommand):
    help = "Show or set the region's database endpoint record (primary and standby)."
    # Needed exactly when the database may be unreachable (before the endpoint record exists, or with the
    # primary down); system checks of installed apps (dj-stripe's) query the database, so they are skipped.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--endpoint-file", default=None, help="Default: NOFX_DATABASE_ENDPOINT_FILE.")
        parser.add_argument("--primary", help="host:port/dbname")
        parser.add_argument("--primary-data-dir", default="")
        parser.add_argument("--standby", help="host:port/dbname")
        parser.add_argument("--standby-data-dir", default="")
        parser.add_argument("--synchronous", action="store_true", help="Commits wait for the standby.")
        parser.add_argument(
            "--if-missing", action="store_true", help="Write only when there is no record yet (never after a failover)."
        )
        parser.add_argument("--dry-run", action="store_true", help="Show the current record; write nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["endpoint_file"] or settings.DATABASE_ENDPOINT_FILE
        if not path:
            raise CommandError("Give --endpoint-file or set NOFX_DATABASE_ENDPOINT_FILE.")
        try:
            if options["dry_run"] and options["primary"]:
                self.stdout.write(f"Would write {path}: primary {options['primary']}, standby {options['standby']}.")
            elif options["primary"] and not (options["if_missing"] and Path(path).exists()):
                standby = (
                    Endpoint.parse(options["standby"], data_directory=options["standby_data_dir"])
                    if options["standby"]
                    else None
                )
                configure_endpoints(
                    endpoint_file=path,
                    region_code=local_region_code(),
                    primary=Endpoint.parse(options["primary"], data_directory=options["primary_data_dir"]),
                    standby=standby,
                    synchronous=options["synchronous"],
                )
            record = read_record(path)
        except EndpointRecordError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(json.dumps(record.to_dict(), indent=2, sort_keys=True))
