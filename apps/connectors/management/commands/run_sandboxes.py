"""`manage.py run_sandboxes`: the eight vendor sandboxes on 127.0.0.1 for the `make run` demo.

With `--connect <organization-slug>` it also gives that organization one connector per sandbox (created
once, through the connectors services), and with `--webhooks-to <site-url>` it then plays the vendors:
every `--webhook-interval` seconds each sandbox changes a record and sends the signed webhook about it to
the connector's `/hooks/<id>/` endpoint, so the deliveries and their processing show up in the admin.
Ports and credentials are listed in docs/connectors/sandboxes.md.
"""

from __future__ import annotations

import secrets
import signal
import threading
from typing import Any
from urllib.error import URLError

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.module_loading import import_string

from apps.accounts.models import Organization
from apps.connectors import services
from apps.connectors.models import Connector
from apps.connectors.sandboxes import SANDBOXES
from apps.connectors.sandboxes.server import Sandbox


class Command(BaseCommand):
    help = "Start the vendor sandboxes on 127.0.0.1 (Ctrl-C stops them); optionally connect an organization to them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--only", nargs="*", choices=sorted(SANDBOXES), help="Start only these sandboxes.")
        parser.add_argument(
            "--base-port", type=int, default=None, help="First port (default: each sandbox's own, 8701-8708)."
        )
        parser.add_argument(
            "--rate-limit", type=int, default=None, help="Calls allowed per window (default: no limit)."
        )
        parser.add_argument("--rate-window", type=float, default=60.0, help="Length of a rate-limit window in seconds.")
        parser.add_argument("--no-seed", action="store_true", help="Start empty instead of with demo records.")
        parser.add_argument(
            "--connect", metavar="ORG_SLUG", help="Create a connector per sandbox in this organization."
        )
        parser.add_argument(
            "--webhooks-to", metavar="SITE_URL", help="Send signed webhooks to this site's /hooks/ endpoints."
        )
        parser.add_argument("--webhook-interval", type=float, default=30.0, help="Seconds between webhook rounds.")

    def handle(self, *args: Any, **options: Any) -> None:
        names = options["only"] or sorted(SANDBOXES, key=lambda n: import_string(SANDBOXES[n]).default_port)
        started: dict[str, Sandbox] = {}
        for offset, name in enumerate(names):
            sandbox_class = import_string(SANDBOXES[name])
            port = options["base_port"] + offset if options["base_port"] else sandbox_class.default_port
            sandbox = sandbox_class(port, rate_limit=options["rate_limit"], rate_window=options["rate_window"])
            try:
                started[name] = sandbox.start()
            except OSError as exc:
                self._stop(started)
                raise CommandError(f"Port {port} for the {name} sandbox is taken: {exc}.") from exc
            if not options["no_seed"]:
                sandbox.seed_demo()
        self._print_table(started)

        connectors: dict[str, tuple[Connector, str]] = {}
        if options["connect"]:
            connectors = self._connect(options["connect"], started)

        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(options["webhook_interval"] if options["webhooks_to"] else 3600):
                if options["webhooks_to"]:
                    self._send_webhooks(options["webhooks_to"].rstrip("/"), started, connectors)
        except KeyboardInterrupt:
            pass
        finally:
            self._stop(started)

    def _print_table(self, started: dict[str, Sandbox]) -> None:
        self.stdout.write(self.style.SUCCESS(f"{len(started)} sandboxes on 127.0.0.1:"))
        for name, sandbox in started.items():
            self.stdout.write(f"  {name:<14} {sandbox.url:<24} {sandbox.title}")
        self.stdout.write("Credentials and behaviour: docs/connectors/sandboxes.md. Ctrl-C stops them.")

    def _connect(self, slug: str, started: dict[str, Sandbox]) -> dict[str, tuple[Connector, str]]:
        organization = Organization.objects.filter(slug=slug).first()
        if organization is None:
            raise CommandError(f"No organization {slug!r}; run `manage.py seed_demo` first.")
        connected: dict[str, tuple[Connector, str]] = {}
        for name, sandbox in started.items():
            config = sandbox.demo_connection()
            field = sandbox.webhook_secret_field()
            connector_name = f"Sandbox {sandbox.title}"
            connector = Connector.objects.filter(organization=organization, name=connector_name).first()
            if connector is None:
                secret = secrets.token_urlsafe(24)
                connector = services.create_connector(
                    organization=organization,
                    actor=None,
                    name=connector_name,
                    provider=config["provider"],
                    base_url=sandbox.url,
                    settings_=config["settings"],
                    credentials={**config["credentials"], field: secret},
                    data_region=organization.home_region_code,
                )
                self.stdout.write(f"  connected {connector_name} ({connector.pk})")
            elif connector.base_url != sandbox.url or connector.settings != config["settings"]:
                services.update_connector(
                    connector=connector, actor=None, base_url=sandbox.url, settings=config["settings"]
                )
            connected[name] = (connector, str((connector.credentials or {}).get(field, "")))
        return connected

    def _send_webhooks(
        self, site: str, started: dict[str, Sandbox], connectors: dict[str, tuple[Connector, str]]
    ) -> None:
        for name, (connector, secret) in connectors.items():
            call = started[name].demo_webhook(secret)
            if call is None:
                continue
            try:
                status = call.deliver(f"{site}/hooks/{connector.pk}/")
            except (URLError, OSError) as exc:
                self.stderr.write(f"  {name}: webhook not delivered ({exc}); is the web server up?")
                continue
            self.stdout.write(f"  {name}: webhook delivered, answered {status}")

    @staticmethod
    def _stop(started: dict[str, Sandbox]) -> None:
        for sandbox in started.values():
            sandbox.stop()
