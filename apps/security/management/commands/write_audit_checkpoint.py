from typing import Any

from django.core.management.base import BaseCommand

from apps.security.checkpoints import write_audit_checkpoint


class Command(BaseCommand):
    help = "Sign the head of every audit chain now and store the checkpoint (beat does this hourly)."

    def handle(self, *args: Any, **options: Any) -> None:
        checkpoint = write_audit_checkpoint()
        self.stdout.write(f"Checkpoint of {checkpoint.chains} chains written to {checkpoint.name}.")
