"""The address a request really came from, trusting `X-Forwarded-For` only from our own proxies."""

from __future__ import annotations

import ipaddress
from functools import cache

from django.conf import settings
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@cache
def _trusted(proxies: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _is_trusted(address: Address) -> bool:
    return any(address in network for network in _trusted(tuple(settings.SECURITY_TRUSTED_PROXIES)))


def parse_address(value: str) -> Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str:
    """The caller's address: REMOTE_ADDR, unless it is a trusted proxy, then the right-most untrusted hop.

    Walking from the right matters: everything left of our own proxies' entries was written by the client
    and can be forged.
    """
    cached: str | None = getattr(request, "_security_client_ip", None)
    if cached is not None:
        return cached
    remote = parse_address(request.META.get("REMOTE_ADDR", "")) or ipaddress.ip_address("0.0.0.0")  # noqa: S104
    chosen: Address = remote
    if settings.SECURITY_TRUSTED_PROXIES and _is_trusted(remote):
        hops = [h for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
        for hop in reversed(hops):
            address = parse_address(hop)
            if address is None:
                break
            chosen = address
            if not _is_trusted(address):
                break
    result = str(chosen.ipv4_mapped if isinstance(chosen, ipaddress.IPv6Address) and chosen.ipv4_mapped else chosen)
    request._security_client_ip = result  # type: ignore[attr-defined]
    return result


def ip_range(address: str) -> str:
    """The network a person's address usually stays inside: its /16 (IPv4) or /48 (IPv6)."""
    parsed = ipaddress.ip_address(address)
    prefix = 16 if parsed.version == 4 else 48
    return str(ipaddress.ip_network(f"{parsed}/{prefix}", strict=False))
