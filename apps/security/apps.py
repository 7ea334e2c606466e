from typing import Any

from django.apps import AppConfig


class SecurityConfig(AppConfig):
    name = "apps.security"
    label = "security"
    verbose_name = "Security and audit"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        # Django's own signal (not one of our models): stamp when the session signed in, so a later demand
        # to re-authenticate can tell older sessions from newer ones.
        user_logged_in.connect(_stamp_session, dispatch_uid="security.stamp_session")


def _stamp_session(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    from django.utils import timezone

    from apps.security.user_state import SESSION_AUTH_AT, user_security_state

    session = getattr(request, "session", None)
    if session is not None:
        session[SESSION_AUTH_AT] = timezone.now().timestamp()
    # Load the person's lock and re-authentication state into the cache now, not on their first page.
    user_security_state(user.pk)
