"""The reviewed list of views that anyone may reach without signing in.

`tests/test_zero_trust.py` walks every URL pattern and fails on any view that answers an anonymous
request without demanding authentication, unless its URL name is here with the reason it must be public.
Adding an entry is a security decision: say why in the reason, and have it reviewed.
"""

PUBLIC_VIEWS: dict[str, str] = {
    # The product's front door and operations probes.
    "core:landing": "The public front page.",
    "core:healthz": "Liveness probe for the load balancer; says only 'ok'.",
    "core:readyz": "Readiness probe; reports dependency status, no data.",
    "metrics": "Prometheus scrape; nginx refuses it at the edge and METRICS_TOKEN guards it when set.",
    # The API's own description.
    "api-schema": "The OpenAPI document of a public API.",
    "api-docs": "Swagger UI over that document.",
    "api-redoc": "ReDoc over that document.",
    # Signing in, signing up and recovering access cannot require being signed in.
    "account_login": "Sign-in form.",
    "account_signup": "Sign-up form (ACCOUNT_ALLOW_SIGNUP can close it).",
    "account_logout": "Signing out is harmless anonymous or not.",
    "account_inactive": "Tells an inactive account why it cannot sign in.",
    "account_confirm_login_code": "Second step of sign-in by emailed code.",
    "account_email_verification_sent": "Tells a new user to check their mail.",
    "account_confirm_email": "Email confirmation link from the mail, opened before sign-in.",
    "account_reset_password": "Password reset request form.",
    "account_reset_password_done": "Password reset requested page.",
    "account_reset_password_from_key": "Password reset link from the mail.",
    "account_reset_password_from_key_done": "Password reset finished page.",
    "mfa_authenticate": "Second factor step of sign-in, before the session is authenticated.",
    "accounts:invitation_accept": "Invitation link from the mail: explains the invitation and asks to sign in.",
    "admin:login": "The operators' sign-in form.",
    "admin:logout": "Signing out of the admin is harmless.",
    # Inbound calls from other systems authenticate themselves by signature or token, not by a session.
    "billing_customer:stripe-webhook": "Stripe's events: every delivery's signature is verified, replays ignored.",
    "connectors:webhook": "Vendor webhooks: every delivery's signature is checked (404 for unknown ids).",
    "connectors:manifest-schema": "The published JSON Schema of declarative connector manifests.",
    "oauth2_provider:token": "OAuth2 token endpoint: clients authenticate with their own credentials.",
    "oauth2_provider:revoke-token": "OAuth2 revocation: the client authenticates with its credentials.",
    "oauth2_provider:oidc-connect-discovery-info": "OpenID Connect discovery document (public metadata).",
    "oauth2_provider:jwks-info": "Public keys that verify our ID tokens.",
    # Single sign-on: the identity provider's browser round trip happens before there is a session.
    "sso:saml_login": "Starts SAML sign-in for an organization (404 for an unknown one).",
    "sso:saml_acs": "Receives the IdP's signed SAML response; it is the authentication.",
    "sso:saml_metadata": "Our SP metadata, which the organization's IdP imports.",
    "openid_connect_login": "Starts OIDC sign-in (PKCE) for an organization's provider.",
    "openid_connect_callback": "Receives the OIDC provider's answer; it is the authentication.",
    "socialaccount_login_cancelled": "Tells someone their SSO sign-in was cancelled.",
    "social/login/cancelled/": "allauth's old URL for the page above: a redirect.",
    "social/login/error/": "allauth's old URL for the SSO error page: a redirect.",
    "social/signup/": "allauth's old URL for the SSO sign-up step: a redirect.",
    "social/connections/": "allauth's old URL for linked accounts: a redirect to a page that needs sign-in.",
    # The public marketplace catalog: anyone may browse published extensions before signing in.
    "api:extension-manifest-schema": "The published JSON Schema of extension manifests.",
    "api:extension-rules": "The pipeline's rules and their messages, for developers and the CLI.",
    "api:extension-signing-key": "The public key that verifies package signatures.",
    "api:extension-usage": "Extensions report usage with their install token (checked by the view).",
    "api:extension-list": "The public catalog.",
    "api:extension-detail": "A published extension's page data.",
    "api:extension-consent": "What a published extension asks for, shown before anyone installs it.",
    "api:extension-reviews": "Published reviews of an extension.",
    "api:extension-versions": "A published extension's versions and changelog.",
    "api:extension-version-detail": "One published version.",
    "api:extension-version-download": "A published, signed package (counted, cacheable).",
    "api:extension-category-list": "Catalog categories.",
    # The developer docs: guides anyone may read before deciding to publish (no organization data on them).
    "developers:docs": "Index of the public developer guides.",
    "developers:doc": "One public developer guide, rendered from docs/developers/ (sanitized).",
    "developers:docs_search": "Full-text search over the public developer guides only.",
    # The marketplace website: browsing the public catalog before signing in, as the API above allows.
    "marketplace:home": "The marketplace front page: featured, popular and new published extensions.",
    "marketplace:search": "Catalog search over published extensions (same data as api:extension-list).",
    "marketplace:extension": "A published extension's page (same data as api:extension-detail; 404 otherwise).",
    "marketplace:screenshot": "A screenshot from a published extension's signed package (PNG/JPEG only).",
}
