"""Running logflume for real: the local HTTP endpoint (metrics, health, log level, tap), systemd
notification and watchdog, and the ``check`` and ``tap`` commands.

This package sits beside ``app``: it reads the daemon through :class:`~logflume.ops.view.DaemonView`
and imports neither ``app`` nor ``config``; only ``app`` and the command modules wire it in.
"""
