"""PostgreSQL backend that connects to whichever server the region's endpoint record names as primary.

Settings switch to it when NOFX_DATABASE_ENDPOINT_FILE is set (see nofx/settings/base.py); the record is
read at every new connection (cheaply: it is cached until the file changes).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.backends.postgresql import base

from apps.regions.database_endpoints import read_record


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        params: dict[str, Any] = super().get_connection_params()
        path = self.settings_dict.get("ENDPOINT_FILE") or settings.DATABASE_ENDPOINT_FILE
        if path:
            primary = read_record(path).primary
            params.update(host=primary.host, port=primary.port, dbname=primary.dbname)
        return params
