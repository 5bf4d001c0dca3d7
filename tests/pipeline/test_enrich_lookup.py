"""User attributes from a lookup table file, reloaded when the file changes."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest

from logflume.errors import ConfigError
from logflume.pipeline.enrich.config import UserLookupConfig
from logflume.pipeline.enrich.lookup import UserLookup

CSV = "user_id,team,plan,region\nuser_1,search,pro,eu\nuser_2,ads,,us\n"
YAML = "user_1: {team: search, plan: pro}\n42: {team: infra, seats: 5}\n"


def table(tmp_path: Path, name: str, text: str, **options: Any) -> tuple[Path, UserLookup]:
    path = tmp_path / name
    path.write_text(text)
    return path, UserLookup(UserLookupConfig(path=path, **options), now=1000.0)


def rewrite(path: Path, text: str) -> None:
    """Write new content with a later mtime, as an editor or deploy would."""
    stat = path.stat()
    path.write_text(text)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def attrs(lookup: UserLookup, now: float, *ids: Any) -> list[Any]:
    events: list[dict[str, Any]] = [{"user_id": i} for i in ids]
    lookup(events, now)
    return [e.get("user") for e in events]


class TestTables:
    def test_csv_rows_keyed_by_user_id(self, tmp_path: Path) -> None:
        """A CSV row's other columns become the user object; empty cells are left out."""
        _, lookup = table(tmp_path, "users.csv", CSV)
        assert attrs(lookup, 1000.0, "user_1", "user_2", "user_3") == [
            {"team": "search", "plan": "pro", "region": "eu"},
            {"team": "ads", "region": "us"},
            None,
        ]

    def test_yaml_mapping_and_numeric_ids(self, tmp_path: Path) -> None:
        """YAML maps ids to attributes; numeric ids match numeric and string user ids alike."""
        _, lookup = table(tmp_path, "users.yaml", YAML)
        assert (attrs(lookup, 1000.0, "user_1", 42, "42")) == [
            {"team": "search", "plan": "pro"},
            {"team": "infra", "seats": 5},
            {"team": "infra", "seats": 5},
        ]

    @pytest.mark.parametrize("user_id", [None, ["user_1"], {"id": "user_1"}, 4.2, "nobody"])
    def test_unknown_or_odd_ids_add_nothing(self, tmp_path: Path, user_id: Any) -> None:
        """Ids not in the table, or not strings or integers, leave the user field absent."""
        _, lookup = table(tmp_path, "users.csv", CSV)
        assert attrs(lookup, 1000.0, user_id) == [None]

    def test_integer_id_too_long_for_text_adds_nothing(self, tmp_path: Path) -> None:
        """An integer id of 5,000 digits (str() refuses past 4,300) is no key: nothing added, no error."""
        _, lookup = table(tmp_path, "users.csv", CSV)
        assert attrs(lookup, 1000.0, 10**5000) == [None]

    def test_events_get_their_own_copy(self, tmp_path: Path) -> None:
        """Changing one event's user object does not change the table or other events."""
        _, lookup = table(tmp_path, "users.csv", CSV)
        first, second = attrs(lookup, 1000.0, "user_1", "user_1")
        first["team"] = "changed"
        assert "search" == second["team"] == attrs(lookup, 1000.0, "user_1")[0]["team"]

    def test_custom_key_and_target(self, tmp_path: Path) -> None:
        """The key field (and CSV key column) and the target are configurable."""
        path = tmp_path / "t.csv"
        path.write_text("account,tier\nacc-9,gold\n")
        lookup = UserLookup(UserLookupConfig(path=path, key="ctx.account", target="ctx.account_info"), now=0)
        events = [{"ctx": {"account": "acc-9"}}]
        lookup(events, 0)
        assert events[0] == {"ctx": {"account": "acc-9", "account_info": {"tier": "gold"}}}

    @pytest.mark.parametrize(
        ("name", "text", "message"),
        [
            ("users.csv", "id,team\n1,x\n", "the CSV header has no 'user_id' column"),
            ("users.yaml", "- just\n- a list\n", "must map each user id to a mapping"),
            ("users.yaml", "a: [unclosed\n", "not valid YAML"),
            ("users.yaml", "a: " + "[" * 20_000 + "]" * 20_000 + "\n", "nested deeper than 64 levels"),
            (
                "users.yaml",
                "".join(f"l{n}: &l{n} [{', '.join([f'*l{n - 1}' if n else 'x'] * 9)}]\n" for n in range(9)),
                "aliases expand this value",
            ),
        ],
        ids=["csv-header", "yaml-list", "yaml-syntax", "yaml-deep", "yaml-alias-bomb"],
    )
    def test_bad_table_fails_the_build(self, tmp_path: Path, name: str, text: str, message: str) -> None:
        """A table that cannot be read at start-up is a config error naming the key and the reason."""
        with pytest.raises(ConfigError) as info:
            table(tmp_path, name, text)
        assert "pipeline.enrich.users.path" in str(info.value)
        assert message in str(info.value)

    def test_missing_file_fails_the_build(self, tmp_path: Path) -> None:
        """A lookup file that does not exist is a config error."""
        with pytest.raises(ConfigError, match="cannot load"):
            UserLookup(UserLookupConfig(path=tmp_path / "absent.csv"), now=0)


class TestReload:
    def test_changed_file_is_reloaded_after_the_interval(self, tmp_path: Path) -> None:
        """A rewritten file is picked up on the first batch after reload_interval, not before."""
        path, lookup = table(tmp_path, "users.csv", CSV, reload_interval="5s")
        rewrite(path, "user_id,team\nuser_1,platform\n")
        before = attrs(lookup, 1004.0, "user_1")
        after = attrs(lookup, 1005.0, "user_1", "user_2")
        assert (
            before,
            after,
            lookup.reloads,
        ) == ([{"team": "search", "plan": "pro", "region": "eu"}], [{"team": "platform"}, None], 1)

    def test_unchanged_file_is_not_reread(self, tmp_path: Path) -> None:
        """Only the file's status is checked when nothing changed."""
        _, lookup = table(tmp_path, "users.csv", CSV, reload_interval=1)
        for now in (1001.0, 1002.0, 1003.0):
            attrs(lookup, now, "user_1")
        assert lookup.reloads == 0

    def test_broken_rewrite_keeps_the_old_table_and_warns_once(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A rewrite that cannot be parsed keeps the previous table and is reported once."""
        path, lookup = table(tmp_path, "users.yaml", YAML, reload_interval=1)
        rewrite(path, "user_1: [broken\n")
        with caplog.at_level(logging.WARNING, logger="logflume.pipeline.enrich"):
            results = [attrs(lookup, now, "user_1")[0] for now in (1001.0, 1002.0, 1003.0)]
        assert (
            results,
            lookup.failures,
            [r.getMessage() for r in caplog.records],
        ) == ([{"team": "search", "plan": "pro"}] * 3, 1, ["Lookup table reload failed, keeping the old one"])

    def test_deleted_file_keeps_the_old_table_until_it_returns(self, tmp_path: Path) -> None:
        """A vanished file keeps the table in use; a new file is loaded when it appears."""
        path, lookup = table(tmp_path, "users.csv", CSV, reload_interval=1)
        path.unlink()
        during = attrs(lookup, 1001.0, "user_1")[0]
        path.write_text("user_id,team\nuser_1,returned\n")
        after = attrs(lookup, 1002.0, "user_1")[0]
        assert (during, after) == ({"team": "search", "plan": "pro", "region": "eu"}, {"team": "returned"})
