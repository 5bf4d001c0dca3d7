"""A systemd unit's [Service] sandboxing, translated into a spec the launcher applies.

Every option of the unit's [Service] section is either translated here or listed as one that does
not sandbox (lifecycle, notify, restart): a new option in the unit that is neither fails the
translation, so the test cannot silently stop covering what the unit does.

What cannot be reproduced exactly on a test machine, and what stands in for it:

* DynamicUser: a fixed unused uid/gid from systemd's dynamic range (no NSS entry, like systemd's).
* ProtectHome: /home, /root and /run/user are masked, but the Python installation running the
  tests lives under /root here (on a real install it is under /usr or /opt), so that one
  directory is put back read-only inside the mask.
* StateDirectory, ConfigurationDirectory and ReadOnlyPaths name directories that do not exist on
  this machine; a read-only overlay adds the empty mount points inside the namespace only, and
  directories of the test are bind-mounted there.
* PrivateDevices: a /dev with null, zero, full, random, urandom, tty and shm only (no pts).
* SystemCallArchitectures=native: every filter is built for the native architecture only, which
  makes any other ABI hit libseccomp's bad-architecture action (kill).
"""

from __future__ import annotations

import grp
import os
from pathlib import Path
from typing import Any

from tests.ops.sandbox import syscalls

# systemd's range for DynamicUser= (61184 to 65519).
DYNAMIC_UID = 61184
# Options that do not restrict what the process may do.
NOT_SANDBOXING = {
    "Type",
    "NotifyAccess",
    "WatchdogSec",
    "WatchdogSignal",
    "ExecStartPre",
    "ExecStart",
    "ExecReload",
    "Restart",
    "RestartSec",
    "TimeoutStopSec",
}
PROC_READ_ONLY = (
    "sys",
    "sysrq-trigger",
    "latency_stats",
    "acpi",
    "timer_stats",
    "asound",
    "bus",
    "fs",
    "irq",
)
HOME_DIRECTORIES = ("/home", "/root", "/run/user")
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
TRANSLATED = {
    "Environment",
    "DynamicUser",
    "SupplementaryGroups",
    "StateDirectory",
    "StateDirectoryMode",
    "ConfigurationDirectory",
    "WorkingDirectory",
    "UMask",
    "ProtectSystem",
    "ProtectHome",
    "ReadOnlyPaths",
    "PrivateTmp",
    "PrivateDevices",
    "NoNewPrivileges",
    "CapabilityBoundingSet",
    "AmbientCapabilities",
    "ProtectKernelTunables",
    "ProtectKernelModules",
    "ProtectKernelLogs",
    "ProtectControlGroups",
    "ProtectClock",
    "ProtectHostname",
    "ProtectProc",
    "RestrictAddressFamilies",
    "RestrictNamespaces",
    "RestrictRealtime",
    "RestrictSUIDSGID",
    "LockPersonality",
    "SystemCallArchitectures",
    "SystemCallFilter",
    "LimitNOFILE",
}


def service_options(text: str) -> dict[str, list[str]]:
    """The [Service] section's options, each with all its values in order (options may repeat)."""
    options: dict[str, list[str]] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        if section == "Service":
            key, _, value = line.partition("=")
            options.setdefault(key.strip(), []).append(value.strip())
    return options


def _yes(options: dict[str, list[str]], key: str) -> bool:
    return options.get(key, ["no"])[-1] in ("yes", "true", "1", "on")


def translate(text: str, paths: dict[str, Path], uncover: list[str]) -> dict[str, Any]:
    """The launcher's spec for the unit ``text``.

    ``paths`` gives, for each directory the unit names (state, configuration, read-only paths),
    the test directory that stands in for it; ``uncover`` lists directories under a masked home
    or a private /tmp that must stay readable (the Python installation, the checkout).
    """
    options = service_options(text)
    unknown = set(options) - TRANSLATED - NOT_SANDBOXING
    assert not unknown, f"unit options without a translation in the sandbox test: {sorted(unknown)}"
    state = f"/var/lib/{options['StateDirectory'][-1]}"
    config = f"/etc/{options['ConfigurationDirectory'][-1]}"
    read_only = [path for value in options.get("ReadOnlyPaths", []) for path in value.split()]
    for unit_path in (state, config, *read_only):
        assert unit_path in paths, f"no test directory given for {unit_path}"

    mounts: list[dict[str, Any]] = [{"op": "hold", "path": str(path)} for path in paths.values()]
    mounts += [{"op": "hold", "path": path} for path in uncover]
    if _yes(options, "PrivateDevices"):
        mounts += [{"op": "hold", "path": f"/dev/{name}"} for name in DEVICES]
    missing = [path for path in paths if not Path(path).exists()]
    mounts += [{"op": "mountpoints", "paths": missing}]
    assert options.get("ProtectSystem") == ["strict"], "only ProtectSystem=strict is translated"
    mounts.append({"op": "remount_read_only", "except": ["/proc", "/sys", "/dev"]})
    if options.get("ProtectHome", ["no"])[-1] in ("yes", "tmpfs"):
        for home in HOME_DIRECTORIES:
            if Path(home).is_dir():
                keep = [path for path in uncover if path.startswith(home + "/")]
                mounts.append({"op": "mask", "path": home, "keep": keep})
    if _yes(options, "PrivateTmp") or _yes(options, "DynamicUser"):
        for path in ("/tmp", "/var/tmp"):
            keep = [p for p in uncover if p.startswith(path + "/")]
            mounts.append({"op": "tmpfs", "path": path, "mode": 0o1777, "keep": keep})
    if _yes(options, "PrivateDevices"):
        mounts.append({"op": "private_dev", "devices": list(DEVICES)})
    if options.get("ProtectProc"):
        mounts.append({"op": "proc", "hidepid": options["ProtectProc"][-1]})
    if _yes(options, "ProtectKernelTunables"):
        mounts += [{"op": "read_only", "path": f"/proc/{name}"} for name in PROC_READ_ONLY]
        mounts.append({"op": "read_only", "path": "/sys"})
    if _yes(options, "ProtectControlGroups"):
        mounts.append({"op": "read_only", "path": "/sys/fs/cgroup"})
    if _yes(options, "ProtectKernelLogs"):
        mounts.append({"op": "inaccessible", "path": "/proc/kmsg"})
    mounts.append({"op": "bind", "source": str(paths[config]), "path": config, "read_only": True})
    mounts += [{"op": "bind", "source": str(paths[p]), "path": p, "read_only": True} for p in read_only]
    mounts.append({"op": "bind", "source": str(paths[state]), "path": state, "read_only": False})

    assert _yes(options, "DynamicUser"), "only DynamicUser=yes is translated"
    groups = [
        grp.getgrnam(name).gr_gid
        for value in options.get("SupplementaryGroups", [])
        for name in value.split()
    ]
    assert options.get("CapabilityBoundingSet") == [""], "only an empty CapabilityBoundingSet is translated"
    assert options.get("AmbientCapabilities", [""]) == [""], "only empty AmbientCapabilities are translated"
    nofile = int(options["LimitNOFILE"][-1]) if "LimitNOFILE" in options else None
    name = options["StateDirectory"][-1]
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/",
        "USER": name,
        "LOGNAME": name,
        "SHELL": "/usr/sbin/nologin",
        "INVOCATION_ID": os.urandom(16).hex(),
        "STATE_DIRECTORY": state,
        "CONFIGURATION_DIRECTORY": config,
    }
    for value in options.get("Environment", []):
        for pair in value.split():
            key, _, val = pair.partition("=")
            env[key] = val
    return {
        "namespaces": ["mnt", "uts"] if _yes(options, "ProtectHostname") else ["mnt"],
        "mounts": mounts,
        "state": {"path": str(paths[state]), "mode": int(options.get("StateDirectoryMode", ["0755"])[-1], 8)},
        "uid": DYNAMIC_UID,
        "gid": DYNAMIC_UID,
        "groups": groups,
        "no_new_privileges": _yes(options, "NoNewPrivileges"),
        "nofile": nofile,
        "umask": int(options.get("UMask", ["0022"])[-1], 8),
        "cwd": options.get("WorkingDirectory", ["/"])[-1],
        "env": env,
        "filters": filters(options),
    }


def filters(options: dict[str, list[str]]) -> list[syscalls.Filter]:
    """The seccomp filters, in the order systemd 252 loads them (SystemCallFilter last)."""
    assert options.get("SystemCallArchitectures", ["native"]) == ["native"]
    loaded: list[syscalls.Filter] = []
    if "RestrictAddressFamilies" in options:
        families = [name for value in options["RestrictAddressFamilies"] for name in value.split()]
        assert not any(name.startswith("~") for name in families), "only an allow-list is translated"
        loaded.append(syscalls.restrict_address_families(families))
    for key, build in (
        ("RestrictRealtime", syscalls.restrict_realtime),
        ("RestrictSUIDSGID", syscalls.restrict_suid_sgid),
        ("RestrictNamespaces", syscalls.restrict_namespaces),
        ("ProtectKernelTunables", syscalls.protect_kernel_tunables),
        ("ProtectKernelModules", syscalls.protect_kernel_modules),
        ("ProtectKernelLogs", syscalls.protect_kernel_logs),
        ("ProtectClock", syscalls.protect_clock),
        ("PrivateDevices", syscalls.private_devices),
        ("LockPersonality", syscalls.lock_personality),
        ("ProtectHostname", syscalls.protect_hostname),
    ):
        if _yes(options, key):
            loaded.append(build())
    if "SystemCallFilter" in options:
        loaded.append(syscalls.system_call_filter(options["SystemCallFilter"]))
    return loaded
