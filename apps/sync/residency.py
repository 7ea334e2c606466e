"""The one place the sync engine asks whether data may be written to a connector.

Data residency rules belong to the regions app (issue 10, point 5: the sync engine and the gateway
refuse to move data to a connector whose declared location a rule forbids). Until that service exists
there is no rule to consult, so every write is allowed; the regions team replaces the body of
`check_residency_before_write` with a call to their service. The engine calls it before every create,
update and delete it sends, and treats a refusal as a permanent failure of that record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apps.connectors.models import Connector
    from apps.sync.models import IntegrationWorkflow


class ResidencyRefused(Exception):
    """A residency rule forbids writing this workflow's data to the connector."""

    code = "residency_refused"


def check_residency_before_write(*, workflow: IntegrationWorkflow, connector: Connector) -> None:
    """Raise ResidencyRefused when a rule forbids moving this workflow's data to `connector`."""
    # Deliberately empty until the regions service lands (see the module docstring).
