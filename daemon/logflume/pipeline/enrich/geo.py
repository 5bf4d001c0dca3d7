"""Geo fields from a MaxMind-format ``.mmdb`` database; private and reserved addresses are tagged.

The database is memory-mapped by ``maxminddb``'s C reader, so a lookup is a read from memory,
not file I/O; results are cached per address string because logs repeat their clients.
"""

from __future__ import annotations

import ipaddress
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import maxminddb

from logflume.errors import ConfigError, ConfigIssue
from logflume.events import Event
from logflume.pipeline.enrich.base import BoundedCache
from logflume.pipeline.enrich.config import GeoConfig
from logflume.pipeline.paths import make_getter, make_setter

log = logging.getLogger("logflume.pipeline.enrich")
_MISS = object()
PRIVATE: dict[str, Any] = {"private": True}


def _name(record: Any) -> str | None:
    if isinstance(record, dict):
        names = record.get("names")
        if isinstance(names, dict):
            name = names.get("en")
            if isinstance(name, str):
                return name
    return None


def geo_fields(record: Any) -> dict[str, Any] | None:
    """Our flat geo object from a GeoIP2/GeoLite2 City, Country or ASN record (None if empty)."""
    if not isinstance(record, dict):
        return None
    out: dict[str, Any] = {}
    country = record.get("country") or record.get("registered_country")
    if isinstance(country, dict):
        if isinstance(country.get("iso_code"), str):
            out["country_code"] = country["iso_code"]
        if (name := _name(country)) is not None:
            out["country_name"] = name
    continent = record.get("continent")
    if isinstance(continent, dict) and isinstance(continent.get("code"), str):
        out["continent"] = continent["code"]
    subdivisions = record.get("subdivisions")
    if isinstance(subdivisions, list) and subdivisions and (region := _name(subdivisions[0])) is not None:
        out["region"] = region
    if (city := _name(record.get("city"))) is not None:
        out["city"] = city
    location = record.get("location")
    if isinstance(location, dict):
        lat, lon = location.get("latitude"), location.get("longitude")
        if isinstance(lat, int | float) and isinstance(lon, int | float):
            out["location"] = {"lat": lat, "lon": lon}  # Elasticsearch's geo_point object form
        if isinstance(location.get("time_zone"), str):
            out["timezone"] = location["time_zone"]
    if isinstance(record.get("autonomous_system_number"), int):
        out["asn"] = record["autonomous_system_number"]
    if isinstance(record.get("autonomous_system_organization"), str):
        out["as_org"] = record["autonomous_system_organization"]
    return out or None


def open_reader(path: Path, where: str) -> Any:
    """The database reader, or ConfigError naming the config key when it cannot be opened."""
    try:
        return maxminddb.open_database(str(path))
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
        raise ConfigError([ConfigIssue(where, f"cannot open geo database {path}: {exc}")]) from exc


class GeoLookup:
    name = "geo"

    def __init__(self, config: GeoConfig, reader: Any = None) -> None:
        if reader is None:
            reader = open_reader(config.database, "pipeline.enrich.geo.database")
        self.reader = reader
        self.get = make_getter(config.field)
        self.put = make_setter(config.target)
        self.cache = BoundedCache(config.cache_size)
        self.stats: Counter[str] = Counter()

    def lookup(self, text: str) -> dict[str, Any] | None:
        """The geo object for an address string (None: not an address, or not in the database)."""
        candidate = text.strip()
        if "," in candidate:  # X-Forwarded-For style list: the first is the client
            candidate = candidate.split(",", 1)[0].strip()
        try:
            address = ipaddress.ip_address(candidate)
        except ValueError:
            self.stats["invalid"] += 1
            return None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if not address.is_global or address.is_multicast:
            self.stats["private"] += 1
            return PRIVATE
        try:
            record = self.reader.get(address)
        except (ValueError, maxminddb.InvalidDatabaseError) as exc:
            # An IPv6 address in an IPv4-only database, or a damaged record.
            self.stats["error"] += 1
            log.debug("Geo lookup failed", extra={"address": candidate, "error": str(exc)})
            return None
        fields = geo_fields(record)
        self.stats["found" if fields else "unknown"] += 1
        return fields

    def __call__(self, events: list[Event], now: float) -> None:
        get, put, cache = self.get, self.put, self.cache
        for event in events:
            text = get(event)
            if type(text) is not str:
                continue
            fields: Any = cache.get(text, _MISS)
            if fields is _MISS:
                fields = self.lookup(text)
                cache.put(text, fields)
            if fields is not None:
                # A copy each: a later stage changing one event's geo must not change the others.
                copy = dict(fields)
                if "location" in copy:
                    copy["location"] = dict(copy["location"])
                put(event, copy)

    def close(self) -> None:
        self.reader.close()
