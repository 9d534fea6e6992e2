"""Read rows (dicts) from local dataset files: JSON Lines, JSON and CSV."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

from textgym.errors import DatasetError

#: File suffixes :func:`read_rows` understands (compared case-insensitively).
FILE_SUFFIXES = (".jsonl", ".json", ".csv")


def read_rows(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read every row of a ``.jsonl``, ``.json`` or ``.csv`` file as a dict.

    ``.jsonl`` and ``.json`` files hold one JSON object per line (a ``.json`` file may
    instead hold one top-level array of objects). CSV files need a header row; a cell
    holding a JSON list of strings (e.g. ``["ref one", "ref two"]``) is decoded to a list.

    Args:
        path: The file to read (UTF-8).

    Returns:
        The rows, in file order.

    Raises:
        DatasetError: If the file is missing, of another type, not UTF-8 or malformed
            (the message gives the line number).

    """
    shown = os.fspath(path)  # as the caller wrote it, for messages
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "not found"
        raise DatasetError(
            f"Dataset file {what}: {shown!r}. Pass the path of an existing "
            f"{'/'.join(FILE_SUFFIXES)} file."
        )
    if suffix not in FILE_SUFFIXES:
        raise DatasetError(
            f"Unsupported dataset file type {suffix or '(no suffix)'!r} for {shown!r}. "
            f"Use a file ending in {', '.join(FILE_SUFFIXES)}, or pass a list of dicts."
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{shown!r} is not valid UTF-8 ({exc}). Re-save it as UTF-8.") from exc
    if suffix == ".csv":
        return _csv_rows(text, shown)
    if suffix == ".json" and text.lstrip().startswith("["):
        return _json_array_rows(text, shown)
    return _json_lines_rows(text, shown)


def _json_lines_rows(text: str, shown: str) -> list[dict[str, Any]]:
    """Parse JSON Lines: one object per non-blank line."""
    rows = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(
                f"{shown!r} line {line_no}: invalid JSON ({exc.msg} at column {exc.colno}). "
                "Each line must hold one JSON object, e.g. "
                '{"source": "...", "reference": "..."}.'
            ) from exc
        rows.append(_require_object(row, shown, line_no))
    return rows


def _json_array_rows(text: str, shown: str) -> list[dict[str, Any]]:
    """Parse a JSON file holding one top-level array of objects."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(
            f"{shown!r} line {exc.lineno}: invalid JSON ({exc.msg} at column {exc.colno}). "
            "Fix the file, or write it as JSON Lines (one object per line)."
        ) from exc
    return [_require_object(row, shown, f"item {i}") for i, row in enumerate(data)]


def _require_object(row: Any, shown: str, where: int | str) -> dict[str, Any]:
    """Return ``row`` if it is a JSON object, else raise naming where it was."""
    if not isinstance(row, dict):
        where = f"line {where}" if isinstance(where, int) else where
        raise DatasetError(
            f"{shown!r} {where}: expected a JSON object, got {type(row).__name__}. "
            'Write each example as an object, e.g. {"source": "...", "reference": "..."}.'
        )
    return row


def _csv_rows(text: str, shown: str) -> list[dict[str, Any]]:
    """Parse CSV text with a header row; every row must have as many cells as the header."""
    reader = csv.DictReader(text.splitlines(keepends=True), strict=True)
    rows = []
    try:
        for row in reader:
            if None in row or None in row.values():
                raise DatasetError(
                    f"{shown!r} line {reader.line_num}: the row has a different number of "
                    f"cells than the header ({len(reader.fieldnames or ())}). Quote cells that "
                    'contain commas, e.g. "a, b".'
                )
            rows.append({key: _decode_cell(value) for key, value in row.items()})
    except csv.Error as exc:
        raise DatasetError(
            f"{shown!r} line {reader.reader.line_num}: malformed CSV ({exc}). Check the quoting "
            'there: a cell with quotes must be wrapped in quotes and write " as "".'
        ) from exc
    return rows


def _decode_cell(value: str) -> str | list[str]:
    """Decode a cell holding a JSON list of strings; leave any other cell as it is."""
    stripped = value.strip()
    if not (stripped.startswith("[") and stripped.endswith("]")):
        return value
    try:
        decoded = json.loads(stripped)
    except json.JSONDecodeError:
        return value
    if isinstance(decoded, list) and all(isinstance(item, str) for item in decoded):
        return decoded
    return value
