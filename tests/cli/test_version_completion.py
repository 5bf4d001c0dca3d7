"""``logflume --version`` and shell completion, through the installed ``logflume`` script."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from logflume import __version__, extras
from tests.cli.helpers import HEAVY, logflume

SCRIPT = Path(sys.executable).parent / "logflume"


def extra_states(stdout: str) -> dict[str, str]:
    """The ``extras:`` section of --version: extra name -> what is said about it."""
    lines = stdout.splitlines()
    section = lines[lines.index("extras:") + 1 :]
    return {line.split()[0]: line.split(None, 1)[1] for line in section}


class TestVersion:
    def test_names_python_platform_and_libraries(self) -> None:
        """--version prints logflume's, Python's and the platform's versions and each library's."""
        result = subprocess.run([str(SCRIPT), "--version"], capture_output=True, text=True, timeout=60)
        assert (0, "") == (result.returncode, result.stderr)
        lines = result.stdout.splitlines()
        assert f"logflume {__version__}" == lines[0]
        assert lines[1].startswith(f"Python {platform.python_version()} ({platform.python_implementation()})")
        assert f"platform {platform.platform()}" == lines[2]
        assert f"pydantic {extras.distribution_version('pydantic')}" in lines[3]
        expected = {
            name: "installed ("
            + ", ".join(f"{d} {extras.distribution_version(d)}" for d in extra.distributions)
            + ")"
            for name, extra in extras.EXTRAS.items()
        }
        assert expected == extra_states(result.stdout)

    def test_a_missing_extra_says_how_to_install_it(self) -> None:
        """Without asyncpg, --version lists postgres as not installed, with its pip command."""
        result = logflume("--version", hide=("postgres",))
        assert 0 == result.returncode
        assert "not installed: pip install 'logflume[postgres]'" == extra_states(result.stdout)["postgres"]

    def test_imports_none_of_the_libraries(self) -> None:
        """Versions come from package metadata: printing them loads no heavy library."""
        code = (
            "import sys\nfrom logflume.cli import main\ntry:\n    main(['--version'])\nexcept SystemExit:\n"
            f"    print(sorted(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)"
        )
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert "[]" == result.stderr.strip()


def complete(line: str, tmp_path: Path) -> list[str]:
    """What the shell would offer for ``line`` (argcomplete's protocol, as bash's hook speaks it)."""
    out = tmp_path / "completions"
    env = dict(
        os.environ,
        _ARGCOMPLETE="1",
        _ARGCOMPLETE_IFS="\n",
        _ARGCOMPLETE_STDOUT_FILENAME=str(out),
        COMP_LINE=line,
        COMP_POINT=str(len(line)),
    )
    result = subprocess.run([str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert 0 == result.returncode, result.stderr
    return sorted(word.strip() for word in out.read_text().split("\n") if word.strip())


class TestCompletion:
    def test_completes_commands(self, tmp_path: Path) -> None:
        """Tab after 'logflume an' offers analyze; after 'logflume ' every command."""
        assert ["analyze"] == complete("logflume an", tmp_path)
        assert {"run", "validate", "check", "tap", "analyze", "query", "generate", "demo"} <= set(
            complete("logflume ", tmp_path)
        )

    def test_completes_options_and_choices(self, tmp_path: Path) -> None:
        """Options of a command, and the choices of an option, are offered."""
        assert ["--format"] == complete("logflume analyze --form", tmp_path)
        assert ["csv", "json", "table"] == complete("logflume analyze --format ", tmp_path)

    def test_completes_file_arguments(self, tmp_path: Path) -> None:
        """-c completes file names from the working directory."""
        (tmp_path / "logflume.yaml").write_text("")
        assert ["logflume.yaml"] == complete("logflume validate -c logf", tmp_path)

    def test_registration_script_is_installed(self) -> None:
        """README's `register-python-argcomplete logflume` prints a completion hook for the shell."""
        tool = shutil.which("register-python-argcomplete", path=str(SCRIPT.parent))
        assert tool is not None
        result = subprocess.run([tool, "logflume"], capture_output=True, text=True, timeout=60)
        assert 0 == result.returncode
        assert "complete " in result.stdout
        assert "logflume" in result.stdout
