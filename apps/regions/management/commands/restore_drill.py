from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.regions.backups import BackupError, newest_backup, run_restore_drill
from apps.regions.models import BackupRecord


class Command(BaseCommand):
    help = (
        "Restore the newest backup into a scratch database, verify row counts and the audit chains, and record "
        "the drill with its measured RPO and RTO."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--backup", help="The id of the backup to restore (default: the newest good one).")
        parser.add_argument("--keep-database", action="store_true", help="Leave the scratch database for a look.")
        parser.add_argument("--dry-run", action="store_true", help="Name the backup it would restore; do nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        backup = BackupRecord.objects.filter(pk=options["backup"]).first() if options["backup"] else None
        if options["backup"] and backup is None:
            raise CommandError(f"No backup {options['backup']}.")
        if options["dry_run"]:
            chosen = backup or newest_backup()
            self.stdout.write(
                f"Would restore backup {chosen.pk} ({chosen.file_name}) into a scratch database and verify it."
                if chosen
                else "Would restore the newest backup, but there is none yet."
            )
            return
        try:
            outcome = run_restore_drill(write=self.stdout.write, backup=backup, keep_database=options["keep_database"])
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        drill = outcome.drill
        self.stdout.write(f"RPO: {drill.rpo_seconds:.3f} s (age of the newest restored data when the drill began)")
        self.stdout.write(f"RTO: {drill.rto_seconds:.3f} s (from the start of the drill to a verified restore)")
        if not drill.ok:
            raise CommandError("Restore drill FAILED: " + "; ".join(outcome.problems))
        self.stdout.write(self.style.SUCCESS(f"Restore drill {drill.pk} passed."))
