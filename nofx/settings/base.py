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
    "apps.security.middleware.RequestSizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.security.middleware.NetworkRulesMiddleware",
    "apps.security.middleware.AccountSecurityMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
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
AUTHENTICATION_BACKENDS = [
    # First: a locked account is refused before any backend checks its password.
    "apps.security.authentication.LockedAccountBackend",
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
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
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.core.authentication.SessionAuthentication",
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
        "The REST API of the NOFX Control Plane: organizations, teams, memberships, invitations, the audit "
        "log, security events and IP rules, and compliance assessments. Every error is an RFC 9457 problem "
        "document (`application/problem+json`)."
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
        {"name": "security", "description": "Security events, automated responses and IP rules."},
        {"name": "compliance", "description": "Compliance assessments, findings and evidence."},
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

# -- Outbound HTTP ------------------------------------------------------------------------------------

# Outbound requests to customer- or developer-supplied URLs refuse private, loopback and link-local
# addresses unless this is on (tests and the local sandboxes turn it on).
OUTBOUND_ALLOW_PRIVATE_ADDRESSES = env.bool("OUTBOUND_ALLOW_PRIVATE_ADDRESSES", default=False)

# -- Security operations ------------------------------------------------------------------------------

# Addresses of our own reverse proxies: only from them is X-Forwarded-For believed.
SECURITY_TRUSTED_PROXIES: list[str] = env.list("SECURITY_TRUSTED_PROXIES", default=[])
# How often a process re-reads the IP-rules version from the cache (seconds): the delay before a new
# rule reaches every worker.
SECURITY_IP_RULES_RECHECK_SECONDS = env.float("SECURITY_IP_RULES_RECHECK_SECONDS", default=2.0)
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
    },
}
