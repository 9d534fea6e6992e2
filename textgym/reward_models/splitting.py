"""Hold out whole groups of pairs: by prompt (default) or by any field the pairs file has."""

from __future__ import annotations

import json
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from textgym.errors import ConfigError
from textgym.reward_models.pairs import PAIR_FIELDS, PreferencePair


def split_pairs(
    pairs: Sequence[PreferencePair],
    val_fraction: float,
    seed: int,
    by: Sequence[str] = ("prompt",),
) -> tuple[list[PreferencePair], list[PreferencePair]]:
    """Split ``pairs`` into (train, held-out) by group, deterministically for a seed.

    A group is the pairs sharing the value of the field in ``by`` (one field), or the same
    *set* of values of the fields in ``by`` (several fields: ``policy_chosen`` and
    ``policy_rejected`` group by policy pair, whichever won). All pairs of a group land on
    the same side, so the held-out accuracy measures groups the model never saw (new
    prompts, new annotators, new policies). Groups are shuffled with
    ``numpy.random.default_rng(seed)`` and given to the held-out side until it holds at least
    ``val_fraction`` of the pairs. Both sides keep the input order.

    Args:
        pairs: The pairs, each with its line's other fields in ``meta``.
        val_fraction: Target share of held-out pairs, in (0, 1).
        seed: Seeds the shuffle of the groups.
        by: Field names: ``prompt`` or fields of the pairs file (``worker``, ``split``, ...).

    Raises:
        ConfigError: ``val_fraction`` not in (0, 1); an empty ``by``; a field that some pair
            lacks (the message lists the fields every pair has); or a split leaving one
            side empty (too few groups).
    """
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"val_fraction={val_fraction!r} must be between 0 and 1, e.g. 0.2.")
    keys = group_keys(pairs, by)
    groups = list(dict.fromkeys(keys))
    sizes = dict.fromkeys(groups, 0)
    for key in keys:
        sizes[key] += 1
    held: set[Hashable] = set()
    target, size = val_fraction * len(pairs), 0
    for i in np.random.default_rng(seed).permutation(len(groups)):
        if size >= target:
            break
        held.add(groups[i])
        size += sizes[groups[i]]
    train = [p for p, key in zip(pairs, keys, strict=True) if key not in held]
    heldout = [p for p, key in zip(pairs, keys, strict=True) if key in held]
    if not train or not heldout:
        raise ConfigError(
            f"Splitting {len(pairs)} pairs by {', '.join(by)} ({len(groups)} distinct "
            f"group(s)) with val_fraction={val_fraction} leaves no "
            f"{'training' if not train else 'held-out'} pairs; add pairs, lower val_fraction, "
            f"or split by a field with more distinct values."
        )
    return train, heldout


def group_keys(pairs: Sequence[PreferencePair], by: Sequence[str]) -> list[Hashable]:
    """The group of each pair under ``by`` (see :func:`split_pairs`).

    Raises:
        ConfigError: an empty ``by``, or a field that some pair lacks.
    """
    if not by:
        raise ConfigError("split_by names no field; pass e.g. ('prompt',) or ('worker',).")
    for name in by:
        _check_field(pairs, name)
    keys: list[Hashable] = []
    for pair in pairs:
        values = [_hashable(_field(pair, name)) for name in by]
        keys.append(values[0] if len(values) == 1 else frozenset(values))
    return keys


def _field(pair: PreferencePair, name: str) -> Any:
    return getattr(pair, name) if name in PAIR_FIELDS else pair.meta[name]


def _check_field(pairs: Sequence[PreferencePair], name: str) -> None:
    if name in PAIR_FIELDS:
        return
    lacking = [i for i, pair in enumerate(pairs) if name not in pair.meta]
    if not lacking:
        return
    common = set.intersection(*(set(pair.meta) for pair in pairs))
    fields = ", ".join([*PAIR_FIELDS, *sorted(common)])
    what = "no pair has" if len(lacking) == len(pairs) else f"{len(lacking)} of {len(pairs)} lack"
    raise ConfigError(
        f"Cannot split by {name!r}: {what} that field. Fields every pair has: {fields}. "
        f"Pass one of them to --split-by (several: comma-separated)."
    )


def _hashable(value: Any) -> Hashable:
    """The value itself, or its JSON text for lists and objects."""
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return value
