from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.models import Organization
from apps.core.exceptions import BusinessRuleViolation
from apps.regions.models import OrganizationMove, Region, RegionStatus
from apps.regions.organization_moves import OPEN_STATUSES, continue_move, request_organization_move
from apps.regions.selectors import local_region_code
from apps.regions.services import set_region_status


class Command(BaseCommand):
    help = (
        "Empty this region: stop new placements here, then move every organization homed here to another region "
        "(one move each: export, transfer, verify, switch, purge). Safe to run again after a failure."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("region", help="This deployment's region (the one being emptied).")
        parser.add_argument("--to", required=True, dest="target", help="The region that takes the organizations.")
        parser.add_argument("--dry-run", action="store_true", help="List what would move; change nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["region"] != local_region_code():
            raise CommandError(
                f"This deployment serves {local_region_code()}; run the evacuation in {options['region']}."
            )
        region = Region.objects.filter(code=options["region"]).first()
        if region is None:
            raise CommandError(f"Region {options['region']} is not registered here.")
        organizations = list(Organization.objects.filter(home_region_code=region.code).order_by("slug"))
        if options["dry_run"]:
            self.stdout.write(
                f"Would mark {region.code} degraded (no new organizations), then move to {options['target']}:"
            )
            for organization in organizations:
                self.stdout.write(f"  {organization.slug}")
            self.stdout.write(f"{len(organizations)} organization(s).")
            return
        if region.status == RegionStatus.ACTIVE:
            set_region_status(region=region, status=RegionStatus.DEGRADED, reason=f"evacuating to {options['target']}")
        failures = []
        for organization in organizations:
            move = OrganizationMove.objects.filter(organization_id=organization.pk, status__in=OPEN_STATUSES).first()
            try:
                if move is None:
                    move = request_organization_move(
                        organization=organization, target_region_code=options["target"], actor=None
                    )
                continue_move(move=move)
            except BusinessRuleViolation as exc:
                failures.append(f"{organization.slug}: {exc.message}")
                self.stderr.write(f"{organization.slug}: NOT moved: {exc.message}")
                continue
            self.stdout.write(f"{organization.slug}: moved to {options['target']}")
        if failures:
            raise CommandError(f"{len(failures)} organization(s) still live here; fix and run again.")
        self.stdout.write(f"{region.code} holds no organization any more.")
