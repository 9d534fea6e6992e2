"""Sweep axes: the TrainConfig settings a comparison varies beyond reward and seed.

An axis is a setting name and either a list of values (a grid: every combination is
trained) or, for a search, a numeric :class:`Range`. On the command line::

    --grid learning_rate=1e-5,5e-6     values, parsed by the setting's type
    --grid kl_coef=none,0.05           "none" for a setting that may be unset
    --grid learning_rate=1e-6..1e-4:log   a range (searches only), sampled on a log scale

A run's folder name encodes its settings: ``<reward>__learning_rate=1e-05__seed0``.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from textgym.comma_lists import split_commas
from textgym.errors import ConfigError, unknown_name
from textgym.training import TrainConfig

# Settings a comparison varies by other means: --rewards, --seeds, and each run's folder.
NOT_AXES = ("reward", "seed", "out")
NONE_WORDS = ("none", "None", "null")


@dataclass(frozen=True)
class Range:
    """A numeric interval a search samples from, ``[low, high]``, on a log scale if ``log``."""

    low: float
    high: float
    log: bool = False


Axis = tuple[Any, ...] | Range
Point = tuple[tuple[str, Any], ...]  # one value per axis, in axis order


def setting_type(name: str) -> tuple[type, bool]:
    """``(type, may be None)`` of the :class:`TrainConfig` setting ``name`` as a sweep axis.

    Raises:
        UnknownNameError: no such setting (close names are suggested).
        ConfigError: the setting is varied otherwise (reward, seed, out) or is not a
            single number or string (e.g. ``ppo_kwargs``).
    """
    hints = typing.get_type_hints(TrainConfig)
    if name not in hints:
        options = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in NOT_AXES]
        raise unknown_name("TrainConfig setting", name, options, "Sweep one of these settings.")
    if name in NOT_AXES:
        raise ConfigError(
            f"{name!r} cannot be a sweep axis: use --rewards and --seeds to vary the reward and "
            "the seed; each run's folder is chosen by the comparison."
        )
    hint = hints[name]
    args = set(typing.get_args(hint)) if isinstance(hint, types.UnionType) else {hint}
    optional = type(None) in args
    kinds = [a for a in args - {type(None)} if a in (int, float, str)]
    if len(kinds) != 1:
        raise ConfigError(
            f"{name!r} holds {hint}, not a single number or string, so it cannot be a sweep "
            "axis; set it in the base settings for every run."
        )
    return kinds[0], optional


def check_axes(grid: Mapping[str, Any], search: bool) -> dict[str, Axis]:
    """``grid`` checked, as ``name -> tuple of values or Range`` (a new dict).

    Raises:
        UnknownNameError: an unknown setting name.
        ConfigError: an empty axis, a repeated value, a value of the wrong type, or a
            range in a grid (``search`` False) or on a string setting.
    """
    checked: dict[str, Axis] = {}
    for name, axis in grid.items():
        kind, optional = setting_type(name)
        if isinstance(axis, Range):
            checked[name] = _check_range(name, axis, kind, search)
            continue
        values = tuple(axis) if isinstance(axis, Sequence) and not isinstance(axis, str) else None
        if not values:
            raise ConfigError(
                f"Sweep axis {name!r} has no values ({axis!r}); give a list, e.g. "
                f"--grid {name}=A,B."
            )
        for value in values:
            _check_value(name, value, kind, optional)
        if len(set(map(repr, values))) < len(values):
            raise ConfigError(
                f"Sweep axis {name!r} lists a value twice ({values}); list each once."
            )
        checked[name] = values
    return checked


def _check_value(name: str, value: Any, kind: type, optional: bool) -> None:
    ok = (value is None and optional) or (
        isinstance(value, kind if kind is not float else (int, float))
        and not isinstance(value, bool)
        and not (kind is float and not math.isfinite(value))
    )
    if not ok:
        what = {int: "an integer", float: "a finite number", str: "a string"}[kind]
        raise ConfigError(
            f"Sweep axis {name!r}: {value!r} is a {type(value).__name__}; {name} takes {what}"
            + (" or None" if optional else "")
            + "."
        )


def _check_range(name: str, axis: Range, kind: type, search: bool) -> Range:
    if not search:
        raise ConfigError(
            f"Sweep axis {name!r} is a range ({axis.low}..{axis.high}); a grid needs a list of "
            "values. Give values (A,B,C), or sample the range with --search random|tpe."
        )
    if kind is str:
        raise ConfigError(f"Sweep axis {name!r} takes strings; give a list of values, not a range.")
    for value in (axis.low, axis.high):
        _check_value(name, value, kind, optional=False)
    if not axis.low < axis.high or (axis.log and axis.low <= 0):
        raise ConfigError(
            f"Sweep axis {name!r}: range {axis.low}..{axis.high} needs low < high"
            + (" and low > 0 on a log scale." if axis.log else ".")
        )
    return axis


def parse_axis(text: str) -> tuple[str, Axis]:
    """``"learning_rate=1e-5,5e-6"`` -> ``("learning_rate", (1e-05, 5e-06))``.

    ``NAME=LOW..HIGH`` (optionally ``:log``) gives a :class:`Range`.

    Raises:
        UnknownNameError: an unknown setting name.
        ConfigError: no ``=``, an empty axis or value, or a value of the wrong type.
    """
    name, sep, rest = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ConfigError(
            f"--grid {text!r} must be NAME=VALUES, e.g. --grid learning_rate=1e-5,5e-6."
        )
    kind, optional = setting_type(name)
    ranged = re.fullmatch(r"\s*(\S+)\s*\.\.\s*([^:\s]+)\s*(:log)?\s*", rest)
    if ranged and kind is not str:
        low, high = (_parse_value(name, v, kind, False) for v in ranged.group(1, 2))
        return name, Range(low, high, bool(ranged.group(3)))
    parts = split_commas(rest, "--grid", f"{name}=A,B")
    return name, tuple(_parse_value(name, part, kind, optional) for part in parts)


def _parse_value(name: str, text: str, kind: type, optional: bool) -> Any:
    if optional and text in NONE_WORDS:
        return None
    try:
        return kind(text)
    except ValueError:
        what = {int: "whole numbers", float: "numbers"}[kind]
        raise ConfigError(
            f"--grid {name}: {text!r} is not valid; {name} takes {what}"
            + (" (or none)" if optional else "")
            + "."
        ) from None


def grid_points(grid: Mapping[str, Axis]) -> list[Point]:
    """Every combination of the axes' values, the last axis varying fastest."""
    names = list(grid)
    return [tuple(zip(names, values, strict=True)) for values in itertools.product(*grid.values())]


def format_value(value: Any) -> str:
    """A setting value as written in folder names and reports (exact: ``repr`` of floats)."""
    if value is None:
        return "none"
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", repr(value) if isinstance(value, float) else str(value))


def point_label(point: Point) -> str:
    """``learning_rate=1e-05, kl_coef=0.05`` (empty for no axes)."""
    return ", ".join(f"{name}={format_value(value)}" for name, value in point)
