"""The gateway's part in the security team's automated responses: revoking API keys, and restoring them.

Registered with `apps.security.responses.register_credential_revoker()` in `GatewayConfig.ready()`. The
keys a response revokes carry the event in their revocation reason, which is how an operator's reversal
finds exactly those keys again.
"""

from __future__ import annotations

from typing import Any

from apps.gateway import services
from apps.gateway.models import ApiClient, ApiKey


def revocation_reason(event_id: Any) -> str:
    return f"security event {event_id}"


def revoke_api_keys_for_event(*, event: Any, user_id: Any, credential_id: Any, client_id: Any) -> str:
    """Revoke the client's keys (hammering), the one key (seen from distant places), or the person's keys."""
    reason = revocation_reason(event.pk)
    if client_id:
        client = ApiClient.objects.select_related("organization").filter(pk=client_id).first()
        if client is None:
            return f"No API client {client_id} exists any more."
        count = services.revoke_api_keys(actor=None, reason=reason, client=client)
        return f"Revoked {count} keys of API client {client.name}."
    keys = ApiKey.objects.none()
    if credential_id:
        keys = ApiKey.objects.filter(pk=credential_id)
    elif user_id:
        keys = ApiKey.objects.filter(created_by_type="user", created_by_id=str(user_id))
    live = list(keys.filter(revoked_at__isnull=True))
    for key in live:
        services.revoke_api_key(key=key, actor=None, reason=reason)
    return f"Revoked {len(live)} API keys."


def restore_api_keys_for_action(*, action: Any) -> str:
    count = services.restore_api_keys(actor=None, revoked_reason=revocation_reason(action.event_id))
    return f"Restored {count} API keys (any that expired meanwhile stay expired)."
