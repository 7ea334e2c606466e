from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = "Accounts and organizations"

    def ready(self) -> None:
        # Audit trail of sign-ins, MFA changes, lockouts and token grants (third-party signals only).
        from apps.accounts import signals  # noqa: F401
        from apps.accounts.revokers import end_sessions_for_event, revoke_oauth_tokens_for_event
        from apps.security.models import ResponseKind
        from apps.security.responses import register_credential_revoker

        # Neither can be undone (see apps.accounts.revokers), so neither has a restore.
        register_credential_revoker(ResponseKind.REVOKE_SESSIONS, revoke=end_sessions_for_event)
        register_credential_revoker(ResponseKind.REVOKE_TOKENS, revoke=revoke_oauth_tokens_for_event)
