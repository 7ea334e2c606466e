from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.security.services import verify_audit_chains


class Command(BaseCommand):
    help = "Verify the audit log's hash chains; exits non-zero naming the first broken seq."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chain", action="append", help="Only this chain (an organization id or 'platform').")

    def handle(self, *args: Any, **options: Any) -> None:
        verification = verify_audit_chains(chains=options["chain"])
        if not verification.ok:
            raise CommandError(verification.reason)
        self.stdout.write(
            self.style.SUCCESS(
                f"Audit log intact: {verification.events_checked} events in {verification.chains_checked} chains."
            )
        )
