"""What the daemon's own log says about the files it follows, with a real daemon and real rotations:
found, opened, rotated, deleted and finished once each with the path, and why a file is skipped,
once however many scans see it."""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from logflume.generate import lines
from tests.daemonproc import DaemonProcess, Daemons, append_lines, write_config
from tests.waiting import wait_for

FILE_MESSAGES = ("File found", "File opened", "File rotated", "File deleted", "File finished", "File skipped")


def records(proc: DaemonProcess) -> list[dict[str, Any]]:
    return [json.loads(line) for line in proc.logs().splitlines() if line.startswith("{")]


def said(proc: DaemonProcess, message: str, **fields: Any) -> bool:
    return any(
        r["message"] == message and all(r.get(k) == v for k, v in fields.items()) for r in records(proc)
    )


def test_each_file_event_is_logged_once_with_its_path(tmp_path: Path, daemons: Daemons) -> None:
    """A followed file, an excluded one, one too small to identify and a copy of the followed one
    are each reported once; a rename within the globs, a deletion and a rename out of the globs
    are each logged once, and each reader's end once, although the globs are scanned every 200 ms."""
    logs = tmp_path / "logs"
    config = write_config(tmp_path, source={"include": [str(logs / "*")], "exclude": [str(logs / "*.bak")]})
    app, first = logs / "app.log", logs / "app.log.1"
    append_lines(app, b"".join(lines(10, 1)))
    (logs / "notes.bak").write_text('{"kept": "aside"}\n')
    (logs / "partial.log").write_text('{"first line": "not finished')
    proc = daemons.start(config)
    wait_for(lambda: said(proc, "File opened", path=str(app)), 60, 0.1, "app.log opened")
    wait_for(lambda: said(proc, "File skipped", path=str(logs / "partial.log")), 60, 0.1, "partial.log")

    shutil.copy(app, logs / "app.log.copy")
    wait_for(lambda: said(proc, "File skipped", path=str(logs / "app.log.copy")), 60, 0.1, "the copy skipped")
    (logs / "app.log.copy").unlink()

    os.rename(app, first)  # within the globs
    append_lines(app, b"".join(lines(10, 2)))
    wait_for(lambda: said(proc, "File rotated", path=str(app), to=str(first)), 60, 0.1, "the rename seen")
    wait_for(lambda: sum(r["message"] == "File opened" for r in records(proc)) == 2, 60, 0.1, "the new file")

    first.unlink()
    wait_for(lambda: said(proc, "File finished", path=str(first)), 60, 0.1, "the deleted file finished")

    os.rename(app, tmp_path / "outside.log")  # out of the globs
    wait_for(lambda: said(proc, "File finished", path=str(app)), 60, 0.1, "the renamed file finished")
    assert proc.stop() == 0

    seen = [r for r in records(proc) if r["message"] in FILE_MESSAGES]
    counts = Counter((r["message"], r["path"], r.get("to"), r.get("reason")) for r in seen)
    found = [(r["path"], r["start"]) for r in seen if r["message"] == "File found"]
    excluded = f"excluded by {logs / '*.bak'}"
    copy = f"a copy of {app} (the same first line), which is being read"
    too_small = "too small to identify yet: no whole first line and under 1024 bytes"
    expected = Counter(
        {
            ("File found", str(app), None, None): 2,  # two files, one after the other, at that path
            ("File opened", str(app), None, None): 2,
            ("File skipped", str(logs / "notes.bak"), None, excluded): 1,
            ("File skipped", str(logs / "partial.log"), None, too_small): 1,
            ("File skipped", str(logs / "app.log.copy"), None, copy): 1,
            ("File rotated", str(app), str(first), None): 1,
            ("File deleted", str(first), None, None): 1,
            ("File finished", str(first), None, None): 1,
            ("File rotated", str(app), None, None): 1,  # out of the globs: to nowhere
            ("File finished", str(app), None, None): 1,
        }
    )
    assert expected == counts
    assert [(str(app), "beginning"), (str(app), "beginning")] == found
    assert all(r["source"] == "proxy" for r in seen)
