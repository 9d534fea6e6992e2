"""The preference pair: one human comparison of two responses to a prompt."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

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
