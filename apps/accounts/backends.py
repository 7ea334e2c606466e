"""Authentication backends: password sign-in (refused where SSO is required) and SSO session restore."""

from __future__ import annotations

from typing import Any

from allauth.account.auth_backends import AuthenticationBackend
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from apps.accounts.models import User
from apps.accounts.selectors import password_sign_in_refused


class PasswordBackend(AuthenticationBackend):
    """allauth's email + password backend, refusing members of organizations that require SSO.

    Sessions already open are restored without that check (it would cost a query per request); the session
    middleware ends password sessions of such members when it re-reads their policy.
    """

    def user_can_authenticate(self, user: Any) -> bool:
        if not super().user_can_authenticate(user):
            return False
        return password_sign_in_refused(user) is None

    def get_user(self, user_id: Any) -> Any:
        user = User.objects.filter(pk=user_id).first()
        return user if user is not None and user.is_active else None


class SingleSignOnBackend(ModelBackend):
    """Restores sessions opened by the SAML and OIDC views, which verified the IdP's answer themselves.

    It never authenticates credentials: `authenticate` always declines.
    """

    def authenticate(self, request: HttpRequest | None, **credentials: Any) -> None:  # type: ignore[override]
        return None


SINGLE_SIGN_ON_BACKEND = f"{SingleSignOnBackend.__module__}.{SingleSignOnBackend.__qualname__}"
