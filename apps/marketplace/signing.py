"""The platform's Ed25519 signature over each package's SHA-256: customers and the SDK verify that a package
is the one our pipeline certified. The private key comes from settings (the environment in production)."""

from __future__ import annotations

import base64
import hashlib
from functools import cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@cache
def _private_key(pem: str) -> Ed25519PrivateKey:
    if not pem:
        raise ImproperlyConfigured("MARKETPLACE_SIGNING_KEY is empty: packages cannot be signed.")
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured("MARKETPLACE_SIGNING_KEY must be an Ed25519 private key (PEM, PKCS#8).")
    return key


def signing_key() -> Ed25519PrivateKey:
    return _private_key(settings.MARKETPLACE_SIGNING_KEY)


def public_key_pem() -> str:
    return (
        signing_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def key_id() -> str:
    """A short, stable name of the current key, stored beside each signature (for rotation)."""
    raw = signing_key().public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign_digest(sha256_hex: str) -> str:
    """Base64 Ed25519 signature of the package's hex SHA-256 (as ASCII)."""
    return base64.b64encode(signing_key().sign(sha256_hex.encode())).decode()


def sign_message(message: bytes) -> str:
    """Base64 Ed25519 signature of arbitrary bytes (e.g. a registration call an app verifies with our public key)."""
    return base64.b64encode(signing_key().sign(message)).decode()


def verify_digest(sha256_hex: str, signature_b64: str, public_pem: str | None = None) -> bool:
    public = serialization.load_pem_public_key(public_pem.encode()) if public_pem else signing_key().public_key()
    if not isinstance(public, Ed25519PublicKey):
        return False
    try:
        public.verify(base64.b64decode(signature_b64), sha256_hex.encode())
    except (InvalidSignature, ValueError):
        return False
    return True


def generate_private_key_pem() -> str:
    return (
        Ed25519PrivateKey.generate()
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
