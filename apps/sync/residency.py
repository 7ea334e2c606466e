"""The one place the sync engine asks whether data may be written to a connector.

Data residency rules belong to the regions app: the sync engine and the gateway refuse to move data to a
connector whose declared location a rule forbids. This module translates the regions service's refusal
into the engine's vocabulary. The engine calls it before every create, update and delete it sends, and
treats a refusal as a permanent failure of that record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from apps.regions.residency import ResidencyViolation
from apps.regions.services import check_residency

if TYPE_CHECKING:
    from apps.connectors.models import Connector
    from apps.sync.models import IntegrationWorkflow


class ResidencyRefused(Exception):
    """A residency rule forbids writing this workflow's data to the connector."""

    code = "residency_refused"

    def __init__(self, message: str, *, rule_id: str | None = None, destination_location: str = "") -> None:
        super().__init__(message)
        self.rule_id = rule_id
        self.destination_location = destination_location


def check_residency_before_write(*, workflow: IntegrationWorkflow, connector: Connector) -> None:
    """Raise ResidencyRefused when a rule forbids moving this workflow's data to `connector`.

    The connector's declared `data_region` is the destination location. The regions service records the
    refusal as a security event before raising; the engine asks outside any transaction of its own, so
    failing the record does not roll that event back.
    """
    try:
        check_residency(
            organization=workflow.organization,
            destination_location=connector.data_region,
            purpose=f"sync write to connector {connector.pk}",
        )
    except ResidencyViolation as exc:
        raise ResidencyRefused(exc.message, rule_id=exc.rule_id, destination_location=exc.destination_location) from exc
