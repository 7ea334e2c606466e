import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.core.serializers.json import DjangoJSONEncoder

from apps.security.audit_chain import HASHED_FIELDS, timestamp
from apps.security.models import AuditEvent


class Command(BaseCommand):
    help = "Write the audit log as JSON Lines (one event per line) for offline verification."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("output", help="File to write.")

    def handle(self, *args: Any, **options: Any) -> None:
        count = 0
        with open(options["output"], "w") as handle:
            for row in AuditEvent.objects.order_by("chain", "seq").values(*HASHED_FIELDS, "hash").iterator(2000):
                row["occurred_at"] = timestamp(row["occurred_at"])
                row["organization_id"] = str(row["organization_id"]) if row["organization_id"] else None
                handle.write(json.dumps(row, cls=DjangoJSONEncoder, sort_keys=True) + "\n")
                count += 1
        self.stdout.write(f"{count} events written to {options['output']}.")
