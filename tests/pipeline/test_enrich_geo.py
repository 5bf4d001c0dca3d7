"""Geo enrichment against a real .mmdb database built by the test with mmdb-writer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from logflume.errors import ConfigError
from logflume.events import Batch
from logflume.pipeline.enrich import EnrichConfig, Enricher, build_enrichments
from logflume.pipeline.enrich.config import GeoConfig
from logflume.pipeline.enrich.geo import GeoLookup

LONDON = {
    "continent": {"code": "EU", "names": {"en": "Europe"}},
    "country": {"iso_code": "GB", "names": {"en": "United Kingdom", "de": "Vereinigtes Königreich"}},
    "subdivisions": [{"iso_code": "ENG", "names": {"en": "England"}}],
    "city": {"names": {"en": "London"}},
    "location": {"latitude": 51.5142, "longitude": -0.0931, "time_zone": "Europe/London"},
}
ASN_ONLY = {"autonomous_system_number": 64500, "autonomous_system_organization": "Example Net"}
COUNTRY_ONLY = {"registered_country": {"iso_code": "DE", "names": {"en": "Germany"}}}


@pytest.fixture(scope="module")
def geo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-City", languages=["en"])
    writer.insert_network(IPSet(["81.2.69.0/24"]), LONDON)
    writer.insert_network(IPSet(["89.160.20.112/28"]), ASN_ONLY)
    writer.insert_network(IPSet(["2a02:ff0::/32"]), COUNTRY_ONLY)
    writer.insert_network(IPSet(["45.33.32.0/24"]), {"unrelated": "data"})
    path = tmp_path_factory.mktemp("geo") / "test-city.mmdb"
    writer.to_db_file(str(path))
    return path


def enrich(db: Path, events: list[dict[str, Any]], **options: Any) -> list[dict[str, Any]]:
    config = EnrichConfig.model_validate({"performance": None, "geo": {"database": str(db), **options}})
    return Enricher(build_enrichments(config))(Batch(events), 0).events


class TestGeoLookup:
    def test_city_record_becomes_flat_geo_object(self, geo_db: Path) -> None:
        """A City record gives country, region, city, continent, location and time zone."""
        out = enrich(geo_db, [{"ip_address": "81.2.69.142"}])
        assert out[0]["geo"] == {
            "country_code": "GB",
            "country_name": "United Kingdom",
            "continent": "EU",
            "region": "England",
            "city": "London",
            "location": {"lat": 51.5142, "lon": -0.0931},
            "timezone": "Europe/London",
        }

    def test_asn_and_registered_country_records(self, geo_db: Path) -> None:
        """ASN fields and a registered_country (IPv6) are mapped too."""
        out = enrich(geo_db, [{"ip_address": "89.160.20.115"}, {"ip_address": "2a02:ff0::1"}])
        assert [e["geo"] for e in out] == [
            {"asn": 64500, "as_org": "Example Net"},
            {"country_code": "DE", "country_name": "Germany"},
        ]

    @pytest.mark.parametrize(
        "address", ["192.168.1.100", "10.0.0.1", "127.0.0.1", "172.16.5.4", "100.64.0.1", "169.254.1.1",
                    "::1", "fd00::1", "224.0.0.1", "0.0.0.0", "::ffff:192.168.1.1", "2001:db8::1"]
    )  # fmt: skip
    def test_private_and_reserved_addresses_are_tagged_without_lookup(self, address: str) -> None:
        """Private, loopback, link-local, shared, multicast and documentation addresses are tagged."""
        # A reader that fails if touched proves there was no lookup.
        lookup = GeoLookup(GeoConfig(database=Path("/nonexistent.mmdb")), reader=object())
        events = [{"ip_address": address}]
        lookup(events, 0)
        assert events[0]["geo"] == {"private": True}

    @pytest.mark.parametrize(
        "value", ["8.8.8.8", "not an ip", "", "999.1.1.1", 1234, None, {"ip": "81.2.69.142"}, "45.33.32.7"]
    )
    def test_unknown_values_leave_geo_absent(self, geo_db: Path, value: Any) -> None:
        """Addresses not in the database, records without geo data, and non-addresses add no geo."""
        out = enrich(geo_db, [{"ip_address": value}])
        assert "geo" not in out[0]

    def test_missing_field_leaves_event_unchanged(self, geo_db: Path) -> None:
        """An event without the address field is left as it was."""
        assert enrich(geo_db, [{"message": "x"}]) == [{"message": "x"}]

    def test_forwarded_list_uses_the_client_address(self, geo_db: Path) -> None:
        """In an X-Forwarded-For style list the first address (the client) is looked up."""
        out = enrich(
            geo_db, [{"client": {"ip": " 81.2.69.142, 10.0.0.1"}}], field="client.ip", target="client.geo"
        )
        assert out[0]["client"]["geo"]["city"] == "London"

    def test_events_get_their_own_copy(self, geo_db: Path) -> None:
        """Two events from one address get equal but separate geo objects."""
        out = enrich(geo_db, [{"ip_address": "81.2.69.142"}, {"ip_address": "81.2.69.142"}])
        out[0]["geo"]["location"]["lat"] = 0
        assert out[1]["geo"]["location"]["lat"] == 51.5142

    def test_results_are_cached_per_address(self, geo_db: Path) -> None:
        """Repeated addresses are looked up once."""
        lookup = GeoLookup(GeoConfig(database=geo_db))
        lookup([{"ip_address": "81.2.69.142"} for _ in range(5)] + [{"ip_address": "10.1.1.1"}], 0)
        assert dict(lookup.stats) == {"found": 1, "private": 1}

    def test_missing_database_is_a_config_error(self, tmp_path: Path) -> None:
        """A database that cannot be opened fails the build with the config key in the message."""
        with pytest.raises(ConfigError) as info:
            GeoLookup(GeoConfig(database=tmp_path / "absent.mmdb"))
        assert "pipeline.enrich.geo.database: cannot open geo database" in str(info.value)

    def test_corrupt_database_is_a_config_error(self, tmp_path: Path) -> None:
        """A file that is not an mmdb database fails the build too."""
        bad = tmp_path / "bad.mmdb"
        bad.write_bytes(b"not a database" * 100)
        with pytest.raises(ConfigError, match="cannot open geo database"):
            GeoLookup(GeoConfig(database=bad))
