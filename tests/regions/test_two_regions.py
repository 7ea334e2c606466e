"""Two regions on one machine: two app processes, two PostgreSQL databases, one shared replication secret.

us-east and eu-west each run gunicorn with their own NOFX_REGION, SITE_URL, port and database. The test
creates an organization in eu-west through its API, delivers eu-west's outbox to us-east over HTTP, and then
shows us-east sending that organization's pages and API calls to eu-west, eu-west refusing to let the
organization's data go to a US location, and an organization of us-east moving to eu-west.
"""

from __future__ import annotations

import http.client
import http.cookiejar
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from cryptography.fernet import Fernet
from django.conf import settings

pytestmark = pytest.mark.postgres

BASE_DIR = Path(settings.BASE_DIR)


def _server() -> dict[str, object]:
    db = settings.DATABASES["default"]
    return {"host": db["HOST"], "port": db["PORT"] or 5432, "user": db["USER"], "password": db["PASSWORD"] or None}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(eq=False)
class RegionProcess:
    code: str
    dbname: str
    port: int
    env: dict[str, str]
    server: subprocess.Popen[bytes] | None = None
    person: tuple[str, str] = ("", "")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def manage(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            # Only a guard against a hang: `migrate` of every app takes two minutes on a loaded two-core machine.
            timeout=300,
            check=False,
        )

    def start(self) -> None:
        self.server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "nofx.wsgi:application", "--bind", f"127.0.0.1:{self.port}",
             "--workers", "1", "--threads", "4", "--log-level", "warning"],
            cwd=BASE_DIR,
            env=self.env,
        )  # fmt: skip

    def wait_until_serving(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if get(self.url + "/healthz").status == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.code} did not start serving on {self.url}")

    def stop(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
            try:
                self.server.wait(10)
            except subprocess.TimeoutExpired:
                self.server.kill()

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with psycopg.connect(dbname=self.dbname, **_server()) as conn:  # type: ignore[arg-type]
            return conn.execute(sql, params).fetchall()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def get(url: str, headers: dict[str, str] | None = None) -> Answer:
    """One request, redirects not followed (we want to see them)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def _checked(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@contextmanager
def two_regions() -> Iterator[tuple[RegionProcess, RegionProcess]]:
    suffix = uuid.uuid4().hex[:8]
    shared = {
        "DJANGO_SETTINGS_MODULE": "nofx.settings.local",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(40),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "NOFX_REGION_REPLICATION_SECRETS": secrets.token_urlsafe(32),
        "OUTBOUND_ALLOW_PRIVATE_ADDRESSES": "true",
        # No worker runs here: queued tasks vanish with the process and the test delivers the outbox itself.
        "CELERY_BROKER_URL": "memory://",
        "CELERY_RESULT_BACKEND": "cache+memory://",
        "REDIS_URL": "",
        "LOG_LEVEL": "WARNING",
    }
    regions = []
    for code in ("us-east", "eu-west"):
        dbname = f"nofx_reg_{code.replace('-', '_')}_{suffix}"
        port = _free_port()
        env = {
            **os.environ,
            **shared,
            "NOFX_REGION": code,
            "SITE_URL": f"http://127.0.0.1:{port}",
            "DATABASE_URL": "postgres://{user}:{password}@{host}:{port}/{name}".format(
                name=dbname, **{k: v or "" for k, v in _server().items()}
            ),
        }
        regions.append(RegionProcess(code=code, dbname=dbname, port=port, env=env))
    us, eu = regions
    with psycopg.connect(dbname="postgres", autocommit=True, **_server()) as admin:  # type: ignore[arg-type]
        admin.execute(f'CREATE DATABASE "{us.dbname}"')
    try:
        _checked(us.manage("migrate", "--no-input"))
        with psycopg.connect(dbname="postgres", autocommit=True, **_server()) as admin:  # type: ignore[arg-type]
            admin.execute(f'CREATE DATABASE "{eu.dbname}" TEMPLATE "{us.dbname}"')
        # Each region registers both regions and its first person in its own database, and eu-west gets its
        # GDPR rule: one process per region (Django's start-up is the slow part), the two side by side.
        password = secrets.token_urlsafe(16)
        for region, person in ((us, "olivia@acme.example"), (eu, "greta@globex.example")):
            region.env["DJANGO_SUPERUSER_PASSWORD"] = password
            region.person = (person, password)
        setups = {
            region: [
                *(["register_region", code, "--name", code.upper(), "--public-url", other.url, "--status", "active"]
                  for code, other in (("us-east", us), ("eu-west", eu))),
                ["createsuperuser", "--no-input", "--email", region.person[0]],
            ]
            for region in (us, eu)
        }  # fmt: skip
        setups[eu].append(["add_residency_rule", "eu-west", "allow", "eu-*", "--reason", "GDPR: EU/EEA only"])
        with ThreadPoolExecutor(max_workers=2) as pool:
            script = "from django.core.management import call_command as c\n{}"
            calls = {r: script.format("\n".join(f"c(*{args!r})" for args in setups[r])) for r in (us, eu)}
            for result in pool.map(lambda r: r.manage("shell", "--no-imports", "-c", calls[r]), (us, eu)):
                _checked(result)
        for region in (us, eu):
            region.start()
        for region in (us, eu):
            region.wait_until_serving()
        yield us, eu
    finally:
        for region in (us, eu):
            region.stop()
        with psycopg.connect(dbname="postgres", autocommit=True, **_server()) as admin:  # type: ignore[arg-type]
            for region in (us, eu):
                admin.execute(f'DROP DATABASE IF EXISTS "{region.dbname}" WITH (FORCE)')


def _signed_in_opener(region: RegionProcess, email: str, password: str) -> tuple[urllib.request.OpenerDirector, str]:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(region.url + "/accounts/login/").read()
    csrf = next(c.value for c in jar if c.name == "csrftoken")
    form = urllib.parse.urlencode({"login": email, "password": password, "csrfmiddlewaretoken": csrf}).encode()
    login = urllib.request.Request(region.url + "/accounts/login/", data=form, headers={"Referer": region.url})
    opener.open(login).read()
    assert any(c.name == "sessionid" for c in jar), "the sign-in did not succeed"
    csrf = next(c.value for c in jar if c.name == "csrftoken")
    return opener, csrf


def test_two_regions_replicate_the_directory_redirect_foreign_organizations_and_enforce_residency():
    with two_regions() as (us, eu):
        # given a person in each region and a GDPR rule in eu-west (set up by two_regions())
        # when the person in eu-west creates an organization homed there through eu-west's API
        opener, csrf = _signed_in_opener(eu, *eu.person)
        create = urllib.request.Request(
            eu.url + "/api/v1/organizations/",
            data=json.dumps({"name": "Globex Europe", "home_region_code": "eu-west"}).encode(),
            headers={"Content-Type": "application/json", "X-CSRFToken": csrf, "Referer": eu.url},
        )
        with opener.open(create) as response:
            assert response.status == 201
            slug = json.loads(response.read())["slug"]
        # and eu-west delivers its outbox (beat does this every 30 s; here it is run once)
        delivered = _checked(eu.manage("deliver_outbox"))

        # then us-east's directory knows where the organization lives
        assert "failed 0" in delivered
        assert us.query("SELECT region_code FROM regions_directoryentry WHERE slug = %s", (slug,)) == [("eu-west",)]
        # and us-east sends its pages to eu-west, keeping the path
        page = get(f"{us.url}/orgs/{slug}/?tab=teams")
        assert page.status == 302
        assert page.headers["location"] == f"{eu.url}/orgs/{slug}/?tab=teams"
        # and answers its API calls with a 307 naming eu-west
        api = get(f"{us.url}/api/v1/teams/", headers={"X-Organization": slug})
        assert api.status == 307
        assert api.headers["content-type"] == "application/problem+json"
        assert api.headers["location"] == f"{eu.url}/api/v1/teams/"
        assert json.loads(api.body)["region"] == "eu-west"
        # while eu-west serves the organization itself (here: asks for a sign-in rather than redirecting)
        home = get(f"{eu.url}/orgs/{slug}/")
        assert home.status == 302
        assert home.headers["location"].startswith("/accounts/login/")

        # when every delivery is sent again (a lost acknowledgement), us-east's directory does not change
        directory = "SELECT kind, key, slug, region_code, version FROM regions_directoryentry ORDER BY kind, key"
        before = us.query(directory)
        eu.query("UPDATE regions_outboxdelivery SET status = 'pending', next_attempt_at = now() RETURNING id")
        assert "Delivered 0" not in _checked(eu.manage("deliver_outbox"))
        assert us.query(directory) == before

        # and eu-west refuses to send the organization's data to a US location, recording a security event
        refused = eu.manage("check_residency", slug, "us-east")
        assert refused.returncode != 0
        assert "may not be sent to us-east: GDPR: EU/EEA only" in refused.stderr
        assert eu.query(
            "SELECT data->>'destination_location' FROM security_auditevent WHERE action = 'regions.residency_refused'"
        ) == [("us-east",)]
        # and so is moving the organization to us-east
        move = eu.manage("move_organization", slug, "us-east")
        assert move.returncode != 0
        assert "GDPR" in move.stderr

        # when an organization of us-east moves to eu-west
        opener, csrf = _signed_in_opener(us, *us.person)
        create = urllib.request.Request(
            us.url + "/api/v1/organizations/",
            data=json.dumps({"name": "Acme", "home_region_code": "us-east"}).encode(),
            headers={"Content-Type": "application/json", "X-CSRFToken": csrf, "Referer": us.url},
        )
        with opener.open(create) as response:
            acme = json.loads(response.read())
        moved = _checked(us.manage("move_organization", acme["slug"], "eu-west"))

        # then eu-west holds it, us-east no longer does and sends its requests to eu-west
        assert "purged" in moved
        assert eu.query(
            "SELECT home_region_code, is_active FROM accounts_organization WHERE id = %s", (acme["id"],)
        ) == [("eu-west", True)]
        assert eu.query("SELECT count(*) FROM accounts_membership WHERE organization_id = %s", (acme["id"],)) == [(1,)]
        assert us.query("SELECT count(*) FROM accounts_organization WHERE id = %s", (acme["id"],)) == [(0,)]
        assert get(f"{us.url}/orgs/{acme['slug']}/").headers["location"] == f"{eu.url}/orgs/{acme['slug']}/"
