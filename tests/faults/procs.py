"""A daemon subprocess without the capabilities that let root ignore file permissions.

Root reads any file whatever its mode (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so an unreadable log
file can only be provoked for real in a process without them: ``setpriv`` clears the inheritable
and bounding sets before running the daemon, which then keeps uid 0 (it owns what the test
created) but obeys mode bits like any user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.daemonproc import DaemonProcess

SETPRIV = ["setpriv", "--inh-caps=-all", "--bounding-set=-all"]


def require_setpriv() -> None:
    if os.geteuid() != 0:
        pytest.skip("dropping root's file-permission override needs root to start with")
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")


class UnprivilegedDaemon(DaemonProcess):
    """``logflume run`` under ``setpriv`` (see the module docstring); otherwise a DaemonProcess."""

    def start(self) -> UnprivilegedDaemon:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed below
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [*SETPRIV, sys.executable, "-m", "logflume", "run", "-c", str(self.config)],
            stdout=log,
            stderr=log,
            env=env,
            cwd=self.config.parent,
        )
        log.close()
        return self
