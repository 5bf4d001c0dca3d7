"""The seccomp filters systemd builds from a unit's sandboxing options, as plain data.

Group members (``@system-service``, ``@resources``, …) come from this machine's
``systemd-analyze syscall-filter`` at test time, never from a copy here, so the filter is the one
the installed systemd would load. How each option becomes a filter follows systemd 252
(Debian 12's; ``src/shared/seccomp-util.c`` and ``src/core/execute.c``): one filter per option,
loaded in systemd's order, ``SystemCallFilter=`` last. Names this architecture does not have are
skipped by the launcher, as systemd skips them.

A filter is ``{"option", "default", "rules"}``; an action is ``"allow"``, ``"kill"`` (the whole
process, SIGSYS) or an errno name; a rule's ``args`` are ``[index, op, a, b]`` comparisons on the
call's arguments (libseccomp's ``SCMP_Ax(op, a, b)``).
"""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from typing import Any

Filter = dict[str, Any]

# Constants the rules compare arguments with (x86-64 Linux).
CLONE_NAMESPACE_FLAGS = {
    "cgroup": 0x02000000,
    "ipc": 0x08000000,
    "net": 0x40000000,
    "mnt": 0x00020000,
    "pid": 0x20000000,
    "user": 0x10000000,
    "uts": 0x04000000,
}
ADDRESS_FAMILIES = {"AF_UNIX": 1, "AF_INET": 2, "AF_INET6": 10, "AF_NETLINK": 16, "AF_PACKET": 17}
O_CREAT = 0o100
S_ISUID = 0o4000
S_ISGID = 0o2000
PER_LINUX = 0
SCHED_OTHER, SCHED_BATCH, SCHED_IDLE = 0, 3, 5


@cache
def syscall_groups() -> dict[str, tuple[str, ...]]:
    """Every group ``systemd-analyze syscall-filter`` knows, with its direct members."""
    tool = shutil.which("systemd-analyze")
    assert tool, "systemd-analyze not found: run scripts/services/systemd.sh"
    text = subprocess.run(
        [tool, "syscall-filter", "--no-pager"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    groups: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        item = line.strip()
        if not item or item.startswith("#"):
            continue
        if not line[0].isspace():
            current = groups.setdefault(item, []) if item.startswith("@") else None
        elif current is not None:
            current.append(item)
    assert {"@default", "@system-service", "@resources", "@privileged"} <= set(groups), groups.keys()
    return {name: tuple(members) for name, members in groups.items()}


def expand(name: str) -> set[str]:
    """The system calls a name stands for (a group is expanded recursively)."""
    if not name.startswith("@"):
        return {name}
    groups = syscall_groups()
    assert name in groups, f"systemd knows no syscall group {name}"
    members: set[str] = set()
    for member in groups[name]:
        members |= expand(member)
    return members


def system_call_filter(lines: list[str]) -> Filter:
    """``SystemCallFilter=`` lines as systemd 252 reads them.

    The first line decides the mode: a list without ``~`` is an allow-list (and @default is added
    to it), with ``~`` a deny-list. Later lines add to or take away from that list. What an
    allow-list leaves out kills the process (``SystemCallErrorNumber=`` unset).
    """
    allow_list: bool | None = None
    listed: set[str] = set()
    for line in lines:
        value = line.strip()
        if not value:
            allow_list, listed = None, set()
            continue
        invert = value.startswith("~")
        names = value.lstrip("~").split()
        assert not any(":" in name for name in names), f"per-call errno not translated: {value}"
        if allow_list is None:
            allow_list = not invert
            if allow_list:
                listed |= expand("@default")
        for name in names:
            if invert != allow_list:  # allow-list + plain, or deny-list + ~: listed
                listed |= expand(name)
            else:
                listed -= expand(name)
    if allow_list is None:
        return {"option": "SystemCallFilter", "default": "allow", "rules": []}
    action = "allow" if allow_list else "kill"
    return {
        "option": "SystemCallFilter",
        "default": "kill" if allow_list else "allow",
        "rules": [{"syscall": name, "action": action} for name in sorted(listed)],
    }


def _deny(option: str, names: set[str], errno: str = "EPERM") -> Filter:
    rules = [{"syscall": name, "action": errno} for name in sorted(names)]
    return {"option": option, "default": "allow", "rules": rules}


def restrict_address_families(families: list[str]) -> Filter:
    """socket() of any family outside the allow-list fails with EAFNOSUPPORT."""
    allowed = sorted(ADDRESS_FAMILIES[name] for name in families)
    first, last = allowed[0], allowed[-1]
    rules: list[dict[str, Any]] = [
        {"syscall": "socket", "action": "EAFNOSUPPORT", "args": [[0, "LT", first, 0]]},
        {"syscall": "socket", "action": "EAFNOSUPPORT", "args": [[0, "GT", last, 0]]},
    ]
    rules += [
        {"syscall": "socket", "action": "EAFNOSUPPORT", "args": [[0, "EQ", family, 0]]}
        for family in range(first + 1, last)
        if family not in allowed
    ]
    return {"option": "RestrictAddressFamilies", "default": "allow", "rules": rules}


def restrict_realtime() -> Filter:
    """sched_setscheduler() with any policy but OTHER, BATCH and IDLE fails with EPERM."""
    permitted = {SCHED_OTHER, SCHED_BATCH, SCHED_IDLE}
    top = max(permitted)
    rules: list[dict[str, Any]] = [
        {"syscall": "sched_setscheduler", "action": "EPERM", "args": [[1, "EQ", policy, 0]]}
        for policy in range(top)
        if policy not in permitted
    ]
    rules.append({"syscall": "sched_setscheduler", "action": "EPERM", "args": [[1, "GT", top, 0]]})
    return {"option": "RestrictRealtime", "default": "allow", "rules": rules}


def restrict_suid_sgid() -> Filter:
    """Creating or chmod-ing a file with the set-user/group-ID bit fails with EPERM."""
    rules: list[dict[str, Any]] = []
    mode_arg = {
        "chmod": 1,
        "fchmod": 1,
        "fchmodat": 2,
        "mkdir": 1,
        "mkdirat": 2,
        "mknod": 1,
        "mknodat": 2,
        "creat": 1,
    }
    for mode in (S_ISUID, S_ISGID, S_ISUID | S_ISGID):
        for call, index in mode_arg.items():
            rules.append({"syscall": call, "action": "EPERM", "args": [[index, "MASKED_EQ", mode, mode]]})
        for call, flags in (("open", 1), ("openat", 2)):
            args = [[flags, "MASKED_EQ", O_CREAT, O_CREAT], [flags + 1, "MASKED_EQ", mode, mode]]
            rules.append({"syscall": call, "action": "EPERM", "args": args})
    # Its flags sit in a struct seccomp cannot read: refused so callers fall back to openat().
    rules.append({"syscall": "openat2", "action": "ENOSYS"})
    return {"option": "RestrictSUIDSGID", "default": "allow", "rules": rules}


def restrict_namespaces() -> Filter:
    """No namespace of any kind: setns() refused, clone()/unshare() with a namespace flag refused."""
    rules: list[dict[str, Any]] = [{"syscall": "setns", "action": "EPERM"}]
    for flag in CLONE_NAMESPACE_FLAGS.values():
        for call in ("unshare", "clone"):
            rules.append({"syscall": call, "action": "EPERM", "args": [[0, "MASKED_EQ", flag, flag]]})
    return {"option": "RestrictNamespaces", "default": "allow", "rules": rules}


def lock_personality() -> Filter:
    """personality() may only keep the current (Linux) personality."""
    rule = {"syscall": "personality", "action": "EPERM", "args": [[0, "NE", PER_LINUX, 0]]}
    return {"option": "LockPersonality", "default": "allow", "rules": [rule]}


def protect_hostname() -> Filter:
    return _deny("ProtectHostname", {"sethostname", "setdomainname"})


def protect_kernel_tunables() -> Filter:
    return _deny("ProtectKernelTunables", {"_sysctl"})


def protect_kernel_modules() -> Filter:
    return _deny("ProtectKernelModules", expand("@module"))


def protect_kernel_logs() -> Filter:
    return _deny("ProtectKernelLogs", {"syslog"})


def protect_clock() -> Filter:
    return _deny("ProtectClock", expand("@clock"))


def private_devices() -> Filter:
    return _deny("PrivateDevices", expand("@raw-io"))
