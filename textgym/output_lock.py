"""One textgym process per output folder (``compare``, ``train``): a lock on ``out/.lock``.

The lock is an ``fcntl.flock`` on the open file, so the operating system releases it when
the process ends, however it ends (SIGKILL included); no stale lock is left to clear by
hand. The file's content (pid, host, start time) only names the owner in the error a
second ``compare`` or ``train`` on the same folder gets. The file stays in place when the lock is
released: removing it could let two processes lock two different files of one name.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO

from textgym.atomic import check_output_folder, missing_folders, remove_empty
from textgym.errors import OutputInUseError

LOCK_FILE = ".lock"


@contextmanager
def locked(
    out: str | os.PathLike[str], command: str = "compare", create: bool = True
) -> Iterator[None]:
    """Hold the lock of folder ``out`` (created if missing) while the block runs.

    ``command`` names what holds it (``compare``, ``train``), for the other's error. A
    folder this call created is removed again if the block wrote nothing into it. With
    ``create=False`` a missing folder is not created and the block runs unlocked (a resumed
    run: there is nothing to protect, and the caller reports the missing folder).

    Raises:
        OutputInUseError: another process holds the lock; the error names it.
        ConfigError: ``out`` is a file, or cannot be created or written into.
    """
    folder = Path(out)
    if not create and not folder.exists():
        yield
        return
    created = missing_folders(folder)
    check_output_folder(folder, "--out")
    path = folder / LOCK_FILE
    with path.open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputInUseError(_in_use_message(folder, handle)) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({**owner(), "command": command}) + "\n")
        handle.flush()
        try:
            yield
        finally:  # still holding the lock: no other process can have written here
            if created and [p.name for p in folder.iterdir()] == [LOCK_FILE]:
                path.unlink()
                remove_empty(created)


def owner() -> dict[str, object]:
    """Who this process is: pid, host name and the time it took the lock."""
    since = datetime.now().astimezone().isoformat(timespec="seconds")
    return {"pid": os.getpid(), "host": socket.gethostname(), "since": since}


def _in_use_message(folder: Path, handle: IO[str]) -> str:
    """The error for a folder locked by someone else, naming them from the lock file."""
    handle.seek(0)
    try:
        info = json.loads(handle.read())
        who = f"pid {info['pid']} on {info['host']}, since {info['since']}"
        command = info.get("command", "compare")
    except (ValueError, KeyError, TypeError, AttributeError):
        who, command = "owner not recorded yet: it is starting", "process"
    return (
        f"{folder} is in use by another textgym {command} ({who}); two runs writing into "
        "one folder would overwrite each other's files. Wait for it to finish (or stop that "
        "process), or use another --out."
    )
