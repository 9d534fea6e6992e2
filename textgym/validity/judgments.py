"""Human judgments of summaries: the JSONL file, its checks, and the documents x systems grid.

Input is a JSONL file of human-judged summaries, one line per (document, system):
``doc_id``, ``system``, ``source``, ``summary``, the reference(s) (``references``: a list
of strings, or ``reference``: a string or a list; ``references`` wins when a line has both)
and one or more numeric human score columns (e.g. ``litepyramid_recall``, ``relevance``).
``summary`` and ``source`` must be strings (a null summary is an error naming the line, not
the text "None"). A human score that is not a finite number (``"n/a"``, null, missing) leaves
that line out of that column's correlations only; a warning and
:attr:`~textgym.validity.report.ValidityResult.skipped_scores` say how many lines each column
lost.

(The JSONL reader is private to this module on purpose: :func:`textgym.data.files.read_rows`
picks the format by suffix, reads ``utf-8-sig`` and words its errors for datasets.)
"""

from __future__ import annotations

import json
import math
import numbers
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from textgym.errors import DatasetError, did_you_mean

KNOWN_FIELDS = ("id", "doc_id", "system", "source", "summary", "reference", "references")


@dataclass
class Judgments:
    """Human-judged summaries arranged as documents x systems.

    ``sources``, ``summaries`` and ``references`` are one entry per line of the file (in file
    order); ``cell[i] = (document index, system index)`` says where line ``i`` sits in the
    ``(n_docs, n_systems)`` grid; ``human`` maps each human column to its per-line scores.
    """

    doc_ids: list[str]
    systems: list[str]
    cells: np.ndarray
    sources: list[str]
    summaries: list[str]
    references: list[list[str]]
    human: dict[str, np.ndarray]

    def grid(self, values: np.ndarray) -> np.ndarray:
        """Per-line ``values`` as a ``(n_docs, n_systems)`` matrix, NaN where no summary."""
        out = np.full((len(self.doc_ids), len(self.systems)), np.nan)
        out[self.cells[:, 0], self.cells[:, 1]] = values
        return out


def load_judgments(path: str | os.PathLike[str]) -> Judgments:
    """Read a judgments JSONL file into :class:`Judgments`.

    Human columns are those (outside :data:`KNOWN_FIELDS`) with a number on at least one
    line; a line whose score there is not a finite number gets NaN in that column only,
    and a warning says how many lines each column lost.

    Raises:
        DatasetError: a missing, unreadable or empty file, a line that is not a JSON
            object, a missing field, a summary or source that is not a string (e.g. null),
            or the same (doc_id, system) twice.
    """
    rows = _read_jsonl(Path(path))
    numeric = _numeric_columns(rows)
    _warn_skipped(rows, numeric)
    doc_ids = list(dict.fromkeys(str(r["doc_id"]) for r in rows))
    systems = list(dict.fromkeys(str(r["system"]) for r in rows))
    doc_index = {d: i for i, d in enumerate(doc_ids)}
    sys_index = {s: i for i, s in enumerate(systems)}
    cells = np.array([(doc_index[str(r["doc_id"])], sys_index[str(r["system"])]) for r in rows])
    _check_unique(cells, rows, path)
    return Judgments(
        doc_ids=doc_ids,
        systems=systems,
        cells=cells.reshape(-1, 2),
        sources=[str(r["source"]) for r in rows],
        summaries=[str(r["summary"]) for r in rows],
        references=[_references(_reference_value(r)) for r in rows],
        human={c: np.array([_score(r.get(c)) for r in rows]) for c in numeric},
    )


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The checked JSON objects of a UTF-8 JSONL file, blank lines skipped."""
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise DatasetError(f"Judgments file {str(path)!r} {what}; pass a JSONL file path.")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f"Judgments file {str(path)!r} is not UTF-8 text ({exc.reason}); save it as UTF-8 "
            "JSONL."
        ) from exc
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}:{number} is not valid JSON ({exc.msg}).") from exc
        _check_row(row, f"{path}:{number}")
        rows.append(row)
    if not rows:
        raise DatasetError(f"Judgments file {str(path)!r} is empty; write one JSON object a line.")
    return rows


def _check_row(row: Any, where: str) -> None:
    """Raise unless ``row`` is a JSON object with every needed field, of the right types."""
    needed = ("doc_id", "system", "source", "summary")
    if not isinstance(row, dict):
        raise DatasetError(f"{where} is a {type(row).__name__}, not a JSON object.")
    missing = [name for name in needed if name not in row]
    if "reference" not in row and "references" not in row:
        missing.append("reference (or references)")
    if missing:
        raise DatasetError(
            f"{where} lacks the field(s) {', '.join(missing)} (it has {', '.join(row)}); every "
            f"line needs {', '.join(needed)}, reference or references, and numeric human "
            "score columns."
        )
    _check_types(row, where)


def _check_types(row: dict[str, Any], where: str) -> None:
    """Raise unless the known fields of ``row`` hold text (and ids) of the right type."""
    for name in ("source", "summary"):
        if not isinstance(row[name], str):
            raise DatasetError(
                f"{where}: {name} is {row[name]!r:.60}, not a string; give the {name} text "
                f"(an empty string for an empty {name}), or drop the line."
            )
    for name in ("doc_id", "system"):
        if isinstance(row[name], bool) or not isinstance(row[name], (str, int)):
            raise DatasetError(f"{where}: {name} is {row[name]!r:.60}; use a string or integer.")
    reference = _reference_value(row)
    if not isinstance(reference, str) and not (
        isinstance(reference, list) and reference and all(isinstance(r, str) for r in reference)
    ):
        field = "references" if "references" in row else "reference"
        raise DatasetError(
            f"{where}: {field} {reference!r:.60} must be a string or a non-empty list of "
            "strings (several references)."
        )


def _numeric_columns(rows: list[dict[str, Any]]) -> list[str]:
    """Columns (outside KNOWN_FIELDS) that hold a finite number, not a bool, on some line."""
    candidates = dict.fromkeys(k for r in rows for k in r if k not in KNOWN_FIELDS)
    return [c for c in candidates if any(_is_number(r.get(c)) for r in rows)]


def _score(value: Any) -> float:
    """A human score as a float; NaN (left out) if it is not a finite number."""
    return float(value) if _is_number(value) else math.nan


def _warn_skipped(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Warn, per human column, about the lines whose score is not a number there."""
    for column in columns:
        bad = [r for r in rows if not _is_number(r.get(column))]
        if bad:
            first = bad[0]
            value = repr(first[column])[:40] if column in first else "no value"
            warnings.warn(
                f"Human column {column!r}: {len(bad)} of {len(rows)} lines have no numeric "
                f"score (e.g. doc_id={first['doc_id']!r}, system={first['system']!r}: "
                f"{value}); they are left out of {column!r}'s correlations only (counted in "
                "skipped_scores).",
                stacklevel=3,
            )


def skipped_scores(data: Judgments, columns: Sequence[str]) -> dict[str, int]:
    """Lines per human column whose score is NaN there (left out of that column only)."""
    counts = {c: int(np.sum(~np.isfinite(data.human[c]))) for c in columns}
    return {c: n for c, n in counts.items() if n}


def _is_number(value: Any) -> bool:
    """Whether ``value`` is a finite real number (a bool is not)."""
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _reference_value(row: dict[str, Any]) -> Any:
    """The line's ``references`` field if it has one, else its ``reference`` field."""
    return row["references"] if "references" in row else row["reference"]


def _references(value: str | list[str]) -> list[str]:
    """A checked reference (see :func:`_check_row`) as a list of strings."""
    return [value] if isinstance(value, str) else list(value)


def _check_unique(cells: np.ndarray, rows: list[dict[str, Any]], path: Any) -> None:
    """Raise if two lines share a (doc_id, system) cell."""
    _, first, counts = np.unique(cells, axis=0, return_index=True, return_counts=True)
    if np.any(counts > 1):
        row = rows[int(first[np.argmax(counts > 1)])]
        raise DatasetError(
            f"{path} has doc_id={row['doc_id']!r}, system={row['system']!r} more than once; "
            f"keep one line per (document, system), e.g. average the annotators first."
        )


def select_human_columns(data: Judgments, columns: Sequence[str] | None) -> list[str]:
    """``columns`` checked against ``data``, or every numeric human column if None.

    Raises:
        DatasetError: a requested column that is missing or has no numeric score on any
            line, or no numeric column at all.
    """
    available = list(data.human)
    if columns is None:
        if not available:
            raise DatasetError(
                "The judgments have no numeric human score column (besides "
                f"{', '.join(KNOWN_FIELDS)}); add one, e.g. 'relevance': 4.3."
            )
        return available
    for column in columns:
        if column not in data.human:
            raise DatasetError(
                f"Human column {column!r} is missing or has no numeric score on any line."
                f"{did_you_mean(column, available)} Numeric columns: {', '.join(available)}."
            )
    return list(columns)
