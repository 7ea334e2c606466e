import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.security.audit_chain import HASHED_FIELDS
from apps.security.checkpoints import load_public_key, read_checkpoint_documents, verify_checkpoints


def _rows_from_database(chain: str) -> Iterator[dict[str, Any]]:
    from apps.security.models import AuditEvent

    rows = AuditEvent.objects.filter(chain=chain).order_by("seq").values(*HASHED_FIELDS, "hash")
    yield from rows.iterator(chunk_size=2000)


def _rows_from_dump(path: Path) -> Any:
    from django.utils.dateparse import parse_datetime

    by_chain: dict[str, list[dict[str, Any]]] = {}
    with path.open() as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                row["occurred_at"] = parse_datetime(row["occurred_at"])
                by_chain.setdefault(row["chain"], []).append(row)

    def rows(chain: str) -> list[dict[str, Any]]:
        return sorted(by_chain.get(chain, []), key=lambda r: r["seq"])

    return rows


class Command(BaseCommand):
    help = (
        "Verify the signed audit checkpoints with the public key alone, and that every chain still passes "
        "through each signed head. Needs no private key and trusts nothing stored in the database but the events."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--public-key", required=True, help="PEM file of the Ed25519 public key.")
        parser.add_argument("--checkpoints", help="A directory of checkpoint documents (default: the storage).")
        parser.add_argument("--dump", help="A JSON Lines dump from `dump_audit_log` instead of the database.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            public_key = load_public_key(Path(options["public_key"]).read_bytes())
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read the public key: {exc}") from exc
        documents = read_checkpoint_documents(options["checkpoints"])
        if not documents:
            raise CommandError("No checkpoint documents found.")
        rows = _rows_from_dump(Path(options["dump"])) if options["dump"] else _rows_from_database
        report = verify_checkpoints(public_key=public_key, documents=documents, rows_of_chain=rows)
        if not report.ok:
            raise CommandError("\n".join(report.problems))
        self.stdout.write(
            self.style.SUCCESS(
                f"{report.documents} checkpoints verified; {report.checked_heads} signed heads found intact "
                f"in {report.chains} chains."
            )
        )
