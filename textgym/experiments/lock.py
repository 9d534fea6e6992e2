"""One ``compare`` per output folder: an exclusive lock on ``out/.lock``.

The lock is an ``fcntl.flock`` on the open file, so the operating system releases it when
the process ends, however it ends (SIGKILL included); no stale lock is left to clear by
hand. The file's content (pid, host, start time) only names the owner in the error a
second ``compare`` on the same folder gets. The file stays in place when the lock is
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

from textgym.errors import OutputInUseError

LOCK_FILE = ".lock"


@contextmanager
def locked(out: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the lock of folder ``out`` (created if missing) while the block runs.

    Raises:
        OutputInUseError: another process holds the lock; the error names it.
    """
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    with path.open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputInUseError(_in_use_message(folder, handle)) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(owner()) + "\n")
        handle.flush()
        yield


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
    except (ValueError, KeyError, TypeError):
        who = "owner not recorded yet: it is starting"
    return (
        f"{folder} is in use by another textgym compare ({who}); two compares writing "
        "into one folder would train the same runs at once. Wait for it to finish (or stop "
        "that process), or use another --out."
    )
