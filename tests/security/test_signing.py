"""Signed internal calls: region to region, webhooks to extensions and customers."""

import pytest
from django.test import RequestFactory

from apps.security.signing import SIGNATURE_HEADER, SignatureError, sign, verify, verify_request

BODY = b'{"event": "directory.changed"}'


def test_a_signed_body_verifies_with_the_same_secret():
    header = sign("region-secret", BODY, timestamp=1_700_000_000)

    verify(["region-secret"], header, BODY, now=1_700_000_100)


def test_a_changed_body_another_secret_or_no_signature_is_refused():
    header = sign("region-secret", BODY, timestamp=1_700_000_000)

    for secrets, signed, body in (
        (["region-secret"], header, BODY + b" "),
        (["other-secret"], header, BODY),
        (["region-secret"], "", BODY),
        (["region-secret"], "t=abc,v1=zz", BODY),
    ):
        with pytest.raises(SignatureError):
            verify(secrets, signed, body, now=1_700_000_000)


def test_a_replayed_call_outside_the_time_window_is_refused():
    header = sign("region-secret", BODY, timestamp=1_700_000_000)

    with pytest.raises(SignatureError, match="too old"):
        verify(["region-secret"], header, BODY, now=1_700_000_301)


def test_during_rotation_either_secret_verifies():
    old = sign("old-secret", BODY, timestamp=1_700_000_000)
    new = sign("new-secret", BODY, timestamp=1_700_000_000)

    verify(["new-secret", "old-secret"], old, BODY, now=1_700_000_000)
    verify(["new-secret", "old-secret"], new, BODY, now=1_700_000_000)


def test_a_django_request_is_verified_from_its_header_and_raw_body():
    header = sign("peer-secret", BODY)
    request = RequestFactory().post(
        "/internal/", data=BODY, content_type="application/json", headers={SIGNATURE_HEADER: header}
    )
    forged = RequestFactory().post(
        "/internal/", data=BODY + b"x", content_type="application/json", headers={SIGNATURE_HEADER: header}
    )

    verify_request(request, ["peer-secret"])
    with pytest.raises(SignatureError):
        verify_request(forged, ["peer-secret"])
