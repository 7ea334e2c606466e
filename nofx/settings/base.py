"""Settings shared by every environment; everything deployment-specific comes from the environment.

Without `DATABASE_URL` the project runs on a SQLite file under `var/`, and without `REDIS_URL` it uses
an in-process cache and Celery's filesystem broker, so a fresh clone works with no services at all.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import django_stubs_ext
import environ
from celery.schedules import crontab

# Lets Django's generic classes be subscripted at runtime (ModelAdmin[Model] ...), as the type checker wants.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
env_file = BASE_DIR / ".env"
if env_file.exists():
    environ.Env.read_env(str(env_file))

# -- Core ---------------------------------------------------------------------------------------------

SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS: list[str] = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
SITE_ID = 1
SITE_NAME = "NOFX Control Plane"
# Absolute base URL used in emails and in links handed to other systems.
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

# The version of the platform; extensions declare a `requires.platform` range against it.
PLATFORM_VERSION = "0.1.0"

# The region this deployment serves (see apps.regions).
REGION_CODE = env("NOFX_REGION", default="us-east")

DJANGO_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.humanize",
    "django.contrib.postgres",
]
THIRD_PARTY_APPS = [
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "oauth2_provider",
    "axes",
    "djangosaml2",
    "guardian",
    "django_celery_beat",
    "django_prometheus",
    "djstripe",
]
LOCAL_APPS = [
    "apps.core",
    "apps.accounts",
    "apps.security",
    "apps.connectors",
    "apps.sync",
    "apps.gateway",
    "apps.marketplace",
    "apps.developers",
    "apps.billing",
    "apps.regions",
    "apps.compliance",
]
INSTALLED_APPS = DJANGO_APPS + THIRD_PARTY_APPS + LOCAL_APPS

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "apps.core.middleware.RequestIdMiddleware",
    "apps.security.middleware.RequestSizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # API clients: authentication, rate limits and quotas, idempotency and usage records (apps.gateway).
    "apps.gateway.middleware.GatewayMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # SAML's own short-lived session (outstanding requests), on its own cookie; see SAML_SESSION_COOKIE_SAMESITE.
    "djangosaml2.middleware.SamlSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After authentication: a signed-in person's organization may be homed in another region.
    "apps.regions.middleware.RegionRoutingMiddleware",
    "apps.security.middleware.NetworkRulesMiddleware",
    "apps.security.middleware.AccountSecurityMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # Idle/absolute timeouts and ended sessions first, then MFA enrolment for MFA-required organizations.
    "apps.accounts.middleware.SessionControlMiddleware",
    "apps.accounts.middleware.MfaEnforcementMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, as django-axes asks: it turns a lockout noticed during the request into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "nofx.urls"
WSGI_APPLICATION = "nofx.wsgi.application"
ASGI_APPLICATION = "nofx.asgi.application"

TEMPLATES: list[dict[str, Any]] = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.core.context_processors.site",
                "apps.accounts.context_processors.navigation",
            ],
        },
    }
]

# -- Database -----------------------------------------------------------------------------------------

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'nofx.sqlite3'}"),
}
# The region's database endpoint record (see apps/regions/database_endpoints.py): when set, connections go to
# the primary it names, so `manage.py failover` can move the deployment to the promoted standby at run time.
DATABASE_ENDPOINT_FILE = env("NOFX_DATABASE_ENDPOINT_FILE", default="")
if DATABASE_ENDPOINT_FILE and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["ENGINE"] = "apps.regions.switchable_postgresql"
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite serialises writers; wait for the lock instead of failing while a worker writes.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# -- Cache and Redis ----------------------------------------------------------------------------------

REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "apps.core.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "nofx",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "nofx"}}
# How often a process asks whether its copies of keys, clients and residency rules went stale
# (apps.core.process_cache): a change made in one worker reaches the others within this delay.
PROCESS_CACHE_RECHECK_SECONDS = env.float("PROCESS_CACHE_RECHECK_SECONDS", default=1.0)

# -- Authentication -----------------------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
# Order matters: axes refuses locked-out accounts and IPs before any password is checked. The password
# backend refuses members of organizations that require SSO (their break-glass owner excepted); the SSO
# backend only restores sessions that the SAML/OIDC views opened after verifying the IdP's answer.
AUTHENTICATION_BACKENDS = [
    # First: a locked account is refused before any backend checks its password.
    "apps.security.authentication.LockedAccountBackend",
    "axes.backends.AxesStandaloneBackend",
    "apps.accounts.backends.PasswordBackend",
    "apps.accounts.backends.SingleSignOnBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.ScryptPasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "core:dashboard"
LOGOUT_REDIRECT_URL = "core:landing"

ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = env("ACCOUNT_EMAIL_VERIFICATION", default="optional")
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_SESSION_REMEMBER = None
ACCOUNT_PRESERVE_USERNAME_CASING = False
ACCOUNT_ADAPTER = "apps.accounts.adapters.AccountAdapter"
ACCOUNT_ALLOW_SIGNUP = env.bool("ACCOUNT_ALLOW_SIGNUP", default=True)
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_TOTP_ISSUER = SITE_NAME
# allauth remembers each accepted TOTP code for its period in the cache (Redis in production, so every
# web worker sees it): a code works once.
MFA_TOTP_TOLERANCE = 0
MFA_PASSKEY_LOGIN_ENABLED = False
# django-axes owns failed-sign-in lockouts (see "Brute-force protection" below); allauth's own counter
# would lock sooner and without an audit trail.
ACCOUNT_RATE_LIMITS = {"login_failed": None}
ACCOUNT_FORMS = {"login": "apps.accounts.forms.RoutedLoginForm"}

# -- Single sign-on -------------------------------------------------------------------------------------

# OIDC: allauth's `openid_connect` provider. Each organization's IdP becomes an allauth app built from its
# OidcIdentityProvider row (apps.accounts.sso.oidc); PKCE is always on.
SOCIALACCOUNT_ADAPTER = "apps.accounts.sso.oidc.OrganizationSocialAccountAdapter"
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_LOGIN_ON_GET = False
SOCIALACCOUNT_PROVIDERS: dict[str, Any] = {"openid_connect": {"OAUTH_PKCE_ENABLED": True}}

# SAML: djangosaml2 on pysaml2, configured per organization (apps.accounts.sso.saml builds the SP config
# from the organization's SamlIdentityProvider). Assertions must be signed; unsolicited responses refused.
SAML_CONFIG_LOADER = "apps.accounts.sso.saml.sp_config_for_request"
SAML_CSP_HANDLER = ""
SAML_DEFAULT_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
SAML_IGNORE_AUTHENTICATED_USERS_ON_LOGIN = True
# After SAML sign-in, without a `next`, people land on their organization's page.
ACS_DEFAULT_REDIRECT_URL = "accounts:organization"
SAML_ACS_FAILURE_RESPONSE_FUNCTION = "apps.accounts.sso.saml.acs_failure_page"
# The IdP posts its answer cross-site: in production the SAML session cookie must be SameSite=None (and
# Secure); over plain HTTP (development, tests on loopback) browsers refuse that, so Lax is used there.
SAML_SESSION_COOKIE_SAMESITE = env("SAML_SESSION_COOKIE_SAMESITE", default="Lax")
# How long an accepted assertion id is remembered, to refuse a replay (longer than any assertion lives).
SAML_REPLAY_WINDOW = timedelta(hours=env.int("SAML_REPLAY_WINDOW_HOURS", default=24))
# Debian's xmlsec1, which pysaml2 calls to check signatures.
SAML_XMLSEC_BINARY = env("SAML_XMLSEC_BINARY", default="/usr/bin/xmlsec1")

# LDAP: django-auth-ldap, off unless AUTH_LDAP_SERVER_URI is set. Users sign in with their email address.
AUTH_LDAP_SERVER_URI = env("AUTH_LDAP_SERVER_URI", default="")
AUTH_LDAP_BIND_DN = env("AUTH_LDAP_BIND_DN", default="")
AUTH_LDAP_BIND_PASSWORD = env("AUTH_LDAP_BIND_PASSWORD", default="")
# Either a DN template (`uid=%(user)s,ou=people,dc=example,dc=com`, where %(user)s is the part of the email
# before @) or a search base + filter (`(mail=%(user)s)`, where %(user)s is the whole email).
AUTH_LDAP_USER_DN_TEMPLATE = env("AUTH_LDAP_USER_DN_TEMPLATE", default="") or None
LDAP_USER_SEARCH_BASE = env("LDAP_USER_SEARCH_BASE", default="")
LDAP_USER_SEARCH_FILTER = env("LDAP_USER_SEARCH_FILTER", default="(mail=%(user)s)")
AUTH_LDAP_USER_ATTR_MAP = env.dict("AUTH_LDAP_USER_ATTR_MAP", default={"full_name": "cn"})
LDAP_GROUP_SEARCH_BASE = env("LDAP_GROUP_SEARCH_BASE", default="")
# The organization LDAP users join, and (JSON) LDAP group DN -> role in it: {"cn=admins,ou=groups,...": "admin"}.
LDAP_ORGANIZATION_SLUG = env("LDAP_ORGANIZATION_SLUG", default="")
LDAP_GROUP_ROLES: dict[str, str] = env.json("LDAP_GROUP_ROLES", default={})
LDAP_DEFAULT_ROLE = env("LDAP_DEFAULT_ROLE", default="viewer")
if AUTH_LDAP_SERVER_URI:
    AUTHENTICATION_BACKENDS.insert(2, "apps.accounts.sso.ldap.DirectoryBackend")

# -- Sessions -------------------------------------------------------------------------------------------

# Defaults for organizations that set none; an organization's policy may set its own (the strictest of a
# person's organizations applies). A session is also tracked as a UserSession row (device, IP, last seen).
SESSION_IDLE_TIMEOUT = timedelta(minutes=env.int("SESSION_IDLE_TIMEOUT_MINUTES", default=12 * 60))
SESSION_ABSOLUTE_TIMEOUT = timedelta(minutes=env.int("SESSION_ABSOLUTE_TIMEOUT_MINUTES", default=7 * 24 * 60))
SESSION_COOKIE_AGE = int(SESSION_ABSOLUTE_TIMEOUT.total_seconds())
# How often a session's "last seen" is written and its organizations' policy re-read.
SESSION_TOUCH_INTERVAL = timedelta(seconds=60)
SESSION_POLICY_RECHECK = timedelta(minutes=5)

# -- Brute-force protection (django-axes) --------------------------------------------------------------

# 5 failed sign-ins for one account (from anywhere), or 5 from one IP address (whatever the accounts),
# lock that account or that address out for 15 minutes; the lock then expires by itself (never permanent).
# A success resets the account's count. Lockouts are audited (apps.accounts.signals).
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "apps.accounts.lockouts.username_of_attempt"
AXES_LOCKOUT_CALLABLE = "apps.accounts.lockouts.lockout_response"
AXES_ENABLE_ACCESS_FAILURE_LOG = False
AXES_VERBOSE = False
# The address a failure is counted against: the one every other rule uses (X-Forwarded-For believed only
# from TRUSTED_PROXIES), so no client can choose the address it is locked out as.
AXES_CLIENT_IP_CALLABLE = "apps.security.client_ip.client_ip"

# -- OAuth2 provider for the API (django-oauth-toolkit) -------------------------------------------------

# Lifetimes: access tokens 10 minutes, refresh tokens 14 days (rotated on every use; presenting a used
# one again revokes its whole family), authorization codes 60 seconds.
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oauth2_provider.AccessToken"  # noqa: S105 - a model name
OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL = "oauth2_provider.RefreshToken"  # noqa: S105 - a model name
OAUTH2_PROVIDER_GRANT_MODEL = "oauth2_provider.Grant"
OAUTH2_PROVIDER_ID_TOKEN_MODEL = "oauth2_provider.IDToken"  # noqa: S105 - a model name
OAUTH2_PROVIDER: dict[str, Any] = {
    "SCOPES_BACKEND_CLASS": "apps.accounts.oauth.ApiScopes",
    "OAUTH2_VALIDATOR_CLASS": "apps.accounts.oauth.OrganizationOAuth2Validator",
    "PKCE_REQUIRED": True,
    "ACCESS_TOKEN_EXPIRE_SECONDS": env.int("OAUTH_ACCESS_TOKEN_SECONDS", default=600),
    "REFRESH_TOKEN_EXPIRE_SECONDS": env.int("OAUTH_REFRESH_TOKEN_SECONDS", default=14 * 24 * 3600),
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "REQUEST_APPROVAL_PROMPT": "auto",
    # The OAuth 2.0 Security BCP (RFC 9700), all of it: no implicit or password grant, PKCE S256 only, no
    # tokens in query strings, `iss` in authorization responses, tokens stored hashed; the config gates make
    # `check --deploy` fail (not warn) on a non-compliant refresh, redirect or PKCE setting.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
    # OpenID Connect (ID tokens, userinfo) for web apps, on when an RSA private key (PEM) is configured.
    "OIDC_RSA_PRIVATE_KEY": env("OAUTH_OIDC_RSA_PRIVATE_KEY", default="").replace("\\n", "\n"),
}
OAUTH2_PROVIDER["OIDC_ENABLED"] = bool(OAUTH2_PROVIDER["OIDC_RSA_PRIVATE_KEY"])

# Guardian: no anonymous user row; object grants are only ever given to real users and groups.
ANONYMOUS_USER_NAME = None
GUARDIAN_MONKEY_PATCH_USER = False

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

# Invitations are valid this long.
INVITATION_TTL = timedelta(days=env.int("INVITATION_TTL_DAYS", default=7))

# -- Encryption of secrets at rest ---------------------------------------------------------------------

# Comma-separated Fernet keys; the first encrypts, all decrypt (rotate by prepending a new key, then
# running `manage.py rotate_encryption_keys`).
FIELD_ENCRYPTION_KEYS: list[str] = env.list("FIELD_ENCRYPTION_KEYS", default=[])

# -- Internationalisation -----------------------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# -- Static and media ---------------------------------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = env("MEDIA_ROOT", default=str(VAR_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Signed audit checkpoints: anywhere but the database they vouch for (a directory, or an object store
    # with retention lock in production).
    "audit_checkpoints": {
        "BACKEND": env("AUDIT_CHECKPOINT_STORAGE_BACKEND", default="django.core.files.storage.FileSystemStorage"),
        "OPTIONS": {"location": env("AUDIT_CHECKPOINT_DIR", default=str(VAR_DIR / "audit-checkpoints"))},
    },
    # Compliance evidence: never under MEDIA_URL, only downloaded through permission-checked views.
    "evidence": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": env("EVIDENCE_DIR", default=str(VAR_DIR / "evidence"))},
    },
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# -- Email --------------------------------------------------------------------------------------------

EMAIL_BACKEND = env("DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="NOFX Control Plane <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# -- Django REST framework and the OpenAPI schema -------------------------------------------------------

REST_FRAMEWORK = {
    # The first class names the challenge of a 401 (`WWW-Authenticate: Bearer`).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.gateway.authentication.ApiKeyAuthentication",
        "apps.gateway.authentication.MutualTlsAuthentication",
        "apps.core.authentication.SessionAuthentication",
        "apps.accounts.oauth.OrganizationOAuth2Authentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "apps.gateway.permissions.MachineCallersOnlyWhereDeclared",
    ],
    "DEFAULT_PAGINATION_CLASS": "apps.core.pagination.CreatedCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "apps.core.openapi.ProblemAutoSchema",
    "EXCEPTION_HANDLER": "apps.core.problems.problem_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "NOFX Control Plane API",
    "DESCRIPTION": (
        "The REST API of the NOFX Control Plane: organizations and access, the audit log, connectors, "
        "integration workflows, the API gateway, the extension marketplace, regions, security and compliance. "
        "Every error is an RFC 9457 problem document (`application/problem+json`). API clients authenticate "
        "with an API key, an OAuth2 token or a client certificate; their calls are rate-limited "
        "(`RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`, and `Retry-After` on 429) and a POST may "
        "carry an `Idempotency-Key`."
    ),
    "VERSION": PLATFORM_VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SORT_OPERATIONS": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "apps.accounts.roles.Role",
        "ApiClientStatusEnum": "apps.gateway.models.ClientStatus",
        "CredentialStatusEnum": "apps.gateway.api.serializers.KEY_STATUSES",
        "ScopeEnum": "apps.gateway.scopes.SCOPE_CHOICES",
        "ConnectorStatusEnum": "apps.connectors.models.ConnectorStatus",
        "DeliveryStatusEnum": "apps.connectors.models.DeliveryStatus",
        "WorkflowStatusEnum": "apps.sync.models.WorkflowStatus",
        "RunStatusEnum": "apps.sync.models.RunStatus",
        "ConflictStatusEnum": "apps.sync.models.ConflictStatus",
        "FailedRecordStatusEnum": "apps.sync.models.FailedRecordStatus",
        "WorkflowDirectionEnum": "apps.sync.models.Direction",
        "MovementDirectionEnum": "apps.sync.models.MovementDirection",
        "VersionStatusEnum": "apps.marketplace.models.VersionStatus",
        "InstallationStatusEnum": "apps.marketplace.models.InstallationStatus",
        "ReviewStatusEnum": "apps.marketplace.models.ReviewStatus",
        "ReviewReportStatusEnum": "apps.marketplace.models.ReportStatus",
        "VerificationEnum": "apps.marketplace.models.VerificationState",
        # Keeps the invitation status enum's published name now that regions have a `status` too.
        "StatusEnum": "apps.accounts.models.InvitationStatus",
        "RegionStatusEnum": "apps.regions.models.RegionStatus",
        "ResidencyEffectEnum": "apps.regions.models.RuleEffect",
        "SecurityEventStatusEnum": "apps.security.models.events.EventStatus",
        "ResponseStatusEnum": "apps.security.models.events.ResponseStatus",
        "SeverityEnum": "apps.security.models.events.Severity",
        "AssessmentStatusEnum": "apps.compliance.models.AssessmentStatus",
        "FindingStatusEnum": "apps.compliance.models.FindingStatus",
        "ResultStatusEnum": "apps.compliance.models.ResultStatus",
    },
    "TAGS": [
        {"name": "me", "description": "The signed-in principal."},
        {"name": "organizations", "description": "Organizations (tenants) the principal belongs to."},
        {"name": "memberships", "description": "Who belongs to the organization, with which role."},
        {"name": "teams", "description": "Nested teams inside the organization."},
        {"name": "invitations", "description": "Invitations to join the organization."},
        {"name": "audit", "description": "The organization's tamper-evident audit log (read-only)."},
        {"name": "api-clients", "description": "Machine callers of the API, their plans, scopes and allow-lists."},
        {"name": "api-keys", "description": "API keys: shown once, scoped, expiring, rotatable, revocable."},
        {"name": "client-certificates", "description": "mTLS identities: client certificates and trusted CAs."},
        {"name": "usage", "description": "Every call API clients made, and the daily summary per client."},
        {"name": "actions", "description": "Connector actions, invoked through the gateway."},
        {
            "name": "connectors",
            "description": "Connections to external systems, their object types, actions, webhooks and health.",
        },
        {
            "name": "workflows",
            "description": (
                "Integration workflows that keep two connectors in step, their runs, conflicts, failed records "
                "and the data-movement trail."
            ),
        },
        {"name": "catalog", "description": "The public marketplace: search, extension pages, versions, downloads."},
        {"name": "publishing", "description": "Publishers upload versions, follow the pipeline, see analytics."},
        {"name": "installations", "description": "Extensions installed in your organization, and consent."},
        {"name": "reviews", "description": "Your organization's reviews of extensions, and reports."},
        {"name": "regions", "description": "Deployment regions an organization can be homed in."},
        {"name": "access", "description": "Who can do what on an object, and why."},
        {"name": "security", "description": "Security events, automated responses and IP rules."},
        {"name": "compliance", "description": "Compliance assessments, findings and evidence."},
    ],
}

# -- Celery ---------------------------------------------------------------------------------------------

# Each local region (scripts/region-up.sh) keeps its own queue folders, so no worker runs another region's tasks.
CELERY_BROKER_DIR = Path(env("NOFX_CELERY_DIR", default=str(VAR_DIR / "celery")))
if REDIS_URL:
    CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {"visibility_timeout": 3600}
    CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=REDIS_URL)
else:
    # No services: Celery's filesystem transport, shared by the web process, the worker and beat.
    CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
    CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=f"file://{CELERY_BROKER_DIR / 'results'}")
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_EXPIRES = timedelta(days=1)
CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged only when it finished, so a killed worker's task runs again elsewhere;
# every task is therefore written to be safe to run twice.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=360)
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Workers and beat log through LOGGING (JSON with the task's id), not Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE = {
    "verify-audit-chains-hourly": {
        "task": "apps.security.tasks.verify_audit_chains_task",
        "schedule": crontab(minute=7),
    },
    "roll-up-gateway-usage": {
        "task": "apps.gateway.tasks.roll_up_usage_task",
        "schedule": crontab(minute="*/10"),
    },
    "purge-gateway-records-daily": {
        "task": "apps.gateway.tasks.purge_gateway_records_task",
        "schedule": crontab(hour=3, minute=17),
    },
    "check-connector-health": {
        "task": "apps.connectors.tasks.check_all_connectors_task",
        "schedule": timedelta(seconds=env.int("CONNECTOR_HEALTH_INTERVAL", default=300)),
    },
    "prune-connector-history-daily": {
        "task": "apps.connectors.tasks.prune_connector_history_task",
        "schedule": crontab(hour=3, minute=17),
    },
    "marketplace-deliver-due-webhooks": {
        "task": "apps.marketplace.tasks.deliver_due_webhooks_task",
        "schedule": timedelta(minutes=1),
    },
    "marketplace-refresh-rankings-daily": {
        "task": "apps.marketplace.tasks.refresh_catalog_rankings_task",
        "schedule": crontab(hour=3, minute=17),
    },
    "billing-disable-lapsed-installations": {
        "task": "apps.billing.tasks.disable_lapsed_installations_task",
        "schedule": crontab(minute=23),
    },
    "billing-report-usage": {
        "task": "apps.billing.tasks.report_pending_usage_task",
        "schedule": timedelta(minutes=5),
    },
    "billing-close-statements-monthly": {
        "task": "apps.billing.tasks.close_statements_task",
        "schedule": crontab(day_of_month=1, hour=5, minute=7),
    },
    "marketplace-rescan-stale-versions-daily": {
        "task": "apps.marketplace.tasks.rescan_published_versions_task",
        "schedule": crontab(hour=4, minute=23),
    },
    # Changes are pushed right after commit; this catches up whatever a failed push left behind.
    "deliver-region-outbox": {
        "task": "apps.regions.tasks.deliver_outbox_task",
        "schedule": timedelta(seconds=30),
    },
    "sample-region-health": {
        "task": "apps.regions.tasks.sample_region_health_task",
        "schedule": timedelta(minutes=1),
    },
    "backup-region-database": {
        "task": "apps.regions.tasks.backup_database_task",
        "schedule": crontab(minute=17, hour="*/6"),
    },
    "restore-drill-weekly": {
        "task": "apps.regions.tasks.restore_drill_task",
        "schedule": crontab(minute=47, hour=3, day_of_week=0),
    },
    "prune-region-outbox-daily": {
        "task": "apps.regions.tasks.prune_outbox_task",
        "schedule": crontab(minute=27, hour=2),
    },
    "refresh-saml-metadata-daily": {
        "task": "apps.accounts.tasks.refresh_saml_metadata_task",
        "schedule": crontab(hour=3, minute=17),
    },
    "clear-expired-credentials-daily": {
        "task": "apps.accounts.tasks.clear_expired_credentials_task",
        "schedule": crontab(hour=4, minute=23),
    },
    "write-audit-checkpoint-hourly": {
        "task": "apps.security.tasks.write_audit_checkpoint_task",
        "schedule": crontab(minute=0),
    },
    "refresh-threat-feeds": {
        # Each feed has its own refresh interval; this only looks for the ones that are due.
        "task": "apps.security.tasks.refresh_threat_feeds_task",
        "schedule": crontab(minute="*/5"),
    },
    "purge-login-observations-daily": {
        "task": "apps.security.tasks.purge_login_observations_task",
        "schedule": crontab(hour=3, minute=17),
    },
    "run-control-checks-hourly": {
        "task": "apps.compliance.tasks.run_control_checks_task",
        "schedule": crontab(minute=23),
    },
}

# -- Regions ------------------------------------------------------------------------------------------

# Shared by every region of one installation: peers sign directory batches with the first and accept any.
REGION_REPLICATION_SECRETS: list[str] = env.list("NOFX_REGION_REPLICATION_SECRETS", default=[])
# A signed batch older (or newer) than this is refused, so a captured request cannot be replayed later.
REGION_REPLICATION_MAX_SKEW = timedelta(seconds=env.int("NOFX_REGION_REPLICATION_MAX_SKEW_SECONDS", default=300))
# Paths every region serves itself, whatever organization the request names.
REGION_ROUTING_EXEMPT_PREFIXES = (
    "/admin/",
    "/static/",
    "/media/",
    "/healthz",
    "/readyz",
    "/metrics",
    "/regions/",
    "/api/schema/",
    "/api/docs/",
    "/api/redoc/",
    "/api/v1/regions/",
    "/accounts/",
)
REGION_BACKUP_DIR = env("NOFX_BACKUP_DIR", default=str(VAR_DIR / "backups"))
# The declared location of the backup storage; backups refuse to run unless it is this region.
REGION_BACKUP_LOCATION = env("NOFX_BACKUP_LOCATION", default=REGION_CODE)
REGION_BACKUP_KEEP = env.int("NOFX_BACKUP_KEEP", default=14)
# Where pg_ctl, pg_basebackup and pg_rewind live (empty: on PATH), and the OS user that owns the clusters.
REGION_PG_BIN_DIR = env("NOFX_PG_BIN_DIR", default="")
REGION_PG_OS_USER = env("NOFX_PG_OS_USER", default="postgres")
# Each process adds its requests' figures (count, 5xx, latency buckets) to the region's shared per-minute
# counters this often, from a background thread (apps.regions.traffic).
REGIONS_TRAFFIC_FLUSH_SECONDS = env.float("REGIONS_TRAFFIC_FLUSH_SECONDS", default=5.0)
REGIONS_TRAFFIC_FLUSH_BATCH = env.int("REGIONS_TRAFFIC_FLUSH_BATCH", default=100_000)

# -- Outbound HTTP ------------------------------------------------------------------------------------

# Outbound requests to customer- or developer-supplied URLs refuse private, loopback and link-local
# addresses unless this is on (tests and the local sandboxes turn it on).
OUTBOUND_ALLOW_PRIVATE_ADDRESSES = env.bool("OUTBOUND_ALLOW_PRIVATE_ADDRESSES", default=False)
# Private networks that connectors may reach even so (a self-hosted Jira or GitLab inside the VPC), as CIDRs.
OUTBOUND_ALLOWED_NETWORKS: list[str] = env.list("OUTBOUND_ALLOWED_NETWORKS", default=[])

# -- Connectors ---------------------------------------------------------------------------------------

# A webhook whose signed timestamp is further than this from now (seconds) is a replay and is rejected.
CONNECTOR_WEBHOOK_REPLAY_WINDOW = env.int("CONNECTOR_WEBHOOK_REPLAY_WINDOW", default=300)
CONNECTOR_WEBHOOK_MAX_BYTES = env.int("CONNECTOR_WEBHOOK_MAX_BYTES", default=1024 * 1024)
# Dotted paths of callables `f(*, delivery)` run for every processed webhook delivery (the sync engine's).
CONNECTOR_WEBHOOK_CONSUMERS: list[str] = []
# How often the beat checks every connector's health (seconds).
CONNECTOR_HEALTH_INTERVAL = env.int("CONNECTOR_HEALTH_INTERVAL", default=300)
# Each worker process takes up to this many of a connection's rate-budget slots in one Redis step and uses
# them without asking again (apps.connectors.rate_budget.LeasedRateBudget); 1 asks for every call.
CONNECTOR_RATE_LEASE_SIZE = env.int("CONNECTOR_RATE_LEASE_SIZE", default=16)
# How often a worker shares its connections' finished calls and vendor answers and gives back unused
# slots: the longest another worker can wait on a slot this one holds unused.
CONNECTOR_RATE_LEASE_FLUSH_SECONDS = env.float("CONNECTOR_RATE_LEASE_FLUSH_SECONDS", default=0.5)
CONNECTOR_RATE_LEASE_FLUSH_BATCH = env.int("CONNECTOR_RATE_LEASE_FLUSH_BATCH", default=10_000)
# Connections whose report Redis refused, kept for the next attempt.
CONNECTOR_RATE_LEASE_MAX_PENDING = env.int("CONNECTOR_RATE_LEASE_MAX_PENDING", default=10_000)

# -- Sync engine --------------------------------------------------------------------------------------

# A run holds its workflow's lease this long between heartbeats; a worker that dies frees it after this.
SYNC_RUN_LEASE_SECONDS = env.int("SYNC_RUN_LEASE_SECONDS", default=120)
# A run of 10,000 records takes minutes, far past the default task limit; a run cut short resumes later.
SYNC_RUN_SOFT_TIME_LIMIT = env.int("SYNC_RUN_SOFT_TIME_LIMIT", default=3300)
# A webhook-triggered run that finds another run going waits this long, this many times, then leaves the
# change to the next scheduled run.
SYNC_BUSY_RETRY_SECONDS = env.int("SYNC_BUSY_RETRY_SECONDS", default=5)
SYNC_BUSY_MAX_RETRIES = env.int("SYNC_BUSY_MAX_RETRIES", default=120)
# Webhook deliveries trigger near-real-time runs of the workflows whose records they name.
CONNECTOR_WEBHOOK_CONSUMERS = [*CONNECTOR_WEBHOOK_CONSUMERS, "apps.sync.services.consume_webhook_delivery"]
# -- API gateway (apps.gateway) -------------------------------------------------------------------------

# Which API keys this deployment accepts and mints: `live` in production, `test` everywhere else, so a
# key can never be used against the wrong deployment.
GATEWAY_KEY_ENVIRONMENT = env("GATEWAY_KEY_ENVIRONMENT", default="live")
# Rate limits and quotas live in Redis when there is one (shared by every worker), in-process otherwise.
GATEWAY_REDIS_URL = env("GATEWAY_REDIS_URL", default=REDIS_URL)
GATEWAY_REDIS_PREFIX = "nofx:gw"
# How long an Idempotency-Key's first answer is replayed, and after how long an unfinished claim is abandoned.
GATEWAY_IDEMPOTENCY_TTL = timedelta(hours=24)
GATEWAY_IDEMPOTENCY_LEASE_SECONDS = 120
# A client refused with 429 this many times within the window is reported to the security team.
GATEWAY_HAMMERING_THRESHOLD = env.int("GATEWAY_HAMMERING_THRESHOLD", default=120)
GATEWAY_HAMMERING_WINDOW_SECONDS = 60
# Raw usage records are kept this long; the daily roll-up is kept for good.
GATEWAY_USAGE_RETENTION_DAYS = env.int("GATEWAY_USAGE_RETENTION_DAYS", default=35)
# Each process writes its usage records in batches: at most this many seconds after a call (0 writes every
# record during its call), or at once when this many are waiting.
GATEWAY_USAGE_FLUSH_SECONDS = env.float("GATEWAY_USAGE_FLUSH_SECONDS", default=1.0)
GATEWAY_USAGE_FLUSH_BATCH = env.int("GATEWAY_USAGE_FLUSH_BATCH", default=500)
# Records kept in memory while the database refuses them; past this the oldest are dropped (and logged).
GATEWAY_USAGE_MAX_PENDING = env.int("GATEWAY_USAGE_MAX_PENDING", default=50_000)

# -- Marketplace --------------------------------------------------------------------------------------

# PEM (PKCS#8) Ed25519 private key that signs every certified package. Production reads it from the
# environment; local development generates one under var/secrets; the test suite makes one per run.
MARKETPLACE_SIGNING_KEY = env("MARKETPLACE_SIGNING_KEY", default="").replace("\\n", "\n")
# Who may install paid plans: billing replaces this dotted path with its own entitlement check.
MARKETPLACE_ENTITLEMENT_CHECK = env(
    "MARKETPLACE_ENTITLEMENT_CHECK", default="apps.marketplace.entitlements.free_plans_only"
)
# Where the install flow sends a customer to pay for a plan: billing's Stripe Checkout once Stripe keys are set.
MARKETPLACE_CHECKOUT = env("MARKETPLACE_CHECKOUT", default="apps.marketplace.checkout.checkout_unavailable")
# Organizations may review an extension while it is installed and this long after uninstalling it.
MARKETPLACE_REVIEW_WINDOW = timedelta(days=env.int("MARKETPLACE_REVIEW_WINDOW_DAYS", default=90))
# Signed webhooks to extensions are retried with backoff for this long, then given up.
MARKETPLACE_WEBHOOK_RETRY_WINDOW = timedelta(days=3)
MARKETPLACE_MAX_PACKAGE_BYTES = env.int("MARKETPLACE_MAX_PACKAGE_BYTES", default=20 * 1024 * 1024)

# -- Security operations ------------------------------------------------------------------------------

# Our own reverse proxies (CIDR blocks): only from them are X-Forwarded-For and the client-certificate
# headers believed. One list for every rule that looks at a caller's address (gateway allow-lists, IP rules,
# lockouts, threat detection), so they all see the same address.
TRUSTED_PROXIES: list[str] = env.list("TRUSTED_PROXIES", default=["127.0.0.1/32", "::1/128"])
# How often a process re-reads the IP-rules version from the cache (seconds): the delay before a new
# rule reaches every worker.
SECURITY_IP_RULES_RECHECK_SECONDS = env.float("SECURITY_IP_RULES_RECHECK_SECONDS", default=2.0)
# A process reports the same bearer token from the same address to the distant-use rule at most this often.
SECURITY_TOKEN_SEEN_LOCAL_SECONDS = env.float("SECURITY_TOKEN_SEEN_LOCAL_SECONDS", default=1.0)
# Each process adds up its API calls for the usage-anomaly rule and adds them to the shared counters this
# often (0: every call at once), or at once when this many wait; a count the cache refuses is dropped.
SECURITY_API_TALLY_FLUSH_SECONDS = env.float("SECURITY_API_TALLY_FLUSH_SECONDS", default=1.0)
SECURITY_API_TALLY_FLUSH_BATCH = env.int("SECURITY_API_TALLY_FLUSH_BATCH", default=2000)
# Request bodies above this are refused with 413; longer path prefixes can allow more (or less).
SECURITY_MAX_REQUEST_BYTES = env.int("SECURITY_MAX_REQUEST_BYTES", default=10 * 1024 * 1024)
SECURITY_REQUEST_SIZE_OVERRIDES: dict[str, int] = {
    "/api/v1/compliance-evidence/": 50 * 1024 * 1024,
    "/compliance/": 50 * 1024 * 1024,
    "/developers/": 50 * 1024 * 1024,
}
# Offline MaxMind-format databases (.mmdb). Without them the login rules compare address ranges instead.
SECURITY_GEOIP_CITY_DATABASE = env("SECURITY_GEOIP_CITY_DATABASE", default="")
SECURITY_GEOIP_ASN_DATABASE = env("SECURITY_GEOIP_ASN_DATABASE", default="")
# Per-deployment tuning of detector thresholds (names in apps.security.detectors.Thresholds).
SECURITY_DETECTOR_THRESHOLDS: dict[str, float] = {}
# Which responses each severity may take automatically (None: apps.security.responses.DEFAULT_LADDER).
SECURITY_RESPONSE_LADDER: dict[str, tuple[str, ...]] | None = None
# Minutes a lock or an address block lasts, per severity (missing: DEFAULT_DURATIONS).
SECURITY_RESPONSE_DURATION_MINUTES: dict[str, int] = {}

# Ed25519 key that signs the hourly audit checkpoints. Kept outside the database: a file path, or the
# raw 32-byte key base64-encoded in the environment. Verification needs only the public key.
AUDIT_SIGNING_KEY = env("AUDIT_SIGNING_KEY", default="")
AUDIT_SIGNING_KEY_FILE = env("AUDIT_SIGNING_KEY_FILE", default="")

# Events of actions taken through the gateway (apps.security.services.record_audit_event_later) are written
# by each process in batches, as usage records are: at most this many seconds after the call (0 writes each
# once its response is sent), or at once when this many are waiting; past the cap the oldest are dropped.
AUDIT_WRITER_FLUSH_SECONDS = env.float("AUDIT_WRITER_FLUSH_SECONDS", default=1.0)
AUDIT_WRITER_FLUSH_BATCH = env.int("AUDIT_WRITER_FLUSH_BATCH", default=500)
AUDIT_WRITER_MAX_PENDING = env.int("AUDIT_WRITER_MAX_PENDING", default=50_000)
# The writer waits at most this long (seconds) for a chain's head that a request's transaction holds, then
# keeps its batch for the next flush: it gives way before PostgreSQL's deadlock check (1 s) could pick
# the request's transaction to abort.
AUDIT_WRITER_LOCK_TIMEOUT = env.float("AUDIT_WRITER_LOCK_TIMEOUT", default=0.2)

# -- Operations ---------------------------------------------------------------------------------------

# When set, /metrics requires `Authorization: Bearer <token>`.
METRICS_TOKEN = env("METRICS_TOKEN", default="")
REQUEST_ID_HEADER = "X-Request-ID"

LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOG_FORMAT = env("LOG_FORMAT", default="json")
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "apps.core.logging.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # A bad Host header is noise from scanners, not an error of ours.
        "django.security.DisallowedHost": {"level": "WARNING", "propagate": False, "handlers": []},
        "celery": {"level": LOG_LEVEL},
        # httpx logs every request URL at INFO; query strings can carry API keys and vendor queries.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # pysaml2 and its schema loader narrate every document they read.
        "saml2": {"level": "WARNING"},
        "xmlschema": {"level": "WARNING"},
    },
}

# -- Billing (Stripe) ---------------------------------------------------------------------------------

# Test-mode keys only unless STRIPE_LIVE_MODE; without a secret key paid plans show as unavailable.
STRIPE_LIVE_MODE = env.bool("STRIPE_LIVE_MODE", default=False)
STRIPE_TEST_SECRET_KEY = env("STRIPE_TEST_SECRET_KEY", default="")
STRIPE_LIVE_SECRET_KEY = env("STRIPE_LIVE_SECRET_KEY", default="")
STRIPE_TEST_PUBLIC_KEY = env("STRIPE_TEST_PUBLIC_KEY", default="")
# Where stripe-python sends requests (a local fake such as localstripe in development). Defined only when
# given: dj-stripe points the client at any STRIPE_API_HOST that exists, even an empty one.
if env("STRIPE_API_HOST", default=""):
    STRIPE_API_HOST = env("STRIPE_API_HOST")
DJSTRIPE_WEBHOOK_SECRET = env("DJSTRIPE_WEBHOOK_SECRET", default="")
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_USE_NATIVE_JSONFIELD = True
BILLING_STRIPE_CONFIGURED = bool(STRIPE_LIVE_SECRET_KEY if STRIPE_LIVE_MODE else STRIPE_TEST_SECRET_KEY)
if BILLING_STRIPE_CONFIGURED:
    # With keys, paid plans are bought through Stripe Checkout and checked against billing's licenses.
    MARKETPLACE_CHECKOUT = env("MARKETPLACE_CHECKOUT", default="apps.billing.checkout.begin_paid_install")
    MARKETPLACE_ENTITLEMENT_CHECK = env(
        "MARKETPLACE_ENTITLEMENT_CHECK", default="apps.billing.entitlements.licensed_plans"
    )
# The platform's share of a sale, by publisher tier: nothing on a publisher's first US$1M of lifetime sales,
# then 15 %. A publisher's own `fee_percent` (set by an operator) overrides the tiers.
BILLING_FEE_FREE_THRESHOLD_CENTS = env.int("BILLING_FEE_FREE_THRESHOLD_CENTS", default=100_000_000)
BILLING_FEE_PERCENT = env("BILLING_FEE_PERCENT", default="15")
# A subscription whose payment failed keeps working this long before its installation is disabled.
BILLING_GRACE_PERIOD = timedelta(days=env.int("BILLING_GRACE_PERIOD_DAYS", default=7))
# dj-stripe warns whenever STRIPE_API_HOST is set; pointing at a local fake Stripe is what it is for here.
SILENCED_SYSTEM_CHECKS = ["djstripe.W002"] if env("STRIPE_API_HOST", default="") else []
