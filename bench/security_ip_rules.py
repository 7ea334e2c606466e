"""How much the IP-rule check costs per request, against a naive scan measured in the same run.

Builds rule sets of realistic size (global denies, organization allow-lists, a large threat feed), then
times `refusal_for()` on random addresses, compared with (a) no rules at all and (b) checking every
network in a list with the standard library, which is what a straightforward implementation would do.

    make bench-security
"""

from __future__ import annotations

import ipaddress
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nofx.settings.test")

import django

django.setup()

from apps.security.network_rules import CompiledRules, PrefixSet, refusal_for  # noqa: E402

RNG = random.Random(20261125)
LOOKUPS = 50_000
NAIVE_LOOKUPS = 200


def random_network(prefix_choices: tuple[int, ...]) -> str:
    prefix = RNG.choice(prefix_choices)
    address = ipaddress.IPv4Address(RNG.getrandbits(32))
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def build(global_rules: int, threat_networks: int, organizations: int) -> tuple[CompiledRules, list[str]]:
    compiled = CompiledRules(version="bench")
    every: list[str] = []
    for _ in range(global_rules):
        cidr = random_network((32, 24, 16))
        compiled.global_deny.add(cidr, "rule")
        every.append(cidr)
    for _ in range(threat_networks):
        cidr = random_network((32, 32, 32, 24))
        compiled.threats.add(cidr, "feed")
        every.append(cidr)
    for n in range(organizations):
        allow = PrefixSet()
        for _ in range(5):
            allow.add(random_network((24, 16)), "org")
        compiled.org_allow[str(n)] = allow
    return compiled, every


def time_per_call(func, addresses: list[str]) -> list[float]:
    samples = []
    for address in addresses:
        started = time.perf_counter_ns()
        func(address)
        samples.append((time.perf_counter_ns() - started) / 1000)
    return samples


def describe(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[int(len(ordered) * 0.99)]
    return f"{name:<44} p50 {p50:8.2f} µs   p99 {p99:8.2f} µs   mean {statistics.fmean(samples):8.2f} µs"


def main() -> None:
    addresses = [str(ipaddress.IPv4Address(RNG.getrandbits(32))) for _ in range(LOOKUPS)]
    empty = CompiledRules(version="empty")
    print(f"{LOOKUPS} lookups of random IPv4 addresses\n")
    print(describe("baseline: no rules", time_per_call(lambda a: refusal_for(a, rules=empty), addresses)))
    for global_rules, threats, orgs in ((100, 1_000, 10), (1_000, 50_000, 500), (10_000, 200_000, 2_000)):
        started = time.perf_counter()
        compiled, every = build(global_rules, threats, orgs)
        compile_ms = (time.perf_counter() - started) * 1000
        org_id = str(RNG.randrange(orgs))
        label = f"{global_rules} rules + {threats} feed networks"
        samples = time_per_call(lambda a, c=compiled, o=org_id: refusal_for(a, o, rules=c), addresses)
        print(describe(f"compiled: {label}", samples) + f"   (built in {compile_ms:.0f} ms)")
        networks = [ipaddress.ip_network(c) for c in every]

        def naive(address: str, nets=networks) -> bool:
            parsed = ipaddress.ip_address(address)
            return any(parsed in net for net in nets)

        naive_samples = time_per_call(naive, addresses[:NAIVE_LOOKUPS])
        print(describe(f"naive scan: {label}", naive_samples))
        speedup = statistics.median(naive_samples) / statistics.median(samples)
        print(f"{'':<44} compiled is {speedup:,.0f}x faster than the scan\n")
    print(f"(run {uuid.uuid4().hex[:8]}; the target is a p99 well under 50 µs at every size)")


if __name__ == "__main__":
    main()
