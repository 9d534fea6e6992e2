"""Device and model-path helpers shared by the rewards that run a Transformer."""

from __future__ import annotations

import os
from typing import Any

from textgym.errors import ConfigError

_AUTO = "device='auto' (CUDA when available, else CPU)"


def check_device(device: Any, owner: str) -> str | None:
    """Validate a torch device for ``owner``; None and ``"auto"`` pick one at load time.

    Args:
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, ``"auto"`` or None.
        owner: The reward class, for the error message.

    Returns:
        The device as a string, or None for "CUDA when available, else CPU".

    Raises:
        ConfigError: not a torch device string, or a device this process cannot see
            (``"cuda"`` without CUDA, ``"cuda:3"`` with one GPU).
    """
    if device is None or device == "auto":
        return None
    import torch as th

    try:
        parsed = th.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"{owner} device={device!r} is not a torch device; use 'cpu', 'cuda', 'cuda:0' "
            f"or {_AUTO}."
        ) from exc
    count = _device_count(parsed.type)
    if parsed.type != "cpu" and (parsed.index or 0) >= count:
        raise ConfigError(
            f"{owner} device={device!r} is not available: this process sees {count} "
            f"{parsed.type} device(s). Use device='cpu', or {_AUTO}."
        )
    return str(parsed)


def _device_count(kind: str) -> int:
    import torch as th

    if kind == "cpu":
        return 1
    if kind == "mps":
        return int(th.backends.mps.is_available())
    backend = getattr(th, kind, None)
    if backend is None or not hasattr(backend, "device_count") or not backend.is_available():
        return 0
    return int(backend.device_count())


def default_device() -> str:
    """``"cuda"`` when CUDA is available, else ``"cpu"``."""
    import torch as th

    return "cuda" if th.cuda.is_available() else "cpu"


def absolute_if_local(spec: str) -> str:
    """An existing local path made absolute (``~`` expanded); any other spec unchanged."""
    path = os.path.expanduser(spec)
    return os.path.abspath(path) if os.path.exists(path) else spec


def looks_like_path(spec: str) -> bool:
    """Whether ``spec`` can only be a local path, not a Hugging Face name (``org/name``)."""
    return os.path.isabs(spec) or spec.startswith((".", "~")) or spec.count("/") > 1 or "\\" in spec
