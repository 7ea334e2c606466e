from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core.crypto import DecryptionError
from apps.core.services import rotate_encrypted_fields


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted field under the first key of FIELD_ENCRYPTION_KEYS. "
        "Run after putting a new key first; then the old key can be removed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            counts = rotate_encrypted_fields(batch_size=options["batch_size"])
        except DecryptionError as exc:
            raise CommandError(f"{exc} Keep the old key in FIELD_ENCRYPTION_KEYS until rotation is done.") from exc
        for label, count in counts.items():
            self.stdout.write(f"{label}: {count} rows re-encrypted")
        self.stdout.write(self.style.SUCCESS(f"Rotation done: {sum(counts.values())} rows."))
