from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.models import Organization
from apps.regions.residency import ResidencyViolation, decide, normalise_location
from apps.regions.selectors import residency_rules_for
from apps.regions.services import check_residency


class Command(BaseCommand):
    help = (
        "Check whether an organization's data may go to a location; a refusal is recorded as a security event, "
        "exactly as when the sync engine or the gateway is refused."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("organization", help="The organization's slug.")
        parser.add_argument("location", help="The destination's declared location code, e.g. us-east.")
        parser.add_argument("--dry-run", action="store_true", help="Only say what the rules decide; record nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = Organization.objects.filter(slug=options["organization"]).first()
        if organization is None:
            raise CommandError(f"No organization {options['organization']!r} in this region.")
        if options["dry_run"]:
            rules = residency_rules_for(region_code=organization.home_region_code, organization_id=organization.pk)
            decision = decide(rules, normalise_location(options["location"]))
            verdict = "allowed" if decision.allowed else f"refused: {decision.reason}"
            self.stdout.write(f"{organization.slug} -> {options['location']}: {verdict} ({len(rules)} rule(s))")
            return
        try:
            check_residency(organization=organization, destination_location=options["location"], purpose="manual check")
        except ResidencyViolation as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Allowed: {organization.slug}'s data may go to {options['location']}.")
