"""Config loading and `logflume validate`: errors name the YAML key path and line."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from logflume.config import interpolate, parse_config
from logflume.errors import ConfigError
from tests.hostile_configs import CASES, Hostile, write_hostile

MINIMAL = """\
state_dir: ./state
sources:
  - name: proxy
    include: ["./logs/*.log"]
sinks:
  - name: local
    type: file
    path: "./out/{source}/%Y-%m-%d.jsonl"
"""


def validate(
    tmp_path: Path, text: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return subprocess.run(
        [sys.executable, "-m", "logflume", "validate", "-c", str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


class TestValidateCommand:
    def test_minimal_config_is_valid(self, tmp_path: Path) -> None:
        """The issue's minimal config validates as written."""
        result = validate(tmp_path, MINIMAL)
        assert (result.returncode, result.stderr) == (0, "")

    def test_unknown_key(self, tmp_path: Path) -> None:
        """An unknown key exits 2 naming its path and line."""
        text = MINIMAL.replace("    type: file\n", "    type: file\n    rotation:\n      max_sise: 10MB\n")
        result = validate(tmp_path, text)
        assert result.returncode == 2
        assert "sinks[0].rotation.max_sise (line 9): unknown key" in result.stderr

    def test_wrong_type(self, tmp_path: Path) -> None:
        """A value of the wrong type exits 2 naming its path."""
        text = MINIMAL + "queue_chunks: many\n"
        result = validate(tmp_path, text)
        assert result.returncode == 2
        assert "queue_chunks (line 9)" in result.stderr

    def test_missing_environment_variable(self, tmp_path: Path) -> None:
        """${VAR} without a default and unset exits 2 naming the key that uses it."""
        text = MINIMAL.replace('"./out/{source}/%Y-%m-%d.jsonl"', '"${LOGFLUME_TEST_UNSET_DIR}/x.jsonl"')
        result = validate(tmp_path, text, env={"PATH": "/usr/bin:/bin"})
        assert result.returncode == 2
        assert (
            "sinks[0].path (line 8): environment variable LOGFLUME_TEST_UNSET_DIR is not set" in result.stderr
        )

    def test_bad_size_and_duration(self, tmp_path: Path) -> None:
        """Sizes and durations are parsed; nonsense is rejected at its path."""
        text = MINIMAL + "checkpoint_interval: soon\n"
        text = text.replace(
            '    include: ["./logs/*.log"]\n', '    include: ["./logs/*.log"]\n    max_line_bytes: 1QB\n'
        )
        result = validate(tmp_path, text)
        assert result.returncode == 2
        assert "sources[0].max_line_bytes (line 5)" in result.stderr
        assert "checkpoint_interval (line 10)" in result.stderr

    def test_bad_glob(self, tmp_path: Path) -> None:
        """A glob with an unclosed bracket is rejected."""
        result = validate(tmp_path, MINIMAL.replace("./logs/*.log", "./logs/[a-z.log"))
        assert result.returncode == 2
        assert "sources[0].include" in result.stderr

    def test_not_yaml(self, tmp_path: Path) -> None:
        """Broken YAML exits 2 with the line of the problem."""
        result = validate(tmp_path, "state_dir: [unclosed\n")
        assert result.returncode == 2
        assert "not valid YAML" in result.stderr

    def test_version(self) -> None:
        """--version starts with the package version (tests/cli has the rest of what it prints)."""
        from logflume import __version__

        result = subprocess.run(
            [sys.executable, "-m", "logflume", "--version"], capture_output=True, text=True, check=True
        )
        assert result.stdout.splitlines()[0] == f"logflume {__version__}"


def _limit_memory() -> None:
    # Far above what validating a config takes (~100 MB), far below what an expanded alias
    # bomb takes: an expansion that happened would end in MemoryError, not exit 2.
    limit = 1024**3
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


class TestHostileConfig:
    @pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
    def test_exits_2_with_the_problem(self, tmp_path: Path, case: Hostile) -> None:
        """A hostile or absurd config exits 2 naming the problem (and its key path), in bounded
        memory, never with a traceback."""
        path = tmp_path / "c.yaml"
        write_hostile(path, case, MINIMAL)
        result = subprocess.run(
            [sys.executable, "-m", "logflume", "validate", "-c", str(path)],
            capture_output=True,
            text=True,
            timeout=120,
            preexec_fn=_limit_memory,
            check=False,
        )
        assert (2, True, False) == (
            result.returncode,
            case.message in result.stderr,
            "Traceback" in result.stderr,
        ), result.stderr[-2000:]

    def test_partial_blocks_still_validate(self, tmp_path: Path) -> None:
        """The bounds leave ordinary settings alone: big but sane sizes and names validate."""
        text = MINIMAL.replace("name: proxy", "name: proxy-2.eu_west").replace(
            '    include: ["./logs/*.log"]\n',
            '    include: ["./logs/*.log"]\n    max_line_bytes: 64MiB\n    read_bytes: 4MiB\n',
        )
        text += "queue_chunks: 256\n"
        result = validate(tmp_path, text)
        assert (result.returncode, result.stderr) == (0, "")

    def test_secret_file_too_large(self, tmp_path: Path) -> None:
        """A ${file:...} secret larger than 64 KiB is refused at the key that uses it."""
        secret = tmp_path / "big"
        secret.write_bytes(b"x" * (64 * 1024 + 1))
        text = MINIMAL.replace('"./out/{source}/%Y-%m-%d.jsonl"', f'"${{file:{secret}}}"')
        with pytest.raises(ConfigError, match="larger than 65536 bytes") as info:
            parse_config(text)
        assert ["sinks[0].path"] == [issue.path for issue in info.value.issues]

    def test_secret_file_not_text(self, tmp_path: Path) -> None:
        """A ${file:...} secret that is not UTF-8 is refused at the key that uses it."""
        secret = tmp_path / "bin"
        secret.write_bytes(b"\xff\xfe")
        text = MINIMAL.replace('"./out/{source}/%Y-%m-%d.jsonl"', f'"${{file:{secret}}}"')
        with pytest.raises(ConfigError, match="not UTF-8 text") as info:
            parse_config(text)
        assert ["sinks[0].path"] == [issue.path for issue in info.value.issues]


class TestInterpolation:
    def test_default_and_set(self) -> None:
        """${VAR:-default} uses the default only when VAR is unset or empty."""
        assert interpolate("${A:-x}/${B:-y}", {"A": "set"}) == "set/y"

    def test_dollar_escape(self) -> None:
        """$$ is a literal dollar sign."""
        assert interpolate("cost $$5", {}) == "cost $5"

    def test_secret_from_file(self, tmp_path: Path) -> None:
        """${file:/path} reads a secret from a file, without its trailing newline."""
        secret = tmp_path / "pw"
        secret.write_text("hunter2\n")
        assert interpolate(f"${{file:{secret}}}", {}) == "hunter2"

    def test_values_are_typed_after_interpolation(self) -> None:
        """An interpolated number is validated as a number."""
        config = parse_config(MINIMAL + "queue_chunks: ${CHUNKS}\n", env={"CHUNKS": "7"})
        assert config.queue_chunks == 7

    def test_duplicate_sink_names(self) -> None:
        """Two sinks with one name are rejected."""
        text = MINIMAL + "  - name: local\n    type: file\n    path: ./other.jsonl\n"
        with pytest.raises(ConfigError, match="duplicate name 'local'"):
            parse_config(text)


class TestShippedConfigs:
    ROOT = Path(__file__).resolve().parent.parent

    @pytest.mark.parametrize("name", ["default.yaml", "logflume.example.yaml"])
    def test_config_files_validate(self, name: str) -> None:
        """The configs shipped in config/ are valid (secrets given as environment variables)."""
        env = {
            v: "x"
            for v in (
                "SLACK_WEBHOOK_URL",
                "PAGERDUTY_ROUTING_KEY",
                "SMTP_PASSWORD",
                "ES_API_KEY",
                "PGPASSWORD",
            )
        }
        config = parse_config((self.ROOT / "config" / name).read_text(), name, env=env)
        assert config.sources

    def test_default_is_the_embedded_one(self) -> None:
        """config/default.yaml is the config `logflume run` uses without -c."""
        from logflume.config import default_config_text

        assert (self.ROOT / "config" / "default.yaml").read_text() == default_config_text()
