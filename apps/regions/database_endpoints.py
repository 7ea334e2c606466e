"""The region's database endpoint record: which PostgreSQL is the primary, which is the standby.

Why a file and not a table: the record must be readable when the primary database is gone, because it is
exactly what a failover changes. Every process of the deployment reads it (through the
`apps.regions.switchable_postgresql` backend) whenever it opens a database connection, so a failover that
rewrites it moves the whole deployment without a restart; open connections to the old primary fail their
health check and reconnect. In a container deployment the file lives on a volume shared by the web, worker
and beat containers (see docker/compose.region.yaml). The `Region` row mirrors it for the admin.

The file holds no credentials: user and password still come from DATABASE_URL. It is replaced atomically
(write to a temporary file, fsync, rename), so a reader sees the old or the new record, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from django.utils import timezone

STANDBY_APPLICATION_NAME = "nofx_standby"


class EndpointRecordError(Exception):
    """The endpoint record is missing or cannot be read."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    dbname: str
    # Only needed where this host runs the cluster's tools (pg_ctl, pg_rewind): failover and failback.
    data_directory: str = ""

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}/{self.dbname}"

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Endpoint:
        try:
            return cls(
                host=str(raw["host"]),
                port=int(raw["port"]),
                dbname=str(raw["dbname"]),
                data_directory=str(raw.get("data_directory") or ""),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise EndpointRecordError(f"An endpoint needs host, port and dbname: {exc}") from None

    @classmethod
    def parse(cls, text: str, *, data_directory: str = "") -> Endpoint:
        """`host:port/dbname`."""
        try:
            address, dbname = text.rsplit("/", 1)
            host, port = address.rsplit(":", 1)
            return cls(host=host, port=int(port), dbname=dbname, data_directory=data_directory)
        except ValueError:
            raise EndpointRecordError(f"{text!r} is not host:port/dbname.") from None


@dataclass(frozen=True)
class EndpointRecord:
    region: str
    primary: Endpoint
    standby: Endpoint | None = None
    # The former primary after a failover, until failback rebuilds it as a standby.
    needs_rebuild: Endpoint | None = None
    generation: int = 1
    # Whether commits wait for the standby (synchronous_standby_names), which is what makes a failover
    # lose no committed transaction.
    synchronous: bool = False
    standby_application_name: str = STANDBY_APPLICATION_NAME
    updated_at: str = field(default_factory=lambda: timezone.now().isoformat())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> EndpointRecord:
        if not isinstance(raw, dict) or "primary" not in raw or "region" not in raw:
            raise EndpointRecordError("The endpoint record needs `region` and `primary`.")

        def optional(name: str) -> Endpoint | None:
            value = raw.get(name)
            return Endpoint.from_dict(value) if value else None

        return cls(
            region=str(raw["region"]),
            primary=Endpoint.from_dict(raw["primary"]),
            standby=optional("standby"),
            needs_rebuild=optional("needs_rebuild"),
            generation=int(raw.get("generation", 1)),
            synchronous=bool(raw.get("synchronous", False)),
            standby_application_name=str(raw.get("standby_application_name") or STANDBY_APPLICATION_NAME),
            updated_at=str(raw.get("updated_at") or ""),
        )

    def evolve(self, **changes: Any) -> EndpointRecord:
        return replace(self, updated_at=timezone.now().isoformat(), **changes)


_cache_lock = threading.Lock()
_cache: dict[str, tuple[tuple[int, int], EndpointRecord]] = {}


def read_record(path: str | os.PathLike[str]) -> EndpointRecord:
    """The record in `path`, re-read only when the file changed."""
    name = os.fspath(path)
    try:
        stat = os.stat(name)
    except OSError as exc:
        raise EndpointRecordError(f"Cannot read the database endpoint record {name}: {exc}") from None
    stamp = (stat.st_mtime_ns, stat.st_size)
    with _cache_lock:
        cached = _cache.get(name)
        if cached is not None and cached[0] == stamp:
            return cached[1]
    try:
        record = EndpointRecord.from_dict(json.loads(Path(name).read_text()))
    except (OSError, ValueError) as exc:
        raise EndpointRecordError(f"Cannot parse the database endpoint record {name}: {exc}") from None
    with _cache_lock:
        _cache[name] = (stamp, record)
    return record


def write_record(path: str | os.PathLike[str], record: EndpointRecord) -> None:
    """Replace the record atomically."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".endpoint-")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(record.to_dict(), handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    with _cache_lock:
        _cache.pop(os.fspath(target), None)
