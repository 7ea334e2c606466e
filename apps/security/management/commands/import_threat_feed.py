from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.security.models import ThreatFeed, ThreatFeedFormat
from apps.security.services import import_threat_feed, refresh_threat_feeds, register_threat_feed


class Command(BaseCommand):
    help = "Register a threat-intelligence feed (file or URL) and import it now, or refresh every due feed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", help="The feed's name (created when new).")
        parser.add_argument("--source", help="A file path or an https:// URL.")
        parser.add_argument("--format", choices=ThreatFeedFormat.values, default=ThreatFeedFormat.PLAIN)
        parser.add_argument("--all", action="store_true", help="Import every enabled feed now.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["all"]:
            for name, count in refresh_threat_feeds(force=True).items():
                self.stdout.write(f"{name}: {count} networks")
            return
        if not options["name"]:
            raise CommandError("Name a feed with --name, or pass --all.")
        feed = ThreatFeed.objects.filter(name=options["name"]).first()
        if feed is None:
            if not options["source"]:
                raise CommandError("A new feed needs --source.")
            feed = register_threat_feed(name=options["name"], source=options["source"], format=options["format"])
        feed = import_threat_feed(feed=feed)
        if feed.last_error and not feed.indicator_count:
            raise CommandError(feed.last_error)
        self.stdout.write(f"{feed.name}: {feed.indicator_count} networks. {feed.last_error}".strip())
