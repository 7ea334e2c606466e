from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = "Accounts and organizations"

    def ready(self) -> None:
        # Audit trail of sign-ins, MFA changes, lockouts and token grants (third-party signals only).
        from apps.accounts import signals  # noqa: F401
