"""Signed checkpoints of the audit chains, kept outside the database.

Every hour the head (seq and hash) of every chain is written into one JSON document, signed with an
Ed25519 key that the database never sees, and stored in the `audit_checkpoints` storage. Someone who
can rewrite the database can rebuild a self-consistent hash chain, but cannot make it match a checkpoint
signed before the rewrite. Verification needs only the public key, the documents and the events (from a
database connection or a JSON Lines dump).

Document format (`nofx-audit-checkpoint/1`):

    {"checkpoint": {"format": ..., "created_at": ISO-8601, "key_id": hex, "heads": [{"chain", "seq", "hash"}]},
     "signature": base64(Ed25519 signature over the canonical JSON of "checkpoint")}
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import transaction
from django.utils import timezone

from apps.security.audit_chain import event_hash
from apps.security.models import GENESIS_HASH, AuditChainHead, AuditCheckpoint

FORMAT = "nofx-audit-checkpoint/1"


def canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _parse_private_key(material: bytes) -> Ed25519PrivateKey:
    text = material.strip()
    if text.startswith(b"-----BEGIN"):
        key = serialization.load_pem_private_key(text, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ImproperlyConfigured("The audit signing key is not an Ed25519 key.")
        return key
    raw = base64.b64decode(text)
    if len(raw) != 32:
        raise ImproperlyConfigured("The audit signing key must be 32 raw bytes, base64-encoded, or a PEM file.")
    return Ed25519PrivateKey.from_private_bytes(raw)


def signing_key() -> Ed25519PrivateKey:
    """The private key, from AUDIT_SIGNING_KEY (the environment) or AUDIT_SIGNING_KEY_FILE."""
    if settings.AUDIT_SIGNING_KEY:
        return _parse_private_key(settings.AUDIT_SIGNING_KEY.encode())
    if settings.AUDIT_SIGNING_KEY_FILE:
        return _parse_private_key(Path(settings.AUDIT_SIGNING_KEY_FILE).read_bytes())
    raise ImproperlyConfigured("Set AUDIT_SIGNING_KEY or AUDIT_SIGNING_KEY_FILE to sign audit checkpoints.")


def public_key_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("The public key is not an Ed25519 key.")
    return key


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:32]


def write_audit_checkpoint() -> AuditCheckpoint:
    """Sign the current head of every chain and store the document outside the database."""
    from apps.security.services import record_audit_event

    key = signing_key()
    now = timezone.now()
    heads = [
        {"chain": chain, "seq": seq, "hash": digest}
        for chain, seq, digest in AuditChainHead.objects.order_by("chain").values_list("chain", "seq", "hash")
    ]
    kid = key_id(key.public_key())
    body: dict[str, Any] = {"format": FORMAT, "created_at": now.isoformat(), "key_id": kid, "heads": heads}
    document = canonical({"checkpoint": body, "signature": base64.b64encode(key.sign(canonical(body))).decode()})
    name = f"checkpoints/{now:%Y/%m/%d}/{now:%Y%m%dT%H%M%S%fZ}.json"
    stored = storages["audit_checkpoints"].save(name, ContentFile(document))
    with transaction.atomic():
        checkpoint = AuditCheckpoint.objects.create(
            created_at=now,
            name=stored,
            key_id=kid,
            chains=len(heads),
            sha256=hashlib.sha256(document).hexdigest(),
        )
        record_audit_event(
            actor=None, action="security.audit_checkpoint_written", data={"name": stored, "chains": len(heads)}
        )
    return checkpoint


# -- Verification (offline: public key + documents + events) ------------------------------------------------


@dataclass
class CheckpointReport:
    documents: int = 0
    chains: int = 0
    checked_heads: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def read_checkpoint_documents(directory: str | None = None) -> list[tuple[str, bytes]]:
    """Every checkpoint document, oldest first: from a directory, or from the configured storage."""
    if directory is not None:
        root = Path(directory)
        return [(str(p.relative_to(root)), p.read_bytes()) for p in sorted(root.rglob("*.json"))]
    storage = storages["audit_checkpoints"]
    found: list[tuple[str, bytes]] = []

    def walk(prefix: str) -> None:
        if not storage.exists(prefix or "."):
            return
        dirs, files = storage.listdir(prefix)
        for name in sorted(files):
            if name.endswith(".json"):
                path = f"{prefix}/{name}" if prefix else name
                with storage.open(path, "rb") as handle:
                    found.append((path, handle.read()))
        for sub in sorted(dirs):
            walk(f"{prefix}/{sub}" if prefix else sub)

    walk("checkpoints")
    return sorted(found)


def verify_checkpoints(
    *,
    public_key: Ed25519PublicKey,
    documents: Iterable[tuple[str, bytes]],
    rows_of_chain: Callable[[str], Iterable[dict[str, Any]]],
) -> CheckpointReport:
    """Check each document's signature, then that every chain still passes through each signed head."""
    report = CheckpointReport()
    expected_key = key_id(public_key)
    signed: dict[str, dict[int, tuple[str, str]]] = {}
    for name, raw in documents:
        report.documents += 1
        try:
            wrapper = json.loads(raw)
            body = wrapper["checkpoint"]
            signature = base64.b64decode(wrapper["signature"])
            public_key.verify(signature, canonical(body))
        except InvalidSignature:
            report.problems.append(f"{name}: the signature does not match (the document was altered or forged).")
            continue
        except (ValueError, KeyError, TypeError) as exc:
            report.problems.append(f"{name}: not a readable checkpoint ({exc}).")
            continue
        if body.get("format") != FORMAT or body.get("key_id") != expected_key:
            report.problems.append(f"{name}: signed by another key or in an unknown format.")
            continue
        for head in body["heads"]:
            if head["seq"] > 0:
                signed.setdefault(head["chain"], {})[int(head["seq"])] = (head["hash"], name)
    for chain in sorted(signed):
        report.chains += 1
        wanted = signed[chain]
        prev_hash = GENESIS_HASH
        expected_seq = 1
        broken = False
        for row in rows_of_chain(chain):
            if row["seq"] != expected_seq or row["prev_hash"] != prev_hash or event_hash(row) != row["hash"]:
                report.problems.append(f"chain {chain}: the events do not form an intact chain at seq {expected_seq}.")
                broken = True
                break
            if row["seq"] in wanted:
                report.checked_heads += 1
                digest, name = wanted[row["seq"]]
                if digest != row["hash"]:
                    report.problems.append(
                        f"chain {chain}: seq {row['seq']} differs from the head signed in {name} (history rewritten)."
                    )
                    broken = True
                    break
            prev_hash = row["hash"]
            expected_seq += 1
        if not broken and expected_seq - 1 < max(wanted):
            report.problems.append(
                f"chain {chain}: only {expected_seq - 1} events exist but seq {max(wanted)} was signed "
                "(events removed)."
            )
    return report
