"""Secrets are encrypted at rest, readable with any configured key, and rotatable."""

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection

from apps.core import crypto
from apps.core.crypto import DecryptionError
from apps.security.models import AuditEvent
from tests.factories.accounts import OrganizationFactory
from tests.testapp.models import SecretHolder


def _raw(column: str, pk) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {column} FROM testapp_secretholder WHERE id = %s",
            [pk.hex if connection.vendor == "sqlite" else pk],
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_secrets_are_stored_as_ciphertext_and_read_back_as_plaintext():
    # given
    holder = SecretHolder.objects.create(
        organization=OrganizationFactory(), name="jira", token="s3cr3t-token", credentials={"client_secret": "abc"}
    )
    # when
    reloaded = SecretHolder.objects.get(pk=holder.pk)
    # then
    assert reloaded.token == "s3cr3t-token"
    assert reloaded.credentials == {"client_secret": "abc"}
    assert "s3cr3t" not in _raw("token", holder.pk)
    assert "client_secret" not in _raw("credentials", holder.pk)


@pytest.mark.django_db
def test_the_same_secret_encrypts_differently_each_time():
    org = OrganizationFactory()
    a = SecretHolder.objects.create(organization=org, name="a", token="same")
    b = SecretHolder.objects.create(organization=org, name="b", token="same")

    assert _raw("token", a.pk) != _raw("token", b.pk)


@pytest.mark.django_db
def test_empty_and_missing_values_stay_empty():
    holder = SecretHolder.objects.create(organization=OrganizationFactory(), name="none", token="", credentials=None)

    reloaded = SecretHolder.objects.get(pk=holder.pk)

    assert (reloaded.token, reloaded.credentials) == ("", None)


@pytest.mark.django_db
def test_rotation_re_encrypts_under_the_new_key_so_the_old_key_can_be_dropped(settings):
    # given a secret written under the old key
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    holder = SecretHolder.objects.create(organization=OrganizationFactory(), name="gh", token="ghp_rotate_me")
    new_key = Fernet.generate_key().decode()
    # when a new key is put first and rotation runs
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    call_command("rotate_encryption_keys")
    # then only the new key is needed
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert SecretHolder.objects.get(pk=holder.pk).token == "ghp_rotate_me"
    assert AuditEvent.objects.filter(action="core.encryption_keys_rotated").exists()


@pytest.mark.django_db
def test_rotation_without_the_old_key_stops_with_a_clear_error(settings):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    SecretHolder.objects.create(organization=OrganizationFactory(), name="x", token="lost")
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    with pytest.raises(CommandError, match="Keep the old key"):
        call_command("rotate_encryption_keys")


def test_decrypting_with_an_unknown_key_raises_a_decryption_error(settings):
    token = crypto.encrypt("hello")
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    with pytest.raises(DecryptionError):
        crypto.decrypt(token)


def test_an_invalid_key_in_settings_is_reported_as_misconfiguration(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.FIELD_ENCRYPTION_KEYS = ["not-a-fernet-key"]

    with pytest.raises(ImproperlyConfigured, match="invalid Fernet key"):
        crypto.encrypt("x")
