from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core.exceptions import BusinessRuleViolation
from apps.regions.backups import backup_root, create_backup, prune_backups
from apps.regions.models import BackupStatus


class Command(BaseCommand):
    help = "Back up this region's database (pg_dump, or a file copy on SQLite), then apply retention."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--keep", type=int, help="Keep this many good backups (default NOFX_BACKUP_KEEP).")
        parser.add_argument("--dry-run", action="store_true", help="Say where the backup would go; do nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["dry_run"]:
            self.stdout.write(f"Would back up the database into {backup_root()} and keep the newest backups.")
            return
        try:
            backup = create_backup()
        except BusinessRuleViolation as exc:
            raise CommandError(exc.message) from None
        if backup.status != BackupStatus.SUCCEEDED:
            raise CommandError(f"Backup failed: {backup.error}")
        expired = prune_backups(keep=options["keep"])
        rows = sum(backup.row_counts.values())
        self.stdout.write(
            f"Backup {backup.pk}: {backup.file_name}, {backup.size_bytes} bytes, sha256 {backup.sha256}, "
            f"{rows} rows in {len(backup.row_counts)} tables; {expired} old backup(s) expired."
        )
