"""Start a command the way systemd starts a sandboxed service: ``python launcher.py SPEC -- ARGV…``.

Run as root. In order, as systemd's exec does: new mount (and UTS) namespace, the file-system view
(read-only system, masked homes, private /tmp and /dev, a new /proc, the unit's directories), the
state directory's owner and mode, resource limit and umask, an empty capability bounding set, the
dynamic user's uid/gid/groups, no-new-privileges, the working directory, then the seccomp filters
(SystemCallFilter last), and finally execve of the command with the unit's environment. The pid
stays the same from here to the service, so signals sent to this process reach it.

Stands alone (standard library and pyseccomp only): it is a script, not part of the test package.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import resource
import sys
from pathlib import Path
from typing import Any

import pyseccomp

CLONE_FLAGS = {"mnt": 0x00020000, "uts": 0x04000000}
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x20, 0x1000, 0x4000, 0x40000
MOUNT_FLAGS = {
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "noatime": 0x400,
    "relatime": 0x200000,
}
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 24, 38, 47, 4
ARG_OPS = {"EQ": pyseccomp.EQ, "NE": pyseccomp.NE, "LT": pyseccomp.LT, "GT": pyseccomp.GT,
           "MASKED_EQ": pyseccomp.MASKED_EQ}  # fmt: skip

libc = ctypes.CDLL("libc.so.6", use_errno=True)
held: dict[str, int] = {}


def check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def encode(value: str | None) -> bytes | None:
        return value.encode() if value is not None else None

    check(
        libc.mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data)),
        f"mount {source} on {target}",
    )


def mount_points() -> list[tuple[str, int]]:
    """(mount point, its per-mount flags) of every mount, in mount order."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        point = fields[4].encode().decode("unicode_escape")
        flags = sum(MOUNT_FLAGS.get(option, 0) for option in fields[5].split(","))
        found.append((point, flags))
    return found


def remount_read_only(under: str, skip: tuple[str, ...] = ()) -> None:
    """Every mount at or below ``under`` (except below ``skip``) becomes read-only."""
    for point, flags in mount_points():
        inside = point == under or point.startswith(under.rstrip("/") + "/")
        if inside and not any(point == s or point.startswith(s + "/") for s in skip):
            mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)


def bind(source: str, target: str, read_only: bool) -> None:
    fd = held.get(source)
    mount(f"/proc/self/fd/{fd}" if fd is not None else source, target, None, MS_BIND | MS_REC)
    if read_only:
        remount_read_only(target)
    else:
        # A bind copies its source mount's flags, and the source became read-only with the rest.
        mount(None, target, None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV)


def apply_mount(op: dict[str, Any], scratch: Path) -> None:
    kind = op["op"]
    if kind == "hold":
        held[op["path"]] = os.open(op["path"], os.O_PATH)
    elif kind == "mountpoints":
        # An overlay with no upper layer is read-only: the parent as it is, plus the empty leaves.
        by_parent: dict[str, list[str]] = {}
        for path in op["paths"]:
            by_parent.setdefault(str(Path(path).parent), []).append(Path(path).name)
        for number, (parent, leaves) in enumerate(sorted(by_parent.items())):
            layer = scratch / f"layer{number}"
            for leaf in leaves:
                (layer / leaf).mkdir(parents=True, exist_ok=True)
            mount("overlay", parent, "overlay", 0, f"lowerdir={layer}:{parent}")
    elif kind == "remount_read_only":
        remount_read_only("/", tuple(op["except"]))
    elif kind == "mask":
        path = op["path"]
        mount(
            "tmpfs",
            path,
            "tmpfs",
            MS_NOSUID | MS_NODEV | MS_NOEXEC,
            "mode=0711" if op["keep"] else "mode=000",
        )
        for keep in op["keep"]:
            Path(keep).mkdir(mode=0o711, parents=True, exist_ok=True)
            bind(keep, keep, read_only=True)
        remount_read_only(path)
    elif kind == "tmpfs":
        mount("tmpfs", op["path"], "tmpfs", MS_NOSUID | MS_NODEV, f"mode={op['mode']:o}")
        # The installation and checkout of a test run from a clone under /tmp (read-only); an
        # installed service lives in /opt and sees an empty /tmp.
        for keep in op.get("keep", []):
            Path(keep).mkdir(mode=0o711, parents=True, exist_ok=True)
            bind(keep, keep, read_only=True)
    elif kind == "private_dev":
        mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755")
        for name in op["devices"]:
            Path(f"/dev/{name}").touch()
            bind(f"/dev/{name}", f"/dev/{name}", read_only=False)
        Path("/dev/shm").mkdir()
        mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
        for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                             ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):  # fmt: skip
            os.symlink(target, f"/dev/{name}")
    elif kind == "proc":
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, f"hidepid={op['hidepid']}")
    elif kind == "read_only":
        if os.path.exists(op["path"]):
            bind(op["path"], op["path"], read_only=True)
    elif kind == "inaccessible":
        if os.path.exists(op["path"]):
            bind(str(scratch / "inaccessible"), op["path"], read_only=True)
    elif kind == "bind":
        bind(op["source"], op["path"], op["read_only"])
    else:
        raise ValueError(f"unknown mount op {kind}")


def drop_privileges(spec: dict[str, Any]) -> None:
    last_cap = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    for cap in range(last_cap + 1):
        check(libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), f"drop capability {cap}")
    os.setgroups(spec["groups"])
    os.setresgid(spec["gid"], spec["gid"], spec["gid"])
    os.setresuid(spec["uid"], spec["uid"], spec["uid"])
    check(libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clear ambient capabilities")
    if spec["no_new_privileges"]:
        check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "set no_new_privs")


def action(name: str) -> int:
    if name == "allow":
        return pyseccomp.ALLOW
    if name == "kill":
        return pyseccomp.KILL_PROCESS
    return pyseccomp.ERRNO(getattr(errno, name))


def load_filters(filters: list[dict[str, Any]]) -> None:
    for spec in filters:
        seccomp = pyseccomp.SyscallFilter(action(spec["default"]))
        for rule in spec["rules"]:
            number = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, rule["syscall"])
            if number < 0:  # not a system call of this architecture: systemd skips it too
                continue
            args = [pyseccomp.Arg(index, ARG_OPS[op], a, b) for index, op, a, b in rule.get("args", [])]
            seccomp.add_rule(action(rule["action"]), number, *args)
        seccomp.load()


def main(argv: list[str]) -> None:
    spec = json.loads(Path(argv[1]).read_text())
    command = argv[argv.index("--") + 1 :]
    # Prepared while the test's directories are still reachable by path (PrivateTmp hides them).
    state = spec["state"]
    os.chown(state["path"], spec["uid"], spec["gid"])
    os.chmod(state["path"], state["mode"])
    scratch = Path(spec["scratch"])
    (scratch / "inaccessible").touch(mode=0)
    flags = sum(CLONE_FLAGS[name] for name in spec["namespaces"])
    check(libc.unshare(flags), "unshare")
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    # Held only now: a bind mount's source must be a mount of this namespace.
    held[str(scratch / "inaccessible")] = os.open(scratch / "inaccessible", os.O_PATH)
    for op in spec["mounts"]:
        apply_mount(op, scratch)
    for fd in held.values():
        os.close(fd)
    if spec["nofile"] is not None:
        # Raising the hard limit needs CAP_SYS_RESOURCE, which root lacks on some test machines.
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        limit = spec["nofile"] if hard == resource.RLIM_INFINITY else min(spec["nofile"], hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    os.umask(spec["umask"])
    drop_privileges(spec)
    os.chdir(spec["cwd"])
    load_filters(spec["filters"])
    os.execve(command[0], command, spec["env"])


if __name__ == "__main__":
    main(sys.argv)
