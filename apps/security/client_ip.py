"""The address a request really came from, trusting `X-Forwarded-For` only from our own proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import cache

from django.conf import settings
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@cache
def _trusted(proxies: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def parse_address(value: str) -> Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _within(address: Address, networks: Iterable[Network]) -> bool:
    return any(address.version == network.version and address in network for network in networks)


def trusted_proxies() -> tuple[Network, ...]:
    """`TRUSTED_PROXIES`, parsed once per value of the setting."""
    return _trusted(tuple(settings.TRUSTED_PROXIES))


def from_trusted_proxy(request: HttpRequest) -> bool:
    """Whether the request came straight from one of our own proxies, so that their headers may be believed."""
    remote = parse_address(request.META.get("REMOTE_ADDR", ""))
    return remote is not None and _within(remote, trusted_proxies())


def address_behind(request: HttpRequest, proxies: Iterable[Network]) -> str:
    """REMOTE_ADDR, unless it is one of `proxies`: then the right-most hop of X-Forwarded-For they did not add.

    Walking from the right matters: everything left of our own proxies' entries was written by the client
    and can be forged. A hop that is not an address ends the walk.
    """
    trusted = tuple(proxies)
    remote = parse_address(request.META.get("REMOTE_ADDR", "")) or ipaddress.ip_address("0.0.0.0")  # noqa: S104
    chosen: Address = remote
    if trusted and _within(remote, trusted):
        hops = [h for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
        for hop in reversed(hops):
            address = parse_address(hop)
            if address is None:
                break
            chosen = address
            if not _within(address, trusted):
                break
    return str(chosen.ipv4_mapped if isinstance(chosen, ipaddress.IPv6Address) and chosen.ipv4_mapped else chosen)


def client_ip(request: HttpRequest) -> str:
    """The caller's address, as every rule sees it: the peer, or behind `TRUSTED_PROXIES` the last address
    they did not add."""
    cached: str | None = getattr(request, "_security_client_ip", None)
    if cached is not None:
        return cached
    result = address_behind(request, trusted_proxies())
    request._security_client_ip = result  # type: ignore[attr-defined]
    return result


def ip_range(address: str) -> str:
    """The network a person's address usually stays inside: its /16 (IPv4) or /48 (IPv6)."""
    parsed = ipaddress.ip_address(address)
    prefix = 16 if parsed.version == 4 else 48
    return str(ipaddress.ip_network(f"{parsed}/{prefix}", strict=False))
