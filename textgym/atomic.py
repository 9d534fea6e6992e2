"""Atomic file writes: a result is either complete or absent, never half-written.

An output is written beside its target first, then renamed into place. A file at the
target is replaced. A folder at the target is replaced only while it holds nothing but what
textgym wrote into it: :func:`write_atomic` leaves a small marker (``MARKER``) in every
folder it writes, listing that folder's entries, and refuses to remove a folder holding
anything else (a user's notes, another tool's output) or the current directory.

A folder is replaced in two renames (old one away, new one in). A process killed between
them leaves the target missing and the old folder in the temporary folder beside it;
:func:`recover_interrupted` moves it back and removes such temporary folders.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from textgym.errors import ConfigError

MARKER = ".textgym-output.json"
SHOWN = 5  # foreign entries named in an error


def write_atomic(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary path beside ``path``, then rename it into place.

    ``write`` may create a file or a folder at ``tmp``. An existing ``path`` is replaced
    only once the new content is complete, and only if :func:`check_replaceable` allows it.

    Raises:
        ConfigError: ``path`` is a folder holding entries textgym did not write, or the
            current directory (or a folder holding it).
    """
    target = Path(os.path.abspath(path))  # "." becomes the folder's real name
    check_replaceable(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(target.name), dir=target.parent))
    new = tmp / target.name
    try:
        write(new)
        if new.is_dir():
            _write_marker(new)
        if target.is_dir() and not target.is_symlink():
            check_replaceable(target)  # again: it may have changed while `write` ran
            target.rename(tmp / f"{target.name}.old")  # removed below with tmp
        os.replace(new, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Path(path)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json_atomic(path: str | os.PathLike[str], data: object) -> Path:
    """Write ``data`` to ``path`` atomically as strict JSON.

    NaN and ±inf (which ``json`` would write as the invalid ``NaN``/``Infinity``) become
    null; objects JSON lacks (paths, ...) become their ``str``.
    """
    text = json.dumps(_finite_or_none(data), indent=1, default=str, allow_nan=False)
    return write_text_atomic(path, text + "\n")


def check_not_a_file(path: str | os.PathLike[str], option: str = "out") -> None:
    """Raise a :class:`ConfigError` if the output folder ``path`` is an existing file.

    textgym never replaces a file it did not write with a folder; call it before any work.
    """
    if Path(path).exists() and not Path(path).is_dir():
        raise ConfigError(
            f"{option} {str(path)!r} is an existing file, not a folder; give a folder path "
            "(it is created if missing)."
        )


def check_output_folder(
    path: str | os.PathLike[str], option: str = "out", keep: bool = True
) -> None:
    """Create the folder ``path`` if needed and check a file can be written into it.

    Call it before a long job, so a bad output folder fails at the start, not at the end.

    Args:
        path: The output folder.
        option: How the user named it (e.g. ``"--out"``), for the error message.
        keep: False removes the folders this check created (the writer creates them), so
            input rejected later leaves no empty folder behind.

    Raises:
        ConfigError: ``path`` is an existing file, or cannot be created or written into.
    """
    folder = Path(path)
    check_not_a_file(folder, option)
    created = missing_folders(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as exc:
        raise ConfigError(
            f"{option} {str(folder)!r} cannot be created or written into ({exc.strerror or exc}); "
            "choose a folder you can write to."
        ) from exc
    if not keep:
        remove_empty(created)


def missing_folders(folder: Path) -> list[Path]:
    """``folder`` and its parents that do not exist yet, innermost first (absolute)."""
    absolute = Path(os.path.abspath(folder))
    return [p for p in (absolute, *absolute.parents) if not p.exists()]


def remove_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (innermost first) while they are empty; stop at the first that is not."""
    for made in folders:
        try:
            made.rmdir()
        except OSError:
            return


def temp_prefix(name: str) -> str:
    """The name prefix of the temporary folder :func:`write_atomic` makes beside ``name``."""
    return f".{name}."


def recover_interrupted(path: str | os.PathLike[str]) -> None:
    """Undo what a :func:`write_atomic` to ``path`` killed midway left behind.

    If ``path`` is missing and a temporary folder beside it holds the old content (the kill
    came between the two renames of a folder swap), that content is moved back. Then every
    temporary folder of ``path`` is removed: ``.NAME.*`` folders holding nothing but
    ``NAME`` and ``NAME.old``. Anything else is left alone. Call it only while no other
    process writes to ``path``.
    """
    target = Path(os.path.abspath(path))
    temps = _temp_folders(target)
    if not target.exists() and not target.is_symlink():
        olds = [tmp / f"{target.name}.old" for tmp in temps]
        olds = [old for old in olds if old.exists()]
        if olds:
            max(olds, key=lambda old: old.stat().st_mtime_ns).rename(target)
    for tmp in temps:
        shutil.rmtree(tmp, ignore_errors=True)


def _temp_folders(target: Path) -> list[Path]:
    """The temporary folders :func:`write_atomic` left beside ``target``."""
    if not target.parent.is_dir():
        return []
    own = {target.name, f"{target.name}.old"}
    return [
        entry
        for entry in target.parent.iterdir()
        if entry.name.startswith(temp_prefix(target.name))
        and entry.is_dir()
        and not entry.is_symlink()
        and {child.name for child in entry.iterdir()} <= own
    ]


def check_replaceable(path: str | os.PathLike[str]) -> None:
    """Raise unless :func:`write_atomic` may replace what is at ``path``.

    Nothing, a file, a link, or a folder holding only the entries its marker lists (what
    :func:`write_atomic` wrote there) may be replaced. Call it before a long job whose
    result goes to ``path``, to fail at the start rather than at the end.

    Raises:
        ConfigError: ``path`` is a folder holding entries textgym did not write, or the
            current directory (or a folder holding it).
    """
    target = Path(os.path.abspath(path))
    if not target.is_dir() or target.is_symlink():
        return
    here = Path.cwd()
    if target.resolve() in (here, *here.parents):
        raise ConfigError(
            f"{target} is the current directory (or holds it); textgym writes its output "
            "folder as a whole and will not replace the folder you are in. Choose a new "
            "folder, e.g. a subfolder of it."
        )
    foreign = _foreign_entries(target)
    if foreign:
        more = f" and {len(foreign) - SHOWN} more" if len(foreign) > SHOWN else ""
        raise ConfigError(
            f"{target} already exists and holds files textgym did not write there: "
            f"{', '.join(foreign[:SHOWN])}{more}. textgym writes this output folder as a "
            "whole and will not delete them. Choose a new or empty folder, or move or "
            "remove those files yourself."
        )


def _foreign_entries(folder: Path) -> list[str]:
    """Entries under ``folder`` (relative, sorted) that its marker does not list."""
    own = {MARKER, *_recorded(folder)}
    return sorted(entry for entry in _entries(folder) if entry not in own)


def _entries(folder: Path) -> list[str]:
    """Every file, folder and link under ``folder`` as a relative POSIX path."""
    found = []
    for root, dirs, files in os.walk(folder):  # does not descend into linked folders
        found += [Path(root, name).relative_to(folder).as_posix() for name in dirs + files]
    return found


def _recorded(folder: Path) -> list[str]:
    """The entries the marker in ``folder`` lists (none if it is missing or unreadable)."""
    try:
        return list(json.loads((folder / MARKER).read_text(encoding="utf-8"))["entries"])
    except (OSError, ValueError, KeyError, TypeError):
        return []


def _write_marker(folder: Path) -> None:
    """Record what ``folder`` holds, so a later write may replace exactly that."""
    record = {
        "about": "textgym wrote this folder; it replaces the folder on a re-run only while "
        "it holds nothing but these entries.",
        "entries": sorted(_entries(folder)),
    }
    (folder / MARKER).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")


def _finite_or_none(value: object) -> object:
    """``value`` with every NaN or infinite float (in dicts, lists, tuples) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(v) for v in value]
    return value
