"""The identity app's part in the security team's automated responses: ending sessions, revoking OAuth tokens.

Registered with `apps.security.responses.register_credential_revoker()` in `AccountsConfig.ready()`.
Neither can be restored: an ended session or a revoked token (RFC 7009) is gone, and the person or the
app simply signs in or asks for a token again, so both register without a `restore`.
"""

from __future__ import annotations

from typing import Any

from oauth2_provider.models import get_access_token_model

from apps.accounts import services
from apps.accounts.models import User


def _reason(event: Any) -> str:
    return f"security event {event.pk}"


def end_sessions_for_event(*, event: Any, user_id: Any, credential_id: Any, client_id: Any) -> str:
    """End every session the person has open (tracked ones, audited one by one)."""
    user = User.objects.filter(pk=user_id).first() if user_id else None
    if user is None:
        return "No person is linked to this event."
    ended = services.end_sessions(user=user, actor=None, reason="security_response")
    return f"Ended {ended} tracked sessions."


def revoke_oauth_tokens_for_event(*, event: Any, user_id: Any, credential_id: Any, client_id: Any) -> str:
    """Revoke the token the event is about, or else every token the person holds."""
    if credential_id:
        token = get_access_token_model().objects.filter(pk=credential_id).first()
        if token is None:
            return "The token had already expired or been revoked."
        count = services.revoke_oauth_token(token=token, actor=None, reason=_reason(event))
        return f"Revoked the token and its refresh token ({count} credentials)."
    user = User.objects.filter(pk=user_id).first() if user_id else None
    if user is None:
        return "No person or token is linked to this event."
    count = services.revoke_tokens(user=user, actor=None, reason=_reason(event))
    return f"Revoked {count} OAuth tokens of the person."
