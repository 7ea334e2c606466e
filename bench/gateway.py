"""What the API gateway adds to a connector action call: latency percentiles and requests/s per worker.

The same action (GitHub's `comment_on_issue`, against the GitHub sandbox on loopback) is called two ways in
one run, interleaved so both see the same machine:

- straight to the sandbox, with the vendor's own HTTP request (the baseline);
- through the gateway: one gunicorn worker of this project, configured as in production
  (docker/gunicorn.conf.py: gthread, keep-alive), API key, rate limit and quota, input schema, the
  connector's transport to the same sandbox, output schema, audit event, usage record.

The gateway's added latency is the difference of the two at each percentile. Targets: p50 <= 5 ms,
p99 <= 25 ms. Uses DATABASE_URL / REDIS_URL when set (a throwaway database is created on that server and
dropped afterwards), otherwise a temporary SQLite file and the in-process rate limiter.

    make bench-gateway            # or: .venv/bin/python bench/gateway.py --calls 1000
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
TARGET_P50_MS, TARGET_P99_MS = 5.0, 25.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def prepare_database(env: dict[str, str], workdir: Path) -> tuple[str, Any]:
    """A database URL for this run, and how to drop it afterwards."""
    server_url = os.environ.get("DATABASE_URL", "")
    if not server_url.startswith("postgres"):
        return f"sqlite:///{workdir / 'bench.sqlite3'}", lambda: None
    import psycopg

    base, _, _ = server_url.rpartition("/")
    name = f"nofx_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{base}/{name}", drop


def seed(sandbox_url: str) -> tuple[str, str, str]:
    """An organization with a connector to the sandbox, an API client's key, and a signed-in owner's session.

    Returns (connector id, API key, session cookie).
    """
    import django

    django.setup()
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from apps.accounts.models import Membership
    from apps.connectors.sandboxes import github as github_module
    from apps.connectors.services import create_connector
    from apps.gateway import services
    from apps.gateway.models import Plan
    from apps.gateway.scopes import SCOPES
    from tests.factories.accounts import OrganizationFactory, UserFactory

    organization = OrganizationFactory()
    plan = Plan.objects.create(name="Bench", slug=f"bench-{uuid.uuid4().hex[:6]}", rate_per_minute=10**7, burst=10**6)
    client = services.create_api_client(
        organization=organization, actor=None, name="bench", allowed_scopes=list(SCOPES), plan=plan
    )
    _key, token = services.issue_api_key(client=client, actor=None, name="bench")
    connector = create_connector(
        organization=organization,
        actor=None,
        name="GitHub sandbox",
        provider="github",
        base_url=sandbox_url,
        settings_={"owner": github_module.OWNER, "repo": github_module.REPO},
        credentials={"token": github_module.TOKEN},
    )
    owner = UserFactory()
    Membership.objects.create(user=owner, organization=organization, role="owner")
    session = SessionStore()
    session[SESSION_KEY] = str(owner.pk)
    # The backend that signs people in with a password here (Django's ModelBackend is not enabled).
    session[BACKEND_SESSION_KEY] = "apps.accounts.backends.PasswordBackend"
    session[HASH_SESSION_KEY] = owner.get_session_auth_hash()
    session.save()
    return str(connector.pk), token, str(session.session_key)


CONCURRENT_CLIENTS = 4  # as many as a worker has threads (docker/gunicorn.conf.py)


def saturated_requests_per_second(url: str, body: dict[str, Any], headers: dict[str, str], *, calls: int) -> float:
    """Requests/s of the worker with CONCURRENT_CLIENTS callers sending `calls` requests between them."""
    share = max(1, calls // CONCURRENT_CLIENTS)

    def client() -> None:
        with httpx.Client(timeout=10.0) as http:
            for _ in range(share):
                response = http.post(url, json=body, headers=headers)
                if response.status_code != 200:
                    raise SystemExit(f"{url} answered {response.status_code}: {response.text[:300]}")

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CONCURRENT_CLIENTS) as pool:
        for future in [pool.submit(client) for _ in range(CONCURRENT_CLIENTS)]:
            future.result()
    return share * CONCURRENT_CLIENTS / (time.perf_counter() - started)


def worker_cpu_seconds(master_pid: int) -> float | None:
    """User + system CPU time of the gunicorn master's workers, every thread included (Linux /proc; else None)."""
    try:
        workers = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
        ticks = 0
        for pid in workers:
            # Fields after the command name: state is the first, utime the 12th and stime the 13th.
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK") if workers else None
    except (OSError, ValueError, IndexError):
        return None


def wait_for(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"The app did not start on {url}.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=600, help="measured calls per path")
    parser.add_argument("--warmup", type=int, default=60)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="nofx-bench-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "nofx.settings.local",
        "DJANGO_DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "OUTBOUND_ALLOW_PRIVATE_ADDRESSES": "true",
        "GATEWAY_KEY_ENVIRONMENT": "test",
        # As in production settings: a worker keeps its database connection between requests.
        "DATABASE_CONN_MAX_AGE": "60",
    }
    database_url, drop_database = prepare_database(env, workdir)
    env["DATABASE_URL"] = database_url
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))

    from apps.connectors.sandboxes import github as github_module
    from apps.connectors.sandboxes.github import GitHubSandbox

    sandbox = GitHubSandbox().start()
    server: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v0"], cwd=ROOT, env=env, check=True)
        # As the production image does, so that the worker starts with its static files, as it does there.
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--no-input", "-v0"], cwd=ROOT, env=env, check=True
        )
        sandbox.add_issue("Benchmark subject")
        connector_id, token, session_key = seed(sandbox.url)
        port = free_port()
        # The production configuration with one worker; its access log (written to stdout) is discarded.
        server = subprocess.Popen(  # noqa: S603 - our own gunicorn, with arguments we build here
            [
                str(Path(sys.executable).with_name("gunicorn")),
                "--config",
                str(ROOT / "docker" / "gunicorn.conf.py"),
                "nofx.wsgi:application",
            ],
            cwd=ROOT,
            env={
                **env,
                "GUNICORN_WORKERS": "1",
                "GUNICORN_BIND": f"127.0.0.1:{port}",
                "GUNICORN_LOG_LEVEL": "warning",
            },
            stdout=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/healthz")

        gateway_url = f"{base}/api/v1/connectors/{connector_id}/actions/comment_on_issue/"
        direct_url = f"{sandbox.url}/repos/{github_module.OWNER}/{github_module.REPO}/issues/1/comments"
        body = {"issue_number": 1, "body": "benchmark"}
        gateway_headers = {"Authorization": f"Bearer {token}"}
        direct_headers = {
            "Authorization": f"Bearer {github_module.TOKEN}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }
        gateway: list[float] = []
        direct: list[float] = []
        # The same platform endpoint as an API client (gateway layers) and as a signed-in person (none of them).
        platform_url = f"{base}/api/v1/connectors/{connector_id}/"
        layered: list[float] = []
        bare: list[float] = []
        with httpx.Client(timeout=10.0) as http:

            def timed(url: str, payload: dict[str, Any], headers: dict[str, str]) -> float:
                started = time.perf_counter()
                response = http.post(url, json=payload, headers=headers)
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code not in (200, 201):
                    raise SystemExit(f"{url} answered {response.status_code}: {response.text[:300]}")
                return elapsed

            def timed_get(url: str, headers: dict[str, str], cookies: dict[str, str] | None = None) -> float:
                started = time.perf_counter()
                response = http.get(url, headers=headers, cookies=cookies)
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    raise SystemExit(f"{url} answered {response.status_code}: {response.text[:300]}")
                return elapsed

            direct_body = {"body": "benchmark"}
            for _ in range(args.warmup):
                timed(direct_url, direct_body, direct_headers)
                timed(gateway_url, body, gateway_headers)
            run_started = time.perf_counter()
            cpu_before = worker_cpu_seconds(server.pid)
            for _ in range(args.calls):
                direct.append(timed(direct_url, direct_body, direct_headers))
                gateway.append(timed(gateway_url, body, gateway_headers))
            wall = time.perf_counter() - run_started
            cpu_after = worker_cpu_seconds(server.pid)
        # What one worker sustains with its threads busy: its bookkeeping after each response counts here too.
        throughput = saturated_requests_per_second(gateway_url, body, gateway_headers, calls=args.calls)
        with httpx.Client(timeout=10.0) as http:
            http.cookies.clear()
            for _ in range(args.warmup):
                timed_get(platform_url, gateway_headers)
                timed_get(platform_url, {}, {"sessionid": session_key})
            for _ in range(args.calls):
                layered.append(timed_get(platform_url, gateway_headers))
                http.cookies.clear()
                bare.append(timed_get(platform_url, {}, {"sessionid": session_key}))
                http.cookies.clear()

        rows = []
        for label, share in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
            d, g = percentile(direct, share), percentile(gateway, share)
            rows.append((label, d, g, g - d))
        backend = "PostgreSQL" if database_url.startswith("postgres") else "SQLite"
        limiter = "Redis" if os.environ.get("REDIS_URL") else "in-process"
        print(f"Gateway action call vs the same call straight to the sandbox ({args.calls} calls each, interleaved)")
        print(f"  database: {backend}, rate limiter: {limiter}, app: 1 gunicorn worker (production config)")
        print(f"  {'':5} {'direct ms':>10} {'gateway ms':>11} {'added ms':>9}")
        for label, d, g, added in rows:
            print(f"  {label:5} {d:10.2f} {g:11.2f} {added:9.2f}")
        gateway_total_s = sum(gateway) / 1000
        print(f"  requests/s through one worker (sequential): {args.calls / gateway_total_s:.0f}")
        print(f"  requests/s through one worker ({CONCURRENT_CLIENTS} clients at once): {throughput:.0f}")
        print(f"  requests/s straight to the sandbox (sequential): {args.calls / (sum(direct) / 1000):.0f}")
        print(f"  mean of the gateway's added time: {statistics.mean(gateway) - statistics.mean(direct):.2f} ms")
        if cpu_before is not None and cpu_after is not None:
            # Comparable across machines of one kind where wall times are not: what one call costs the worker.
            per_call = (cpu_after - cpu_before) / args.calls * 1000
            print(f"  worker CPU per gateway call (all threads, work after the response included): {per_call:.2f} ms")
        print(f"  whole run: {wall:.1f} s")
        print()
        print("The gateway's own layers (API key, rate limit and quota, usage record) on a platform endpoint,")
        print("GET /api/v1/connectors/{id}/ as an API client vs the same request from a signed-in session:")
        print(f"  {'':5} {'session ms':>10} {'API key ms':>11} {'added ms':>9}")
        for label, share in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
            b, g = percentile(bare, share), percentile(layered, share)
            print(f"  {label:5} {b:10.2f} {g:11.2f} {g - b:9.2f}")
        p50_added, p99_added = rows[0][3], rows[2][3]
        print(
            f"  target p50 added <= {TARGET_P50_MS} ms: {'met' if p50_added <= TARGET_P50_MS else 'MISSED'}; "
            f"p99 added <= {TARGET_P99_MS} ms: {'met' if p99_added <= TARGET_P99_MS else 'MISSED'}"
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        sandbox.stop()
        from django.db import connections

        connections.close_all()
        drop_database()


if __name__ == "__main__":
    main()
