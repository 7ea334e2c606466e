"""The shapes of gateway credentials: API key strings, certificate fingerprints, CIDR lists.

An API key reads `nofx_<environment>_<key id>_<secret>`: the prefix lets secret scanners and people
recognise it, the key id finds its row with one indexed lookup, and the secret proves possession.

Only SHA-256(secret) is stored. The secret is 40 random base62 characters (about 238 bits), so even
with the table in hand, guessing a secret from its hash is out of reach; a slow password hash would buy
nothing against that and would add milliseconds to every call. A server-side pepper (HMAC) was weighed
and left out: it adds a key to manage and rotate, and rotating it would invalidate every key at once.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes

KEY_ID_ALPHABET = string.ascii_lowercase + string.digits
SECRET_ALPHABET = string.ascii_letters + string.digits
KEY_ID_LENGTH = 12
SECRET_LENGTH = 40
_KEY_PATTERN = re.compile(
    rf"^nofx_(?P<environment>live|test)_(?P<key_id>[a-z0-9]{{{KEY_ID_LENGTH}}})_(?P<secret>[A-Za-z0-9]{{{SECRET_LENGTH}}})$"
)
_FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class MintedKey:
    key_id: str
    secret: str
    environment: str

    @property
    def token(self) -> str:
        """The whole key, shown to its owner once and never stored."""
        return f"nofx_{self.environment}_{self.key_id}_{self.secret}"


@dataclass(frozen=True)
class ParsedKey:
    environment: str
    key_id: str
    secret: str


def mint_key(environment: str) -> MintedKey:
    key_id = "".join(secrets.choice(KEY_ID_ALPHABET) for _ in range(KEY_ID_LENGTH))
    secret = "".join(secrets.choice(SECRET_ALPHABET) for _ in range(SECRET_LENGTH))
    return MintedKey(key_id=key_id, secret=secret, environment=environment)


def parse_key(token: str) -> ParsedKey | None:
    """The parts of a well-formed key, or None for anything else."""
    match = _KEY_PATTERN.match(token)
    if match is None:
        return None
    return ParsedKey(**match.groupdict())


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


# -- Certificates ------------------------------------------------------------------------------------------


def normalise_fingerprint(value: str) -> str | None:
    """A SHA-256 fingerprint as lower-case hex without separators, or None when it is not one.

    Accepts what tools print: `AB:CD:...` (openssl), plain hex (nginx's `$ssl_client_fingerprint` is SHA-1,
    so the edge computes SHA-256 itself; see docs/gateway/mtls.md), optionally prefixed `sha256:`.
    """
    cleaned = value.strip().lower().removeprefix("sha256:").replace(":", "").replace(" ", "")
    return cleaned if _FINGERPRINT.match(cleaned) else None


@dataclass(frozen=True)
class CertificateFacts:
    fingerprint_sha256: str
    subject: str
    issuer: str
    not_after: datetime
    certificate: x509.Certificate


def read_certificate(pem: str) -> CertificateFacts:
    """Parse one PEM certificate; raises ValueError when it is not one."""
    certificate = x509.load_pem_x509_certificate(pem.strip().encode())
    return CertificateFacts(
        fingerprint_sha256=certificate.fingerprint(hashes.SHA256()).hex(),
        subject=certificate.subject.rfc4514_string()[:500],
        issuer=certificate.issuer.rfc4514_string()[:500],
        not_after=certificate.not_valid_after_utc,
        certificate=certificate,
    )


def is_signed_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    if child.issuer != issuer.subject:
        return False
    try:
        child.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


# -- Networks ----------------------------------------------------------------------------------------------

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str]) -> list[Network]:
    """CIDR blocks (a bare address is its own /32 or /128); raises ValueError naming the first bad one."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(str(value).strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"{value!r} is not an IP address or CIDR block.") from exc
    return networks


def address_in(address: str | None, networks: Iterable[Network]) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip.version == network.version and ip in network for network in networks)
