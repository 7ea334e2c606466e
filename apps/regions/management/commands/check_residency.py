from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.models import Organization
from apps.regions.residency import ResidencyViolation
from apps.regions.services import check_residency


class Command(BaseCommand):
    help = (
        "Check whether an organization's data may go to a location; a refusal is recorded as a security event, "
        "exactly as when the sync engine or the gateway is refused."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("organization", help="The organization's slug.")
        parser.add_argument("location", help="The destination's declared location code, e.g. us-east.")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = Organization.objects.filter(slug=options["organization"]).first()
        if organization is None:
            raise CommandError(f"No organization {options['organization']!r} in this region.")
        try:
            check_residency(organization=organization, destination_location=options["location"], purpose="manual check")
        except ResidencyViolation as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Allowed: {organization.slug}'s data may go to {options['location']}.")
