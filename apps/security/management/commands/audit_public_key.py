from typing import Any

from django.core.management.base import BaseCommand

from apps.security.checkpoints import public_key_pem, signing_key


class Command(BaseCommand):
    help = "Print the PEM public key that verifies this deployment's audit checkpoints (hand it to auditors)."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(public_key_pem(signing_key()).decode(), ending="")
