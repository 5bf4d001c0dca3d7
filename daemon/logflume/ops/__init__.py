"""Running logflume for real: the local HTTP endpoint (metrics, health, log level, tap), systemd
notification and watchdog, config reload, and the ``check`` and ``tap`` commands.

This package sits beside ``app.py``: it reads the daemon through :class:`~logflume.ops.view.DaemonView`
and never imports ``app``; only ``app.py`` and the command modules wire it in.
"""
