from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.models import Organization
from apps.core.exceptions import BusinessRuleViolation
from apps.regions.models import Region, RuleEffect
from apps.regions.services import add_residency_rule


class Command(BaseCommand):
    help = "Add a residency rule: where data of a region's organizations (or of one organization) may go."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("region", help="The home region the rule covers, e.g. eu-west.")
        parser.add_argument("effect", choices=RuleEffect.values)
        parser.add_argument("location_pattern", help="e.g. 'eu-*' or 'us-east'")
        parser.add_argument("--reason", required=True, help="Shown in every refusal.")
        parser.add_argument("--organization", help="Only this organization (its slug).")
        parser.add_argument("--dry-run", action="store_true", help="Say what rule would be added; add nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        region = Region.objects.filter(code=options["region"]).first()
        if region is None:
            raise CommandError(f"No region {options['region']!r} is registered here.")
        organization = None
        if options["organization"]:
            organization = Organization.objects.filter(slug=options["organization"]).first()
            if organization is None:
                raise CommandError(f"No organization {options['organization']!r} in this region.")
        if options["dry_run"]:
            scope = f"organization {organization.slug}" if organization else f"every organization in {region.code}"
            self.stdout.write(
                f"Would add: {options['effect']} {options['location_pattern']} for {scope} ({options['reason']})."
            )
            return
        try:
            rule = add_residency_rule(
                region=region,
                effect=options["effect"],
                location_pattern=options["location_pattern"],
                reason=options["reason"],
                organization=organization,
            )
        except BusinessRuleViolation as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Rule {rule.pk}: {rule}")
