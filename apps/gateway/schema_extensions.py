"""drf-spectacular descriptions of the gateway's credentials in the OpenAPI schema's security schemes."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "apps.gateway.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "nofx_<live|test>_<key id>_<secret>",
            "description": "An API client's key as `Authorization: Bearer nofx_live_...` (or, for clients that "
            "cannot set `Authorization`, in an `X-API-Key` header). Calls are rate-limited and metered per "
            "client; the key's scopes decide what it may do.",
        }


class MutualTlsScheme(OpenApiAuthenticationExtension):
    target_class = "apps.gateway.authentication.MutualTlsAuthentication"
    name = "mtls"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        # OpenAPI 3.0 has no `mutualTLS` type (3.1 does): the scheme is described by the header the edge sets.
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-Client-Cert-SHA256",
            "description": "Mutual TLS. Present a client certificate to the mTLS endpoint of the edge (nginx), "
            "which verifies it against your organization's CA and forwards its SHA-256 fingerprint in this "
            "header; the certificate must be registered to an API client (`/api/v1/client-certificates/`). "
            "The header is ignored unless it comes from the edge itself.",
        }
