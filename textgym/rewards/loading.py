"""Model-path helpers shared by the rewards that run a Transformer."""

from __future__ import annotations

import os


def absolute_if_local(spec: str) -> str:
    """An existing local path made absolute (``~`` expanded); any other spec unchanged."""
    path = os.path.expanduser(spec)
    return os.path.abspath(path) if os.path.exists(path) else spec


def looks_like_path(spec: str) -> bool:
    """Whether ``spec`` can only be a local path, not a Hugging Face name (``org/name``)."""
    return os.path.isabs(spec) or spec.startswith((".", "~")) or spec.count("/") > 1 or "\\" in spec
