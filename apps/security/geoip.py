"""Where an address is, from an offline MaxMind-format database when one is configured.

`SECURITY_GEOIP_CITY_DATABASE` (country and coordinates) and `SECURITY_GEOIP_ASN_DATABASE` name `.mmdb`
files on the servers. Without them the login detectors fall back to comparing address ranges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.conf import settings


@dataclass(frozen=True)
class Location:
    country: str = ""
    asn: int | None = None
    latitude: float | None = None
    longitude: float | None = None

    @property
    def has_coordinates(self) -> bool:
        return self.latitude is not None and self.longitude is not None


@cache
def _reader(path: str) -> Any:
    import maxminddb

    return maxminddb.open_database(path)


def geoip_configured() -> bool:
    return bool(settings.SECURITY_GEOIP_CITY_DATABASE or settings.SECURITY_GEOIP_ASN_DATABASE)


def locate(address: str) -> Location | None:
    """The address's country, network operator and coordinates; None without a database or a match."""
    if not geoip_configured():
        return None
    city: dict[str, Any] = {}
    asn: dict[str, Any] = {}
    try:
        if settings.SECURITY_GEOIP_CITY_DATABASE:
            city = _reader(settings.SECURITY_GEOIP_CITY_DATABASE).get(address) or {}
        if settings.SECURITY_GEOIP_ASN_DATABASE:
            asn = _reader(settings.SECURITY_GEOIP_ASN_DATABASE).get(address) or {}
    except ValueError:
        return None
    if not city and not asn:
        return None
    place = city.get("location") or {}
    return Location(
        country=str((city.get("country") or {}).get("iso_code") or ""),
        asn=asn.get("autonomous_system_number"),
        latitude=place.get("latitude"),
        longitude=place.get("longitude"),
    )


def distance_km(a: Location, b: Location) -> float:
    """Great-circle distance (haversine) between two located addresses."""
    if not (a.has_coordinates and b.has_coordinates):
        raise ValueError("Both locations need coordinates.")
    lat1, lon1, lat2, lon2 = (math.radians(float(v or 0.0)) for v in (a.latitude, a.longitude, b.latitude, b.longitude))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))
