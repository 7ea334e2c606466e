"""IP rules and threat intelligence compiled into a structure that answers "is this address refused?" cheaply.

Every request asks, so the lookup must not touch the database: each process keeps a compiled copy in
memory and rebuilds it only when the version key in the shared cache changes (any write to rules or
feeds bumps it) or when one of its rules expires. A process checks the version at most once every
`SECURITY_IP_RULES_RECHECK_SECONDS`, so a change reaches every worker within that delay.

Matching is a hash lookup per distinct prefix length present (at most 33 for IPv4, 129 for IPv6, and in
practice a handful), independent of the number of rules.
"""

from __future__ import annotations

import ipaddress
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

VERSION_KEY = "security:network-rules:version"


class PrefixSet:
    """A set of networks answering membership for an address in O(number of distinct prefix lengths)."""

    def __init__(self, entries: Iterable[tuple[str, str]] = ()) -> None:
        # version -> prefix length -> {network as int: label}
        self._tables: dict[int, dict[int, dict[int, str]]] = {4: {}, 6: {}}
        self._masks: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
        self.size = 0
        for cidr, label in entries:
            self.add(cidr, label)

    def add(self, cidr: str, label: str) -> None:
        network = ipaddress.ip_network(cidr, strict=False)
        lengths = self._tables[network.version]
        table = lengths.get(network.prefixlen)
        if table is None:
            table = lengths[network.prefixlen] = {}
            bits = 32 if network.version == 4 else 128
            # Longest prefixes first, so the most specific network answers.
            self._masks[network.version] = sorted(
                ((length, ((1 << bits) - 1) ^ ((1 << (bits - length)) - 1)) for length in lengths), reverse=True
            )
        key = int(network.network_address)
        if key not in table:
            self.size += 1
        table[key] = label

    def match(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
        """The label of the most specific network holding the address, or None."""
        value = int(address)
        tables = self._tables[address.version]
        for length, mask in self._masks[address.version]:
            label = tables[length].get(value & mask)
            if label is not None:
                return label
        return None

    def __len__(self) -> int:
        return self.size


@dataclass
class CompiledRules:
    version: str
    global_allow: PrefixSet = field(default_factory=PrefixSet)
    global_deny: PrefixSet = field(default_factory=PrefixSet)
    threats: PrefixSet = field(default_factory=PrefixSet)
    org_allow: dict[str, PrefixSet] = field(default_factory=dict)
    org_deny: dict[str, PrefixSet] = field(default_factory=dict)
    next_expiry: datetime | None = None

    @property
    def has_org_rules(self) -> bool:
        return bool(self.org_allow or self.org_deny)


@dataclass(frozen=True)
class Refusal:
    reason: str  # "denied", "threat_intel", "not_allowed"
    detail: str


def compile_rules(version: str) -> CompiledRules:
    from apps.security.models import IPRule, IPRuleAction, ThreatIndicator

    compiled = CompiledRules(version=version)
    rows = IPRule.objects.in_force().values_list("id", "organization_id", "cidr", "action", "expires_at")
    for rule_id, org_id, cidr, action, expires_at in rows.iterator(chunk_size=5000):
        label = f"rule:{rule_id}"
        if org_id is None:
            target = compiled.global_allow if action == IPRuleAction.ALLOW else compiled.global_deny
        else:
            bucket = compiled.org_allow if action == IPRuleAction.ALLOW else compiled.org_deny
            target = bucket.setdefault(str(org_id), PrefixSet())
        target.add(cidr, label)
        if expires_at is not None and (compiled.next_expiry is None or expires_at < compiled.next_expiry):
            compiled.next_expiry = expires_at
    indicators = ThreatIndicator.objects.filter(feed__enabled=True).values_list("cidr", "feed__name")
    for cidr, feed_name in indicators.iterator(chunk_size=5000):
        compiled.threats.add(cidr, f"feed:{feed_name}")
    return compiled


class _ProcessCache:
    """This process's compiled copy and when it last compared versions."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.compiled: CompiledRules | None = None
        self.checked_at = 0.0

    def fresh(self, now: float) -> CompiledRules | None:
        compiled = self.compiled
        if compiled is None or now - self.checked_at >= settings.SECURITY_IP_RULES_RECHECK_SECONDS:
            return None
        if compiled.next_expiry is not None and compiled.next_expiry <= timezone.now():
            return None
        return compiled


_process = _ProcessCache()


def current_version() -> str:
    version = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, uuid.uuid4().hex, timeout=None)
        version = cache.get(VERSION_KEY) or "unversioned"
    return str(version)


def compiled_rules() -> CompiledRules:
    """This process's compiled rules, rebuilt when another process changed them or a rule expired."""
    now = time.monotonic()
    compiled = _process.fresh(now)
    if compiled is not None:
        return compiled
    version = current_version()
    with _process.lock:
        compiled = _process.compiled
        if (
            compiled is None
            or compiled.version != version
            or (compiled.next_expiry is not None and compiled.next_expiry <= timezone.now())
        ):
            compiled = compile_rules(version)
            _process.compiled = compiled
        _process.checked_at = now
    return compiled


def bump_version() -> None:
    """Tell every process to recompile: now, and again once the surrounding transaction commits.

    The second bump matters: a process that recompiled between the two read the rows before they were
    committed, and must compile again.
    """

    def bump() -> None:
        cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None)
        _process.checked_at = 0.0

    bump()
    transaction.on_commit(bump)


def refusal_for(address: str, organization_id: object = None, rules: CompiledRules | None = None) -> Refusal | None:
    """Why a request from `address` (acting for `organization_id`, when known) is refused; None when it is not."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return None
    rules = rules or compiled_rules()
    if rules.global_allow.match(parsed) is None:
        label = rules.global_deny.match(parsed)
        if label is not None:
            return Refusal("denied", f"The address {address} is blocked ({label}).")
        label = rules.threats.match(parsed)
        if label is not None:
            return Refusal("threat_intel", f"The address {address} is on a threat-intelligence list ({label}).")
    if organization_id is not None:
        key = str(organization_id)
        deny = rules.org_deny.get(key)
        if deny is not None and (label := deny.match(parsed)) is not None:
            return Refusal("denied", f"Your organization blocks the address {address} ({label}).")
        allow = rules.org_allow.get(key)
        if allow is not None and allow.match(parsed) is None:
            return Refusal("not_allowed", f"Your organization only allows listed networks; {address} is not one.")
    return None
