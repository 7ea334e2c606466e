from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.compliance.services import FRAMEWORKS_DIR, load_frameworks
from apps.core.exceptions import BusinessRuleViolation


class Command(BaseCommand):
    help = "Load (or update) the compliance framework outlines from YAML files."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--directory", default=str(FRAMEWORKS_DIR), help="Folder of <code>.yaml outlines.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            frameworks = load_frameworks(directory=Path(options["directory"]))
        except BusinessRuleViolation as exc:
            raise CommandError(exc.message) from exc
        for framework in frameworks:
            self.stdout.write(f"{framework.code}: {framework.requirements.count()} requirements")
