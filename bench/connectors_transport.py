"""Benchmark of the connectors' outbound transport against a local vendor sandbox.

1. Overhead: the same GET made through `OutboundClient` (address guard, auth, shared rate budget,
   retries, metrics) and through a bare keep-alive httpx client, interleaved in the same run.
2. Rate-budget utilisation: the sandbox enforces N calls per window with GitHub-style
   `x-ratelimit-*` headers; several workers (processes when Redis is configured, else threads) share one
   connection's budget. Reported: the share of the allowed calls actually made, and how many answers were
   429 (target: at least 90% of the allowed rate, no 429).

Run with `make bench-connectors` (REDIS_URL set: the budget is shared through Redis across processes).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nofx.settings.test")

import django

django.setup()

import httpx  # noqa: E402
from django.conf import settings  # noqa: E402

from apps.connectors.authentication import BearerToken  # noqa: E402
from apps.connectors.connections import Connection  # noqa: E402
from apps.connectors.policies import RetryPolicy  # noqa: E402
from apps.connectors.sandboxes.github import TOKEN, GitHubSandbox  # noqa: E402
from apps.connectors.transport import OutboundClient  # noqa: E402

# The sandbox listens on loopback, which the platform refuses by default.
settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"}


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def transport_client(base_url: str, connection_id: str) -> OutboundClient:
    connection = Connection(
        id=connection_id,
        provider="github",
        base_url=base_url,
        retry=RetryPolicy(max_attempts=5, base_delay=0.05, max_delay=1.0),
        timeout=10.0,
    )
    return OutboundClient(connection, authenticator=BearerToken(TOKEN))


def measure_overhead(base_url: str, calls: int, rounds: int) -> None:
    # The same httpx settings the transport uses (no proxy look-ups), so only our layers differ.
    bare = httpx.Client(base_url=base_url, headers=HEADERS, timeout=10.0, trust_env=False)
    client = transport_client(base_url, f"bench-{uuid.uuid4().hex}")
    for _ in range(50):  # warm both connection pools
        bare.get("/user")
        client.request("GET", "/user")
    times = {"bare": 0.0, "transport": 0.0}
    per_round = max(calls // rounds, 1)
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(per_round):
            bare.get("/user").raise_for_status()
        times["bare"] += time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(per_round):
            client.request("GET", "/user")
        times["transport"] += time.perf_counter() - started
    total = per_round * rounds
    bare_rate, transport_rate = total / times["bare"], total / times["transport"]
    say(f"overhead: {total} GET /user each way, interleaved in {rounds} rounds, one client each, keep-alive")
    say(f"  bare httpx client      {bare_rate:8.0f} calls/s   {1000 / bare_rate:6.2f} ms/call")
    say(f"  through the transport  {transport_rate:8.0f} calls/s   {1000 / transport_rate:6.2f} ms/call")
    say(
        f"  overhead ratio         {transport_rate / bare_rate:8.2f} (transport calls/s / bare calls/s), "
        f"+{1000 / transport_rate - 1000 / bare_rate:.2f} ms per call"
    )
    bare.close()
    client.close()


def _worker(base_url: str, connection_id: str, start: float, end: float, threads: int, results: Any) -> None:
    """One worker process: `threads` clients of the same connection, calling until `end`."""
    lock = threading.Lock()
    totals = {"ok": 0, "late": 0, "limited": 0, "failed": 0}

    def run() -> None:
        client = transport_client(base_url, connection_id)
        while time.time() < start:
            time.sleep(0.001)
        while time.time() < end:
            try:
                client.request("GET", "/user")
                answered = time.time()
                with lock:
                    # A call that waited into the window after the last one measured does not count.
                    totals["ok" if answered <= end else "late"] += 1
            except Exception:  # noqa: BLE001 - any failure counts against the budget
                with lock:
                    totals["failed"] += 1
        with lock:
            totals["limited"] += client.stats.rate_limited_responses
        client.close()

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    results.put(totals)


def measure_budget(
    sandbox: GitHubSandbox, *, limit: int, window: float, windows: int, processes: int, threads: int
) -> None:
    sandbox.limit_rate(limit, window)
    connection_id = f"bench-budget-{uuid.uuid4().hex}"
    # Start on a window boundary so exactly `windows` whole windows are measured.
    start = math.ceil(time.time() / window + 1) * window
    end = start + windows * window
    use_processes = processes > 1 and bool(settings.REDIS_URL)
    results: Any
    if use_processes:
        context = multiprocessing.get_context("fork")
        results = context.Queue()
        workers = [
            context.Process(target=_worker, args=(sandbox.url, connection_id, start, end, threads, results))
            for _ in range(processes)
        ]
        for worker in workers:
            worker.start()
        totals = [results.get() for _ in workers]
        for worker in workers:
            worker.join()
    else:
        import queue

        results = queue.Queue()
        _worker(sandbox.url, connection_id, start, end, threads * max(processes, 1), results)
        totals = [results.get()]
    made = sum(t["ok"] for t in totals)
    limited = sum(t["limited"] for t in totals)
    failed = sum(t["failed"] for t in totals)
    allowed = limit * windows
    who = f"{processes} processes x {threads} threads" if use_processes else f"{threads * max(processes, 1)} threads"
    say(f"rate budget: the sandbox allows {limit} calls per {window:g} s window; {who} share one connection")
    say(f"  budget kept in: {'Redis' if settings.REDIS_URL else 'this process (no REDIS_URL)'}")
    refused = sandbox.limiter.rejected if sandbox.limiter else 0
    say(
        f"  allowed {allowed} in {windows} windows, made {made}: utilisation {100 * made / allowed:.1f}% "
        f"(target >= 90%); 429 answers: {limited}, failed calls: {failed}, refused by the sandbox: {refused}"
    )
    sandbox.limit_rate(None)


def measure_without_budget(sandbox: GitHubSandbox, *, limit: int, window: float, seconds: float, threads: int) -> None:
    sandbox.limit_rate(limit, window)
    counts = {"ok": 0, "429": 0}
    lock = threading.Lock()
    end = time.time() + seconds

    def run() -> None:
        with httpx.Client(base_url=sandbox.url, headers=HEADERS, timeout=10.0) as bare:
            while time.time() < end:
                status = bare.get("/user").status_code
                with lock:
                    counts["ok" if status == 200 else "429"] += 1

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    say(
        f"  for contrast, {threads} bare clients without the budget for {seconds:g} s: "
        f"{counts['ok']} calls answered, {counts['429']} answered 429"
    )
    sandbox.limit_rate(None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--limit", type=int, default=50, help="Calls the sandbox allows per window.")
    parser.add_argument("--window", type=float, default=1.0)
    parser.add_argument("--windows", type=int, default=6)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=3)
    options = parser.parse_args()

    sandbox = GitHubSandbox().start()
    try:
        say("connectors transport benchmark (GitHub sandbox on 127.0.0.1)")
        measure_overhead(sandbox.url, options.calls, options.rounds)
        measure_budget(
            sandbox,
            limit=options.limit,
            window=options.window,
            windows=options.windows,
            processes=options.processes,
            threads=options.threads,
        )
        measure_without_budget(sandbox, limit=options.limit, window=options.window, seconds=2, threads=options.threads)
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
