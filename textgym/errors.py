"""The errors textgym raises: each names the bad value, the valid options and the fix."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class TextGymError(Exception):
    """Base class of every error textgym raises on bad input."""


class ConfigError(TextGymError, ValueError):
    """A setting, a registry entry or a keyword argument is invalid."""


class UnknownNameError(TextGymError, KeyError):
    """A name (reward, model, task) is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class DatasetError(TextGymError, ValueError):
    """A dataset is empty, unreadable or lacks a field."""


class RewardError(TextGymError, ValueError):
    """A reward got inputs it cannot score, or returned something the caller cannot use."""


class EnvStateError(TextGymError, RuntimeError):
    """An env was used out of order (e.g. stepped after its episode ended)."""


class OutputInUseError(TextGymError, RuntimeError):
    """Another process is writing into the same output folder."""


def did_you_mean(name: str, options: Iterable[str]) -> str:
    """Return a ' Did you mean ...?' hint for ``name`` among ``options``, or ''."""
    close = difflib.get_close_matches(name, list(options), n=3, cutoff=0.5)
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def unknown_name(kind: str, name: str, options: Iterable[str], fix: str = "") -> UnknownNameError:
    """Build an :class:`UnknownNameError` listing the options and the closest matches."""
    opts = sorted(options)
    msg = f"Unknown {kind} {name!r}.{did_you_mean(name, opts)} Known: {', '.join(opts)}."
    return UnknownNameError(f"{msg} {fix}".strip())
