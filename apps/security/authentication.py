"""Refuses sign-in to locked accounts, whichever backend (password, allauth, LDAP) would have let them in."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from apps.security.user_state import is_locked


class LockedAccountBackend(ModelBackend):
    """First in AUTHENTICATION_BACKENDS: raising PermissionDenied stops Django from trying the others.

    It authenticates nobody itself. It extends ModelBackend only so that sessions created while it is
    the first backend (Django's `login()` without a backend, the test client's `force_login`) can load
    their user; it grants no permissions of its own.
    """

    def has_perm(self, user_obj: Any, perm: str, obj: Any = None) -> bool:
        return False

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        return set()

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> None:
        login = username or kwargs.get("email") or kwargs.get(get_user_model().USERNAME_FIELD)
        if not login:
            return
        user_id = (
            get_user_model()._default_manager.filter(email__iexact=str(login)).values_list("pk", flat=True).first()
        )
        if user_id is not None and is_locked(user_id):
            raise PermissionDenied("This account is locked.")
