from __future__ import annotations

import base64
import hashlib

import httpx
import pytest

from nofx_sdk import auth


def test_the_pkce_challenge_is_the_s256_of_the_verifier():
    # when
    verifier, challenge = auth.pkce_pair()
    # then
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert challenge == digest
    assert 43 <= len(verifier) <= 128


def test_the_loopback_receives_the_redirect_and_only_a_matching_state_yields_the_code():
    # given
    loopback = auth.start_loopback()
    # when
    httpx.get(f"{loopback.redirect_uri}?code=abc&state=s1", timeout=5)
    result = loopback.wait(5)
    loopback.close()
    # then
    assert auth.check_redirect(result, "s1") == "abc"
    with pytest.raises(auth.OAuthError, match="state"):
        auth.check_redirect(result, "another")
    with pytest.raises(auth.OAuthError, match="refused"):
        auth.check_redirect({"state": "s1", "error": "access_denied"}, "s1")


def test_the_authorization_address_asks_for_s256_and_the_scopes():
    # when
    url = httpx.URL(
        auth.authorization_url(
            "http://127.0.0.1:8000",
            client_id="cli",
            redirect_uri="http://127.0.0.1:5000/callback",
            challenge="c",
            state="s",
            scopes=("extensions:read", "extensions:write"),
        )
    )
    # then
    assert url.path == "/o/authorize/"
    assert url.params["code_challenge_method"] == "S256"
    assert url.params["scope"] == "extensions:read extensions:write"
