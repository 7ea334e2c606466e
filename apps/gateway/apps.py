from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "apps.gateway"
    label = "gateway"
    verbose_name = "API gateway"

    def ready(self) -> None:
        # Registers the OpenAPI descriptions of the gateway's credentials (import has the side effect).
        from apps.gateway import schema_extensions  # noqa: F401
        from apps.gateway.revokers import restore_api_keys_for_action, revoke_api_keys_for_event
        from apps.security.models import ResponseKind
        from apps.security.responses import register_credential_revoker

        register_credential_revoker(
            ResponseKind.REVOKE_API_KEYS, revoke=revoke_api_keys_for_event, restore=restore_api_keys_for_action
        )
