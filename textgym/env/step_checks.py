"""The checks both token-level envs make: sizes, the example index, the action."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from textgym.errors import ConfigError


def check_positive(**values: int) -> None:
    """Raise unless every value is a positive integer (not a bool)."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigError(f"{name}={value!r} must be a positive integer.")


def pick_index(options: Mapping[str, Any], rng: np.random.Generator, count: int) -> int:
    """``options["index"]`` (checked), or a random index below ``count`` drawn from ``rng``."""
    if "index" not in options:
        return int(rng.integers(count))
    index = options["index"]
    if not isinstance(index, (int, np.integer)) or not 0 <= index < count:
        raise ConfigError(
            f"options['index']={index!r} is not a valid example index; use an int in [0, {count})."
        )
    return int(index)


def check_action(action: int | np.integer, vocab_size: int) -> int:
    """The token id ``action``; anything but one integer in the vocabulary is an error."""
    arr = np.asarray(action)
    if arr.size != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ConfigError(f"Action {action!r} is not a single integer token id.")
    token = int(arr.reshape(()))
    if not 0 <= token < vocab_size:
        raise ConfigError(
            f"Action {token} is outside the vocabulary [0, {vocab_size}); the policy's "
            f"output layer must match the env's tokenizer (len(tokenizer)={vocab_size})."
        )
    return token


def check_eos_ids(given: Sequence[int] | None, tokenizer: Any, cap: str) -> frozenset[int]:
    """The tokens that end a text: ``given``, or the tokenizer's EOS; each in the vocabulary.

    ``cap`` names the limit that would otherwise be the only end (for the error message).
    """
    listed = list(given) if given is not None else [tokenizer.eos_token_id]
    ids = [i for i in listed if i is not None]
    if not ids:
        raise ConfigError(
            f"The tokenizer has no eos_token_id, so a text could only end at {cap}. Pass "
            "eos_token_ids=[...] with the token(s) that end a text."
        )
    vocab_size = len(tokenizer)
    bad = [i for i in ids if not 0 <= int(i) < vocab_size]
    if bad:
        raise ConfigError(f"eos_token_ids {bad} are outside the vocabulary [0, {vocab_size}).")
    return frozenset(int(i) for i in ids)
