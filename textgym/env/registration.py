"""Register textgym's envs with Gymnasium from ``envs_registry.yaml``, validated."""

from __future__ import annotations

import importlib
import inspect
import re
from importlib import resources
from typing import Any

import gymnasium as gym
import yaml

from textgym.errors import ConfigError

_ALLOWED_KEYS = {"id", "entry_point", "kwargs"}
_ID = re.compile(r"^[A-Za-z][\w.-]*-v\d+$")


def read_registry(text: str | None = None) -> list[dict[str, Any]]:
    """Parse and validate the registry YAML (the packaged file when ``text`` is None)."""
    if text is None:
        text = resources.files("textgym").joinpath("envs_registry.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or set(data) != {"envs"} or not isinstance(data["envs"], list):
        raise ConfigError("envs_registry.yaml must be a mapping with a single key 'envs': a list.")
    specs = [_validate(entry, i) for i, entry in enumerate(data["envs"])]
    ids = [spec["id"] for spec in specs]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ConfigError(f"envs_registry.yaml registers {duplicates} more than once.")
    return specs


def _validate(entry: Any, position: int) -> dict[str, Any]:
    where = f"envs_registry.yaml entry {position}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a mapping, got {type(entry).__name__}.")
    unknown = set(entry) - _ALLOWED_KEYS
    if unknown or not {"id", "entry_point"} <= set(entry):
        raise ConfigError(
            f"{where} has keys {sorted(entry)}; allowed are {sorted(_ALLOWED_KEYS)} "
            f"and 'id' and 'entry_point' are required."
        )
    if not isinstance(entry["id"], str) or not _ID.match(entry["id"]):
        raise ConfigError(f"{where}: id {entry['id']!r} must look like 'Name-v0'.")
    kwargs = entry.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise ConfigError(f"{where}: kwargs must be a mapping.")
    _check_kwargs(_resolve(entry["entry_point"], where), kwargs, where)
    return {"id": entry["id"], "entry_point": entry["entry_point"], "kwargs": kwargs}


def _resolve(entry_point: Any, where: str) -> Any:
    if not isinstance(entry_point, str) or entry_point.count(":") != 1:
        raise ConfigError(f"{where}: entry_point {entry_point!r} must be 'module.path:ClassName'.")
    module, name = entry_point.split(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"{where}: entry_point {entry_point!r} cannot be imported: {exc}"
        ) from exc


def _check_kwargs(target: Any, kwargs: dict[str, Any], where: str) -> None:
    params = inspect.signature(target).parameters
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise ConfigError(f"{where}: kwargs {unknown} are not parameters of {target.__name__}.")
    for name, value in kwargs.items():
        default = params[name].default
        if isinstance(default, int) and not isinstance(default, bool):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{where}: kwargs.{name}={value!r} must be a positive integer.")


def register_envs() -> list[str]:
    """Register every env of the registry with Gymnasium (idempotent); return their ids."""
    specs = read_registry()
    for spec in specs:
        if spec["id"] not in gym.registry:
            gym.register(spec["id"], entry_point=spec["entry_point"], kwargs=spec["kwargs"])
    return [spec["id"] for spec in specs]
