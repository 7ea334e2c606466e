"""Local development and the `make run` demo: debug on, console email, no services required."""

from base64 import b64encode
from collections.abc import Callable
from secrets import token_urlsafe

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from apps.marketplace.signing import generate_private_key_pem

from .base import *  # noqa: F403
from .base import MARKETPLACE_SIGNING_KEY, OAUTH2_PROVIDER, STORAGES, VAR_DIR, env

DEBUG = env.bool("DJANGO_DEBUG", default=True)


def _local_secret(name: str, make: Callable[[], str]) -> str:
    """Read a per-checkout secret from var/secrets/, creating it on first use (never committed)."""
    path = VAR_DIR / "secrets" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env("DJANGO_SECRET_KEY", default="") or _local_secret("django-secret-key", lambda: token_urlsafe(50))
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[]) or [
    _local_secret("field-encryption-key", lambda: Fernet.generate_key().decode())
]
MARKETPLACE_SIGNING_KEY = MARKETPLACE_SIGNING_KEY or _local_secret(
    "marketplace-signing-key.pem", generate_private_key_pem
)
# Every region run from this checkout (scripts/region-up.sh) shares this secret, so they can replicate.
REGION_REPLICATION_SECRETS = env.list("NOFX_REGION_REPLICATION_SECRETS", default=[]) or [
    _local_secret("region-replication-secret", lambda: token_urlsafe(32))
]


def _rsa_private_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


OAUTH2_PROVIDER = {
    **OAUTH2_PROVIDER,
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": OAUTH2_PROVIDER["OIDC_RSA_PRIVATE_KEY"]
    or _local_secret("oidc-rsa-key.pem", _rsa_private_key),
}


def _new_audit_signing_key() -> str:
    raw = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return b64encode(raw).decode()


# The audit checkpoint key lives in var/secrets/, beside (never inside) the database.
AUDIT_SIGNING_KEY = env("AUDIT_SIGNING_KEY", default="")
AUDIT_SIGNING_KEY_FILE = env("AUDIT_SIGNING_KEY_FILE", default="")
if not AUDIT_SIGNING_KEY and not AUDIT_SIGNING_KEY_FILE:
    _local_secret("audit-signing-key", _new_audit_signing_key)
    AUDIT_SIGNING_KEY_FILE = str(VAR_DIR / "secrets" / "audit-signing-key")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
LOG_FORMAT = env("LOG_FORMAT", default="plain")
LOGGING["handlers"]["console"]["formatter"] = LOG_FORMAT
# The demo's sandboxes listen on loopback.
OUTBOUND_ALLOW_PRIVATE_ADDRESSES = env.bool("OUTBOUND_ALLOW_PRIVATE_ADDRESSES", default=True)
# Keys minted by a development checkout are test keys, refused by production.
GATEWAY_KEY_ENVIRONMENT = env("GATEWAY_KEY_ENVIRONMENT", default="test")
