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
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # SAML's own short-lived session (outstanding requests), on its own cookie; see SAML_SESSION_COOKIE_SAMESITE.
    "djangosaml2.middleware.SamlSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
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
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "nofx",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "nofx"}}

# -- Authentication -----------------------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
# Order matters: axes refuses locked-out accounts and IPs before any password is checked. The password
# backend refuses members of organizations that require SSO (their break-glass owner excepted); the SSO
# backend only restores sessions that the SAML/OIDC views opened after verifying the IdP's answer.
AUTHENTICATION_BACKENDS = [
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
# Behind nginx the client's address is the last hop it appends (see docker/nginx).
AXES_IPWARE_PROXY_COUNT = env.int("AXES_IPWARE_PROXY_COUNT", default=0) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]

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
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# -- Email --------------------------------------------------------------------------------------------

EMAIL_BACKEND = env("DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="NOFX Control Plane <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# -- Django REST framework and the OpenAPI schema -------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.core.authentication.SessionAuthentication",
        "apps.accounts.oauth.OrganizationOAuth2Authentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
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
        "The REST API of the NOFX Control Plane: organizations, teams, memberships, invitations and the "
        "audit log. Every error is an RFC 9457 problem document (`application/problem+json`). Authenticate "
        "with the console's session or an OAuth2 bearer token from an app your organization registered."
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
    },
    "TAGS": [
        {"name": "me", "description": "The signed-in principal."},
        {"name": "organizations", "description": "Organizations (tenants) the principal belongs to."},
        {"name": "memberships", "description": "Who belongs to the organization, with which role."},
        {"name": "teams", "description": "Nested teams inside the organization."},
        {"name": "invitations", "description": "Invitations to join the organization."},
        {"name": "audit", "description": "The organization's tamper-evident audit log (read-only)."},
        {"name": "access", "description": "Who can do what on an object, and why."},
    ],
}

# -- Celery ---------------------------------------------------------------------------------------------

CELERY_BROKER_DIR = VAR_DIR / "celery"
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
    "refresh-saml-metadata-daily": {
        "task": "apps.accounts.tasks.refresh_saml_metadata_task",
        "schedule": crontab(hour=3, minute=17),
    },
    "clear-expired-credentials-daily": {
        "task": "apps.accounts.tasks.clear_expired_credentials_task",
        "schedule": crontab(hour=4, minute=23),
    },
}

# -- Outbound HTTP ------------------------------------------------------------------------------------

# Outbound requests to customer- or developer-supplied URLs refuse private, loopback and link-local
# addresses unless this is on (tests and the local sandboxes turn it on).
OUTBOUND_ALLOW_PRIVATE_ADDRESSES = env.bool("OUTBOUND_ALLOW_PRIVATE_ADDRESSES", default=False)

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
        # pysaml2 and its schema loader narrate every document they read.
        "saml2": {"level": "WARNING"},
        "xmlschema": {"level": "WARNING"},
    },
}
