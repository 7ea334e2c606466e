"""What the edge proxy (nginx) tells the app, believed only when the request came from a trusted proxy.

`TRUSTED_PROXIES` lists the proxies' CIDR blocks (the same list the security rules use). From anywhere
else, `X-Forwarded-For` and the client-certificate headers are ignored: any client could send them.
"""

from __future__ import annotations

from django.http import HttpRequest

from apps.gateway.credentials import normalise_fingerprint
from apps.security.client_ip import from_trusted_proxy

CERT_FINGERPRINT_META = "HTTP_X_CLIENT_CERT_SHA256"
CERT_VERIFY_META = "HTTP_X_CLIENT_CERT_VERIFY"


def verified_certificate_fingerprint(request: HttpRequest) -> str | None:
    """The SHA-256 fingerprint of the client certificate nginx verified, or None.

    None when no trusted proxy vouches for one: the header is missing, malformed, not marked verified
    (`X-Client-Cert-Verify: SUCCESS`), or came straight from the caller.
    """
    raw = request.META.get(CERT_FINGERPRINT_META)
    if not raw or not from_trusted_proxy(request):
        return None
    if request.META.get(CERT_VERIFY_META, "") != "SUCCESS":
        return None
    return normalise_fingerprint(raw)


def presents_certificate_header(request: HttpRequest) -> bool:
    return bool(request.META.get(CERT_FINGERPRINT_META))
