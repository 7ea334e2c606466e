"""Signed audit checkpoints: written outside the database, verified offline with the public key alone."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core.management import CommandError, call_command

from apps.security import audit_chain
from apps.security.checkpoints import public_key_pem, signing_key, write_audit_checkpoint
from apps.security.models import AuditChainHead, AuditCheckpoint, AuditEvent
from apps.security.services import record_audit_event
from tests.factories.accounts import OrganizationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def checkpoint_dir(tmp_path, settings):
    directory = tmp_path / "checkpoints"
    settings.STORAGES = {
        **settings.STORAGES,
        "audit_checkpoints": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(directory)},
        },
    }
    from django.core.files.storage import storages

    storages._storages.pop("audit_checkpoints", None)
    yield directory
    storages._storages.pop("audit_checkpoints", None)


@pytest.fixture
def public_key_file(tmp_path):
    path = tmp_path / "audit.pub.pem"
    path.write_bytes(public_key_pem(signing_key()))
    return path


def _events(organization, n):
    return [
        record_audit_event(actor=None, action=f"test.e{i}", organization=organization, data={"i": i}) for i in range(n)
    ]


def _verify(public_key_file, checkpoint_dir, **extra):
    call_command(
        "verify_audit_checkpoints", "--public-key", str(public_key_file), "--checkpoints", str(checkpoint_dir), **extra
    )


def test_a_checkpoint_signs_every_chain_head_into_storage_outside_the_database(checkpoint_dir):
    # given
    first, second = OrganizationFactory(), OrganizationFactory()
    _events(first, 3)
    _events(second, 2)
    # when
    checkpoint = write_audit_checkpoint()
    # then
    stored = checkpoint_dir / checkpoint.name
    document = json.loads(stored.read_text())
    heads = {h["chain"]: h["seq"] for h in document["checkpoint"]["heads"]}
    assert heads == {str(first.pk): 3, str(second.pk): 2}
    assert AuditCheckpoint.objects.get().sha256 == hashlib.sha256(stored.read_bytes()).hexdigest()
    assert "PRIVATE" not in stored.read_text()


def test_the_checkpoints_verify_offline_with_the_public_key_alone(checkpoint_dir, public_key_file, capsys):
    organization = OrganizationFactory()
    _events(organization, 3)
    write_audit_checkpoint()
    _events(organization, 2)
    write_audit_checkpoint()

    _verify(public_key_file, checkpoint_dir)

    assert "2 checkpoints verified" in capsys.readouterr().out


def test_verification_also_works_from_a_dump_instead_of_the_database(checkpoint_dir, public_key_file, tmp_path):
    organization = OrganizationFactory()
    _events(organization, 4)
    write_audit_checkpoint()
    dump = tmp_path / "audit.jsonl"
    call_command("dump_audit_log", str(dump))
    # the dump is edited: the verifier reads it, not the database
    lines = dump.read_text().splitlines()
    row = json.loads(lines[1])
    row["data"] = {"i": 999}
    lines[1] = json.dumps(row)

    _verify(public_key_file, checkpoint_dir, dump=str(dump))
    (tmp_path / "edited.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(CommandError, match="intact chain at seq 2"):
        _verify(public_key_file, checkpoint_dir, dump=str(tmp_path / "edited.jsonl"))


def test_an_edited_event_is_caught(checkpoint_dir, public_key_file):
    organization = OrganizationFactory()
    events = _events(organization, 4)
    write_audit_checkpoint()

    AuditEvent.objects.filter(pk=events[2].pk).update(data={"i": 42})

    with pytest.raises(CommandError, match="seq 3"):
        _verify(public_key_file, checkpoint_dir)


def test_a_history_rewritten_and_rehashed_consistently_still_fails_the_signed_checkpoint(
    checkpoint_dir, public_key_file
):
    # given a checkpointed chain
    organization = OrganizationFactory()
    _events(organization, 4)
    write_audit_checkpoint()
    # when someone with write access rewrites event 2 and re-hashes everything after it, head included
    rows = list(
        AuditEvent.objects.filter(chain=str(organization.pk)).order_by("seq").values("pk", *audit_chain.HASHED_FIELDS)
    )
    prev = "0" * 64
    for row in rows:
        if row["seq"] == 2:
            row["data"] = {"i": "forged"}
        row["prev_hash"] = prev
        new_hash = audit_chain.event_hash(row)
        AuditEvent.objects.filter(pk=row["pk"]).update(data=row["data"], prev_hash=prev, hash=new_hash)
        prev = new_hash
    AuditChainHead.objects.filter(chain=str(organization.pk)).update(hash=prev)
    # then the chain alone looks intact, but the signed head does not match
    assert audit_chain.verify_all_chains().ok
    with pytest.raises(CommandError, match="differs from the head signed"):
        _verify(public_key_file, checkpoint_dir)


def test_removing_the_newest_events_is_caught(checkpoint_dir, public_key_file):
    organization = OrganizationFactory()
    events = _events(organization, 5)
    write_audit_checkpoint()

    AuditEvent.objects.filter(pk__in=[events[3].pk, events[4].pk]).delete()

    with pytest.raises(CommandError, match="events removed"):
        _verify(public_key_file, checkpoint_dir)


def test_an_altered_checkpoint_document_fails_its_signature(checkpoint_dir, public_key_file):
    _events(OrganizationFactory(), 2)
    checkpoint = write_audit_checkpoint()
    path = Path(checkpoint_dir) / checkpoint.name
    document = json.loads(path.read_text())
    document["checkpoint"]["heads"][0]["seq"] = 1
    path.write_text(json.dumps(document))

    with pytest.raises(CommandError, match="signature does not match"):
        _verify(public_key_file, checkpoint_dir)


def test_another_key_cannot_vouch_for_the_checkpoints(checkpoint_dir, tmp_path):
    _events(OrganizationFactory(), 2)
    write_audit_checkpoint()
    stranger = tmp_path / "stranger.pem"
    stranger.write_bytes(public_key_pem(Ed25519PrivateKey.generate()))

    with pytest.raises(CommandError, match="signature does not match"):
        _verify(stranger, checkpoint_dir)


def test_the_signing_key_is_configured_outside_the_database():
    assert settings.AUDIT_SIGNING_KEY or settings.AUDIT_SIGNING_KEY_FILE
    assert "audit_checkpoints" in settings.STORAGES
