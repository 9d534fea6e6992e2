"""The preference pair: one human comparison of two responses to a prompt, and its file."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from textgym.errors import DatasetError

PAIR_FIELDS = ("prompt", "chosen", "rejected")


class PreferencePair(NamedTuple):
    """One human comparison: ``chosen`` was preferred to ``rejected`` as a reply to ``prompt``.

    Attributes:
        prompt: The input both responses answer.
        chosen: The preferred response.
        rejected: The other response.
        meta: The line's other fields (``worker``, ``split``, ...), read-only; what
            ``--split-by`` groups on.
    """

    prompt: str
    chosen: str
    rejected: str
    meta: Mapping[str, Any] = MappingProxyType({})


def load_pairs(path: str | os.PathLike[str], limit: int | None = None) -> list[PreferencePair]:
    """Read preference pairs from a JSONL file with string fields prompt, chosen, rejected.

    Other fields (``id``, ``worker``, ...) are kept in each pair's ``meta`` (for
    ``split_by``); training does not read them. A pair whose chosen text equals its
    rejected one states no preference: it is dropped, with a warning giving the count.

    Raises:
        DatasetError: the file is missing or holds no usable pair, a line is not a JSON
            object, or a line lacks one of the fields or has a non-string value.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"Pairs file {str(path)!r} does not exist; pass a JSONL file path.")
    pairs, ties = [], 0
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                pair = _parse_pair(line, number, path)
                if pair.chosen.strip() == pair.rejected.strip():
                    ties += 1  # no preference to learn: the loss stays ln 2
                else:
                    pairs.append(pair)
            if limit is not None and len(pairs) >= limit:
                break
    if not pairs:
        what = f"only pairs whose chosen equals rejected ({ties})" if ties else "no pairs"
        raise DatasetError(
            f"Pairs file {str(path)!r} has {what}; write one JSON object per line with "
            f"fields {', '.join(PAIR_FIELDS)}, the chosen response different from the rejected."
        )
    if ties:
        warnings.warn(
            f"Pairs file {str(path)!r}: dropped {ties} pair(s) whose chosen text equals the "
            f"rejected one (they state no preference); {len(pairs)} pairs left.",
            stacklevel=2,
        )
    return pairs


def _parse_pair(line: str, number: int, path: Path) -> PreferencePair:
    """One line of a pairs file (line ``number`` of ``path``, for messages) as a pair."""
    where = f"{path}:{number}"
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{where} is not valid JSON ({exc.msg}); fix or remove it.") from exc
    if not isinstance(row, dict):
        raise DatasetError(f"{where} is a {type(row).__name__}, not a JSON object.")
    missing = [name for name in PAIR_FIELDS if name not in row]
    if missing:
        raise DatasetError(
            f"{where} lacks the field(s) {', '.join(missing)} (it has {', '.join(row)}); every "
            f"line needs {', '.join(PAIR_FIELDS)} (the preferred response is 'chosen')."
        )
    for name in PAIR_FIELDS:
        if not isinstance(row[name], str):
            raise DatasetError(
                f"{where}: field {name!r} is a {type(row[name]).__name__}; it must be a string."
            )
    meta = {name: value for name, value in row.items() if name not in PAIR_FIELDS}
    return PreferencePair(row["prompt"], row["chosen"], row["rejected"], MappingProxyType(meta))
