"""`manage.py reconcile <workflow>`: compare both sides of a workflow in full; `--repair` fixes what differs."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.connectors.errors import ConnectorError
from apps.core.exceptions import BusinessRuleViolation
from apps.sync.engine import RunAborted
from apps.sync.models import IntegrationWorkflow
from apps.sync.reconciler import IncompleteRead, ReconcileReport
from apps.sync.services import WorkflowBusy, reconcile_workflow


class Command(BaseCommand):
    help = (
        "Compare both sides of an integration workflow (ids and mapped-field hashes, deletes included) and "
        "report the agreement. With --repair, fix missing, differing and vanished records and compare again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("workflow", help="The workflow's id, or its name (with --organization if not unique).")
        parser.add_argument("--organization", help="The organization's slug, to pick a workflow by name.")
        parser.add_argument("--repair", action="store_true", help="Fix what differs (duplicates are only listed).")
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        workflow = self._workflow(options["workflow"], options.get("organization"))
        try:
            result = reconcile_workflow(workflow=workflow, repair=options["repair"])
        except WorkflowBusy as exc:
            raise CommandError("A run of this workflow is in progress; try again when it has finished.") from exc
        except (BusinessRuleViolation, RunAborted, ConnectorError, IncompleteRead) as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            payload = {
                "workflow": str(workflow.pk),
                "run": str(result.run.pk),
                "before": result.before.as_dict(),
                "after": result.after.as_dict() if result.after else None,
            }
            self.stdout.write(json.dumps(payload, indent=2, default=str))
            return
        self._print(f"{workflow.name}: before repair" if result.after else workflow.name, result.before)
        if result.after is not None:
            self._print(f"{workflow.name}: after repair", result.after)

    def _workflow(self, reference: str, organization: str | None) -> IntegrationWorkflow:
        workflows = IntegrationWorkflow.objects.select_related("organization")
        try:
            return workflows.get(pk=uuid.UUID(reference))
        except (ValueError, IntegrationWorkflow.DoesNotExist):
            pass
        matches = workflows.filter(name=reference)
        if organization:
            matches = matches.filter(organization__slug=organization)
        found = list(matches[:2])
        if not found:
            raise CommandError(f"No workflow {reference!r}.")
        if len(found) > 1:
            raise CommandError(f"Several organizations have a workflow {reference!r}; add --organization <slug>.")
        return found[0]

    def _print(self, title: str, report: ReconcileReport) -> None:
        style = self.style.SUCCESS if report.agreement_percent == 100 else self.style.WARNING
        summary = f"{title}: agreement {report.agreement_percent}% ({report.agreeing}/{report.expected})"
        self.stdout.write(style(summary))
        rows = [
            ("source records", report.source_records),
            ("target records", report.target_records),
            ("agreeing pairs", report.agreeing),
            ("differing pairs", len(report.differing)),
            ("missing on target", len(report.missing_on_target)),
            ("missing on source", len(report.missing_on_source)),
            ("deleted on one side, still linked", len(report.vanished)),
            ("creates in flight (pending links)", len(report.pending)),
            ("duplicates", len(report.duplicates)),
            ("deleted or tombstoned", report.tombstoned),
            ("target records outside the workflow", report.unlinked_target),
        ]
        for label, value in rows:
            self.stdout.write(f"  {label:<38} {value}")
        for item in report.differing[:10]:
            self.stdout.write(f"  differs: {item['source_id']} <-> {item['target_id']}: {', '.join(item['fields'])}")
        for item in report.duplicates[:10]:
            self.stdout.write(f"  duplicate on the {item['side']}: {item['id']} (same content as {item['copy_of']})")
