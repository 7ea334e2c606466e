"""Fixtures the provider tests share."""

from __future__ import annotations

import pytest

from apps.connectors import services
from tests.connectors.providers.conformance import WEBHOOK_SECRET


@pytest.fixture
def webhook_connector(case, sandbox_for, organization, loopback_allowed):
    sandbox = sandbox_for(case.sandbox)
    manifest = None
    provider = case.kind
    if case.manifest is not None and case.kind == "custom":
        manifest = services.save_connector_manifest(organization=organization, actor=None, document=case.manifest)
    connector = services.create_connector(
        organization=organization,
        actor=None,
        name=f"{case.kind} under test",
        provider=provider,
        manifest=manifest,
        base_url=case.base_url(sandbox),
        settings_=case.settings,
        credentials={**case.credentials(sandbox), **case.webhook_credentials(WEBHOOK_SECRET)},
    )
    return sandbox, connector
