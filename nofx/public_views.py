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
}
