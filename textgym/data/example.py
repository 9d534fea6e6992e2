"""The record every task reads: one source text and its reference outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Example:
    """One dataset row, normalised.

    Attributes:
        id: Stable identifier of the row (the dataset's own id, else its index).
        source: The input text. For dialogue, the turns joined by newlines.
        references: The reference outputs: one or more, or none (``()``) in a prompt-only
            dataset loaded for a reward that reads no references.
        turns: Dialogue turns, oldest first (empty for other tasks).
        meta: Extra per-row fields the task may use (e.g. ``src_lang``, ``tgt_lang``).
    """

    id: str
    source: str
    references: tuple[str, ...]
    turns: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
