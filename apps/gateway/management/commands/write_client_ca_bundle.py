"""Write every organization's trusted client CAs into the one PEM bundle nginx verifies certificates against."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from apps.gateway.models import CertificateAuthority


class Command(BaseCommand):
    help = "Write the client CA bundle for nginx's ssl_client_certificate (then reload nginx)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="Where to write the bundle, e.g. /srv/client-ca/bundle.pem")

    def handle(self, *args: Any, **options: Any) -> None:
        target = Path(options["path"])
        authorities = list(
            CertificateAuthority.objects.filter(revoked_at__isnull=True, not_after__gt=timezone.now())
            .select_related("organization")
            .order_by("organization__slug", "name")
        )
        parts = [
            f"# {authority.organization.slug}: {authority.name} ({authority.fingerprint_sha256})\n"
            f"{authority.certificate_pem.strip()}\n"
            for authority in authorities
        ]
        # Written beside the target and renamed over it, so nginx never reads half a file.
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".bundle-")
        with os.fdopen(handle, "w") as stream:
            stream.write("".join(parts))
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
        self.stdout.write(f"Wrote {len(authorities)} CA certificates to {target}.")
