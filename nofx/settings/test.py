"""Settings for the test suite: PostgreSQL when `DATABASE_URL` is set, SQLite otherwise."""

import os
import tempfile
from base64 import b64encode
from secrets import token_urlsafe

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from apps.marketplace.signing import generate_private_key_pem

from .base import *  # noqa: F403
from .base import BASE_DIR, CACHES, INSTALLED_APPS, OAUTH2_PROVIDER, STORAGES, TEMPLATES, env

DEBUG = False
SECRET_KEY = "test-only-not-a-secret"  # noqa: S105 - the suite's own throwaway key
ALLOWED_HOSTS = ["*"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Checkpoints and evidence of one run go to a throwaway directory.
_RUN_DIR = tempfile.mkdtemp(prefix="nofx-test-")
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "audit_checkpoints": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": f"{_RUN_DIR}/audit-checkpoints"},
    },
    "evidence": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": f"{_RUN_DIR}/evidence"},
    },
}
# A fresh audit signing key for every run.
AUDIT_SIGNING_KEY = b64encode(
    Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
).decode()
AUDIT_SIGNING_KEY_FILE = ""
# Rule changes are seen by the very next request.
SECURITY_IP_RULES_RECHECK_SECONDS = 0.0
PROCESS_CACHE_RECHECK_SECONDS = 0.0
SECURITY_TOKEN_SEEN_LOCAL_SECONDS = 0.0
SECURITY_API_TALLY_FLUSH_SECONDS = 0.0
# Fresh Fernet keys for every run: nothing encrypted by the suite outlives it.
FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), Fernet.generate_key().decode()]
# A fresh package-signing key for every run.
MARKETPLACE_SIGNING_KEY = generate_private_key_pem()
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = "memory://"
CELERY_RESULT_BACKEND = "cache+memory://"
LOG_FORMAT = "plain"
LOGGING["handlers"]["console"]["formatter"] = "plain"
LOGGING["root"]["level"] = env("LOG_LEVEL", default="WARNING")
OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
# A fresh replication secret per run (the two-region tests hand it to both app processes).
REGION_REPLICATION_SECRETS = env.list("NOFX_REGION_REPLICATION_SECRETS", default=[]) or [token_urlsafe(32)]
REGION_BACKUP_DIR = env("NOFX_BACKUP_DIR", default=str(BASE_DIR / "var" / "test-backups"))
# An undefined variable in a template is a bug; make it loud in tests.
TEMPLATES[0]["OPTIONS"]["string_if_invalid"] = "INVALID_TEMPLATE_VARIABLE(%s)"
MEDIA_ROOT = env("MEDIA_ROOT", default=str(BASE_DIR / "var" / "test-media"))


def _fresh_rsa_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


# The OAuth2 provider's OpenID Connect signing key: made for this run, like the Fernet keys.
OAUTH2_PROVIDER = {**OAUTH2_PROVIDER, "OIDC_ENABLED": True, "OIDC_RSA_PRIVATE_KEY": _fresh_rsa_key()}

# Models that only the suite uses (e.g. to exercise encrypted fields); created without migrations.
INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]
# Static files come from the finders, as in development; nothing is collected before the suite runs.
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
GATEWAY_KEY_ENVIRONMENT = "test"
# Each xdist worker keeps its cache and rate-limit keys under its own prefix in the shared Redis database,
# so one worker clearing its keys between tests never touches another's (see tests/conftest.py).
TEST_REDIS_PREFIX = f"nofx-test-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
CACHES["default"]["KEY_PREFIX"] = TEST_REDIS_PREFIX
GATEWAY_REDIS_PREFIX = f"{TEST_REDIS_PREFIX}:gw"
# Tests read a call's usage record right after the call; the batching writer has its own tests.
GATEWAY_USAGE_FLUSH_SECONDS = 0.0
# The same for the audit events of gateway actions (tests/core/test_batching.py tests the writers).
AUDIT_WRITER_FLUSH_SECONDS = 0.0
# Every connector call takes and returns its own rate-budget slot (tests/connectors/test_rate_budget.py
# tests the leases).
CONNECTOR_RATE_LEASE_SIZE = 1
# A request's traffic figures are added during the request, so they are gone with the test's cache keys
# (a background flush would drop one test's figures into a later test); tests/regions has its own.
REGIONS_TRAFFIC_FLUSH_SECONDS = 0.0
CONNECTOR_RATE_LEASE_FLUSH_SECONDS = 0.0

# Billing talks to a fake Stripe on loopback only (tests/billing/conftest.py points it at localstripe or at
# recorded answers); this host answers nothing, so a test that forgets to is refused instead of reaching out.
STRIPE_TEST_SECRET_KEY = "sk_test_" + "0" * 24
STRIPE_API_HOST = "http://127.0.0.1:9"
DJSTRIPE_WEBHOOK_SECRET = "whsec_" + token_urlsafe(24)
SILENCED_SYSTEM_CHECKS = ["djstripe.W002"]
