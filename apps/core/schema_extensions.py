"""drf-spectacular extensions describing our own authentication classes in the OpenAPI schema."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = "apps.core.authentication.SessionAuthentication"
    name = "session"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "The console's browser session (sign in at /accounts/login/). Writes need the CSRF token.",
        }


class OAuth2Scheme(OpenApiAuthenticationExtension):
    target_class = "apps.accounts.oauth.OrganizationOAuth2Authentication"
    name = "oauth2"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        from apps.accounts.scopes import API_SCOPES

        scopes = dict(API_SCOPES)
        return {
            "type": "oauth2",
            "description": (
                "OAuth2 bearer tokens from an app your organization registered (account pages). Access tokens "
                "live 10 minutes; refresh tokens rotate on every use and a reused one revokes its family."
            ),
            "flows": {
                "authorizationCode": {
                    "authorizationUrl": "/o/authorize/",
                    "tokenUrl": "/o/token/",
                    "refreshUrl": "/o/token/",
                    "scopes": scopes,
                },
                "clientCredentials": {"tokenUrl": "/o/token/", "scopes": scopes},
            },
        }

    def get_security_requirement(self, auto_schema: Any) -> dict[str, list[str]]:
        return {self.name: []}
