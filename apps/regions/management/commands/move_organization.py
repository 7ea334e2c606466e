from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.models import Organization
from apps.core.exceptions import BusinessRuleViolation
from apps.regions.models import OrganizationMove
from apps.regions.organization_moves import (
    ABANDONABLE,
    OPEN_STATUSES,
    STEPS,
    abandon_organization_move,
    continue_move,
    request_organization_move,
)


class Command(BaseCommand):
    help = (
        "Move an organization to another region: export, transfer, verify counts and hashes, switch, purge. "
        "Run it in the organization's current home region; it resumes an unfinished move."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("organization", help="The organization's slug.")
        parser.add_argument("target_region", help="The new home region, e.g. eu-central.")
        parser.add_argument(
            "--until", choices=[name for name, _, _ in STEPS], default="purge", help="Stop after this step."
        )
        parser.add_argument("--dry-run", action="store_true", help="Check the move is allowed and print the steps.")
        parser.add_argument(
            "--abandon", action="store_true", help="Give up the unfinished move and unfreeze the organization here."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        organization = Organization.objects.filter(slug=options["organization"]).first()
        if organization is None:
            raise CommandError(f"No organization {options['organization']!r} in this region.")
        move = OrganizationMove.objects.filter(organization_id=organization.pk, status__in=OPEN_STATUSES).first()
        if options["abandon"]:
            self._abandon(organization, options["dry_run"])
            return
        if options["dry_run"]:
            state = f"resume move {move.pk} ({move.status})" if move else "open a new move"
            self.stdout.write(f"Would {state} of {organization.slug} to {options['target_region']}, then:")
            for name, _, _ in STEPS:
                self.stdout.write(f"  {name}")
            return
        try:
            if move is None:
                move = request_organization_move(
                    organization=organization, target_region_code=options["target_region"], actor=None
                )
            elif move.target_region_code != options["target_region"]:
                raise CommandError(f"{organization.slug} is already moving to {move.target_region_code}.")
            continue_move(move=move, until=options["until"], write=self.stdout.write)
        except BusinessRuleViolation as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Move {move.pk}: {move.status}. Counts: {move.counts}")

    def _abandon(self, organization: Organization, dry_run: bool) -> None:
        move = (
            OrganizationMove.objects.filter(organization_id=organization.pk, status__in=ABANDONABLE)
            .order_by("-created_at")
            .first()
        )
        if move is None:
            raise CommandError(f"{organization.slug} has no unfinished move.")
        if dry_run:
            self.stdout.write(f"Would abandon move {move.pk} ({move.status}) and unfreeze {organization.slug}.")
            return
        try:
            abandon_organization_move(move=move)
        except BusinessRuleViolation as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Move {move.pk} abandoned; {organization.slug} is active here again.")
