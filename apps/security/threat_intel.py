"""Parsing threat-intelligence feeds: plain IP/CIDR lists and STIX-like JSON bundles.

Plain: one address or network a line; `#` starts a comment; blank lines are ignored.
STIX-like: a JSON object with `objects`; `indicator` objects whose `pattern` compares `ipv4-addr:value` or
`ipv6-addr:value` with `=` or `ISSUBSET` contribute (revoked or expired ones are skipped), and so do bare
`ipv4-addr`/`ipv6-addr` observables with a `value`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
from dataclasses import dataclass

from django.utils.dateparse import parse_datetime

_PATTERN_TERM = re.compile(r"ipv[46]-addr:value\s*(?:=|ISSUBSET)\s*'([^']+)'")


class FeedFormatError(Exception):
    """The feed cannot be read in its declared format."""


@dataclass(frozen=True)
class ParsedFeed:
    networks: dict[str, str]  # cidr -> label
    skipped: int


def _network(value: str) -> str | None:
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError:
        return None


def parse_plain(content: bytes) -> ParsedFeed:
    networks: dict[str, str] = {}
    skipped = 0
    for raw in content.decode("utf-8", errors="replace").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        token = line.split()[0]
        network = _network(token)
        if network is None:
            skipped += 1
        else:
            networks[network] = ""
    return ParsedFeed(networks=networks, skipped=skipped)


def _expired(obj: dict[str, object], now: dt.datetime) -> bool:
    if obj.get("revoked") is True:
        return True
    valid_until = obj.get("valid_until")
    if isinstance(valid_until, str):
        parsed = parse_datetime(valid_until.replace("Z", "+00:00"))
        if parsed is not None and parsed <= now:
            return True
    return False


def parse_stix(content: bytes, *, now: dt.datetime) -> ParsedFeed:
    try:
        document = json.loads(content)
    except ValueError as exc:
        raise FeedFormatError(f"The feed is not JSON: {exc}") from exc
    objects = document.get("objects") if isinstance(document, dict) else None
    if not isinstance(objects, list):
        raise FeedFormatError("A STIX-like feed is a JSON object with an `objects` list.")
    networks: dict[str, str] = {}
    skipped = 0
    for obj in objects:
        if not isinstance(obj, dict):
            skipped += 1
            continue
        kind = obj.get("type")
        if kind == "indicator":
            if _expired(obj, now):
                skipped += 1
                continue
            values = _PATTERN_TERM.findall(str(obj.get("pattern", "")))
            label = str(obj.get("name") or obj.get("id") or "")[:200]
        elif kind in ("ipv4-addr", "ipv6-addr"):
            values = [str(obj.get("value", ""))]
            label = str(obj.get("id") or "")[:200]
        else:
            continue
        if not values:
            skipped += 1
        for value in values:
            network = _network(value)
            if network is None:
                skipped += 1
            else:
                networks[network] = label
    return ParsedFeed(networks=networks, skipped=skipped)
