"""Register textgym's envs with Gymnasium: ``envs_registry.yaml`` and :func:`register_task`.

An env id of a task is ``TextGenEnv(task=name)`` with the task's reward and token limits
(see :class:`textgym.Task`): the YAML names only the task, the rest is filled in here.
"""

from __future__ import annotations

import importlib
import inspect
import re
from importlib import resources
from typing import Any

import gymnasium as gym
import yaml

from textgym.env.text_gen_env import TextGenEnv
from textgym.errors import ConfigError, UnknownNameError
from textgym.tasks import Task, add_task, check_new_task, get_task

#: The entry point of every env id of a task.
ENTRY_POINT = "textgym.env:TextGenEnv"
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
    target = _resolve(entry["entry_point"], where)
    _check_kwargs(target, kwargs, where)
    if "task" in kwargs and isinstance(target, type) and issubclass(target, TextGenEnv):
        kwargs = task_env_kwargs(_yaml_task(kwargs["task"], where), **kwargs)
    return {"id": entry["id"], "entry_point": entry["entry_point"], "kwargs": kwargs}


def _yaml_task(name: Any, where: str) -> Task:
    try:
        return get_task(name)
    except UnknownNameError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def task_env_kwargs(task: Task, /, **overrides: Any) -> dict[str, Any]:
    """The kwargs of an env id for ``task``: its name, reward and limits, then ``overrides``."""
    return {
        "task": task.name,
        "reward": task.reward,
        "max_prompt_tokens": task.max_prompt_tokens,
        "max_new_tokens": task.max_new_tokens,
        **overrides,
    }


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


def register_task(
    task: Task, /, env_id: str | None = None, *, overwrite: bool = False, **env_kwargs: Any
) -> None:
    """Add ``task`` (usable as ``task=`` everywhere) and, with ``env_id``, an env id for it.

    The env id is ``TextGenEnv(task=task.name)`` with the task's reward and token limits
    unless ``env_kwargs`` set them (or any other :class:`TextGenEnv` argument, e.g.
    ``dataset``). Everything is checked before anything is registered. Registering an
    equal task, or the same env id with the same arguments, again changes nothing.

    Args:
        task: The :class:`textgym.Task`.
        env_id: A Gymnasium id such as ``"MyQA-v0"``; None registers the task only.
        overwrite: Replace a different task of the same name and an env id already taken
            (built-in tasks cannot be replaced).
        env_kwargs: Default :class:`TextGenEnv` arguments of the env id.

    Raises:
        ConfigError: ``task`` is no Task; its name or ``env_id`` is taken by something
            else (without ``overwrite``); ``env_id`` is not like ``Name-v0``;
            ``env_kwargs`` are not arguments of TextGenEnv or come without ``env_id``.
    """
    check_new_task(task, overwrite)
    kwargs = _id_kwargs(task, env_id, env_kwargs)
    if env_id is not None:
        _check_free_id(env_id, kwargs, overwrite)
    add_task(task, overwrite)
    if env_id is not None:
        gym.registry.pop(env_id, None)  # replaced knowingly: no "Overriding" warning
        gym.register(env_id, entry_point=ENTRY_POINT, kwargs=kwargs)


def _id_kwargs(task: Task, env_id: str | None, env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The checked kwargs of ``task``'s env id."""
    where = f"register_task({task.name!r})"
    if env_id is None:
        if env_kwargs:
            raise ConfigError(
                f"{where}: env kwargs {sorted(env_kwargs)} need an env_id to belong to; "
                "pass env_id='Name-v0', or give them to gym.make instead."
            )
        return {}
    if "task" in env_kwargs:
        raise ConfigError(f"{where}: task= is the task being registered; drop it.")
    _check_kwargs(TextGenEnv, env_kwargs, where)
    return task_env_kwargs(task, **env_kwargs)


def _check_free_id(env_id: Any, kwargs: dict[str, Any], overwrite: bool) -> None:
    """Raise unless ``env_id`` looks like ``Name-v0`` and is free (or the same, or overwritten)."""
    if not isinstance(env_id, str) or not _ID.match(env_id):
        raise ConfigError(
            f"env_id {env_id!r} must look like 'Name-v0' (letters first, then -v and a version)."
        )
    old = gym.registry.get(env_id)
    if old is None or overwrite or (old.entry_point == ENTRY_POINT and old.kwargs == kwargs):
        return
    raise ConfigError(
        f"env id {env_id!r} is already registered (entry point {old.entry_point!r}, kwargs "
        f"{old.kwargs!r}); pick another id (or bump its -vN) or pass overwrite=True."
    )
