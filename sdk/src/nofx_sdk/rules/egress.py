"""Where an extension may send data. Hosts on private, loopback or link-local networks are refused (they
would reach inside our or a customer's network) unless the deployment explicitly allows them."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

_INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa", ".intranet", ".corp")


def _strip_port(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


def is_non_public_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Private, loopback, link-local, multicast, reserved or unspecified: never a public service."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv4Address) and ip in ipaddress.IPv4Network("100.64.0.0/10"))
    )


def is_private_host(host: str) -> bool:
    """True when a host name or literal address names a non-public destination (by its name alone)."""
    bare = _strip_port(host)
    if bare.startswith("*."):
        bare = bare[2:]
    if bare == "localhost" or bare.endswith(_INTERNAL_SUFFIXES) or ("." not in bare and ":" not in bare):
        try:
            return is_non_public_address(ipaddress.ip_address(bare))
        except ValueError:
            return True
    try:
        return is_non_public_address(ipaddress.ip_address(bare))
    except ValueError:
        return False


def is_too_broad(host: str) -> bool:
    """`*`, `*.com`, `*.co.uk`-like patterns that would allow a whole top-level domain."""
    bare = _strip_port(host)
    if bare == "*":
        return True
    if bare.startswith("*."):
        labels = bare[2:].split(".")
        return len(labels) < 2 or (len(labels) == 2 and len(labels[1]) == 2 and len(labels[0]) <= 3)
    return False


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def host_allowed(host: str, egress: list[str]) -> bool:
    """Whether `host` matches one of the declared egress entries (exact or `*.domain`)."""
    host = host.lower().rstrip(".")
    for entry in egress:
        declared = _strip_port(entry)
        if declared == host:
            return True
        if declared.startswith("*.") and host.endswith(declared[1:]):
            return True
    return False
