"""Torch device names: checked before anything loads, so a typo or a missing GPU is named."""

from __future__ import annotations

from typing import Any

from textgym.errors import ConfigError

_AUTO = "device='auto' (CUDA when available, else CPU)"


def check_device(device: Any, owner: str) -> str | None:
    """Validate a torch device for ``owner``; None and ``"auto"`` pick one at load time.

    Args:
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, ``"auto"`` or None.
        owner: Who asks (a class, or a function and its argument), for the error message.

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
