"""Reactions to third-party signals (Django auth, allauth MFA, django-axes, django-oauth-toolkit).

Each handler only calls a service: the audit trail of sign-ins, failures, MFA changes, lockouts and token
grants is written there.
"""

from __future__ import annotations

from typing import Any

from allauth.mfa.signals import authenticator_added, authenticator_removed, authenticator_reset
from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from oauth2_provider.signals import app_authorized

from apps.accounts import services
from apps.accounts.lockouts import username_of_attempt
from apps.accounts.models import SignInMethod, User

# Which sign-in method each backend stands for; the SSO views say which IdP they used on the request.
_METHOD_OF_BACKEND = {
    "apps.accounts.backends.PasswordBackend": SignInMethod.PASSWORD,
    "apps.accounts.sso.ldap.DirectoryBackend": SignInMethod.LDAP,
}
SSO_SIGN_IN_ATTRIBUTE = "_nofx_sso_sign_in"


@receiver(user_logged_in, dispatch_uid="accounts.signed_in")
def _signed_in(sender: Any, request: Any, user: User, **kwargs: Any) -> None:
    sso = getattr(request, SSO_SIGN_IN_ATTRIBUTE, None)
    if sso is not None:
        method, organization = sso
    else:
        method, organization = _METHOD_OF_BACKEND.get(getattr(user, "backend", ""), SignInMethod.OTHER), None
    services.start_session(request=request, user=user, method=method, organization=organization)


@receiver(user_logged_out, dispatch_uid="accounts.signed_out")
def _signed_out(sender: Any, request: Any, user: User | None, **kwargs: Any) -> None:
    services.record_sign_out(request=request, user=user)


@receiver(user_login_failed, dispatch_uid="accounts.sign_in_failed")
def _sign_in_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    services.record_sign_in_failure(request=request, email=username_of_attempt(request, credentials) or "")


@receiver(user_locked_out, dispatch_uid="accounts.locked_out")
def _locked_out(sender: Any, request: Any, username: str | None = None, **kwargs: Any) -> None:
    services.record_lockout(request=request, email=username or "")


@receiver(authenticator_added, dispatch_uid="accounts.mfa_added")
def _mfa_added(sender: Any, request: Any, user: User, authenticator: Any, **kwargs: Any) -> None:
    services.record_mfa_change(user=user, change="added", kind=authenticator.type)


@receiver(authenticator_removed, dispatch_uid="accounts.mfa_removed")
def _mfa_removed(sender: Any, request: Any, user: User, authenticator: Any, **kwargs: Any) -> None:
    services.record_mfa_change(user=user, change="removed", kind=authenticator.type)


@receiver(authenticator_reset, dispatch_uid="accounts.mfa_reset")
def _mfa_reset(sender: Any, request: Any, user: User, authenticator: Any, **kwargs: Any) -> None:
    services.record_mfa_change(user=user, change="reset", kind=authenticator.type)


@receiver(app_authorized, dispatch_uid="accounts.token_granted")
def _token_granted(sender: Any, request: Any, token: Any, **kwargs: Any) -> None:
    services.record_token_grant(token=token)
