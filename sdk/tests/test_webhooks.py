from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from nofx_sdk.webhooks import WebhookVerificationError, signature_headers, verified_event, verify_signature

BODY = json.dumps({"event": "installation.created", "data": {}}).encode()


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body_in_the_platforms_header_format():
    # given
    expected = hmac.new(b"s3cret", b"1700000000." + BODY, hashlib.sha256).hexdigest()
    # when
    headers = signature_headers("s3cret", BODY, now=1_700_000_000)
    # then
    assert headers == {"Nofx-Signature": f"t=1700000000,v1={expected}"}


def test_it_accepts_a_fresh_signature_and_refuses_a_changed_body_another_secret_or_a_stale_one():
    # given
    header = signature_headers("s3cret", BODY, now=1_700_000_000)["Nofx-Signature"]
    # when / then
    assert verify_signature("s3cret", BODY, header, now=1_700_000_100)
    assert not verify_signature("s3cret", BODY + b" ", header, now=1_700_000_100)
    assert not verify_signature("other", BODY, header, now=1_700_000_100)
    assert not verify_signature("s3cret", BODY, header, now=1_700_000_000 + 301)


@pytest.mark.parametrize("header", ["", "garbage", "t=abc,v1=00", "v1=00", "t=1700000000"])
def test_it_refuses_malformed_signature_headers(header):
    # when / then
    assert not verify_signature("s3cret", BODY, header, now=1_700_000_000)


def test_verified_event_returns_the_payload_or_says_why_it_refused():
    # given
    headers = signature_headers("s3cret", BODY, now=1_700_000_000)
    # when
    event = verified_event("s3cret", BODY, {k.lower(): v for k, v in headers.items()}, now=1_700_000_001)
    # then
    assert event["event"] == "installation.created"
    with pytest.raises(WebhookVerificationError, match="missing"):
        verified_event("s3cret", BODY, {}, now=1_700_000_001)
    with pytest.raises(WebhookVerificationError, match="does not match"):
        verified_event("wrong", BODY, headers, now=1_700_000_001)
