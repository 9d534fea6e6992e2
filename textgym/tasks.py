"""Tasks: what an env asks for and how it reads a dataset, defined once per task.

A :class:`Task` holds the instruction template, which side of a long input is cut, the
dataset columns tried per field, and the defaults an env id registered for it gets (reward,
token limits). The three built-in tasks are defined here; :func:`textgym.register_task`
adds your own (and an env id for it). This module sits just above :mod:`textgym.errors`,
so both ``data/`` (fields) and ``env/`` (prompts, registration) read tasks from it.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Literal

from textgym.errors import ConfigError, unknown_name

#: The fields every task reads, by kind (a ``dialogue`` task reads turns from ``context``).
KIND_KEYS = {"text": ("id", "source", "reference"), "dialogue": ("id", "context", "reference")}
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_REGISTER_HINT = "Define your own with textgym.Task(...) and add it with textgym.register_task."


@dataclass(frozen=True)
class Task:
    """One task: its prompt, how its dataset is read, and its env's defaults.

    Args:
        name: The task name (``task=`` of envs and datasets): letters, digits, ``_``, ``-``.
        template: The instruction, with ``{source}`` where the input text goes and
            ``{key}`` for any other field of the row (see ``fields`` and ``meta_defaults``).
            Literal braces are doubled (``{{``), as in :meth:`str.format`.
        reward: The reward an env of this task uses when none is given: a name
            (``"rougeL"``), a weighted sum (``{"rougeL": 0.7, "chrf": 0.3}``) or a reward object.
        fields: Per field, the dataset columns tried, first present wins (a string is one
            column). ``id``, ``source`` (``context`` for dialogue) and ``reference`` default
            to a column of their own name; any other key is read into ``Example.meta``
            (required unless ``meta_defaults`` has it) and can appear in ``template``.
        truncation_side: Which end of the input a too long prompt loses: ``"end"`` keeps the
            beginning (articles), ``"start"`` keeps the most recent text (conversations).
        kind: ``"text"`` (one input text) or ``"dialogue"`` (a list of turns in ``context``).
        max_prompt_tokens: The prompt limit of an env id registered for this task.
        max_new_tokens: The generation limit of an env id registered for this task.
        meta_defaults: Values of template fields a row does not have (e.g. ``src_lang``).
        ships_data: Whether textgym ships ``data/default/{name}_{split}.jsonl`` files; without
            them an env of this task needs ``dataset=``.

    Raises:
        ConfigError: any value above is unusable (the message names it and the fix).
    """

    name: str
    template: str
    _: KW_ONLY
    reward: Any
    fields: Mapping[str, str | Sequence[str]] = field(default_factory=dict)
    truncation_side: Literal["start", "end"] = "end"
    kind: Literal["text", "dialogue"] = "text"
    max_prompt_tokens: int = 256
    max_new_tokens: int = 48
    meta_defaults: Mapping[str, str] = field(default_factory=dict)
    ships_data: bool = False

    def __post_init__(self) -> None:
        _check_name(self.name)
        _check_choice(self, "truncation_side", ("start", "end"))
        _check_choice(self, "kind", tuple(KIND_KEYS))
        object.__setattr__(self, "fields", _normal_fields(self, self.fields))
        object.__setattr__(self, "meta_defaults", _normal_meta_defaults(self, self.meta_defaults))
        _check_template(self)
        _check_reward(self)
        for name in ("max_prompt_tokens", "max_new_tokens"):
            _check_positive(self, name)
        if not isinstance(self.ships_data, bool):
            raise ConfigError(f"Task {self.name!r}: ships_data must be True or False.")

    def __hash__(self) -> int:
        return hash(self.name)

    @property
    def meta_keys(self) -> tuple[str, ...]:
        """The fields read into ``Example.meta``: all but the kind's own keys."""
        return tuple(key for key in self.fields if key not in KIND_KEYS[self.kind])

    def required_fields(self, needs_references: bool = True) -> tuple[str, ...]:
        """The fields every row must have (``reference`` only if the reward reads it)."""
        own = [k for k in KIND_KEYS[self.kind] if k != "id"]
        own = [k for k in own if needs_references or k != "reference"]
        return (*own, *(k for k in self.meta_keys if k not in self.meta_defaults))


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"Task name {name!r} is invalid: use letters, digits, '_' or '-', starting with a "
            "letter (it names the task in task= and in data file names), e.g. 'qa'."
        )


def _check_choice(task: Task, name: str, options: tuple[str, ...]) -> None:
    value = getattr(task, name)
    if value not in options:
        raise ConfigError(
            f"Task {task.name!r}: {name}={value!r} is not one of {', '.join(map(repr, options))}."
        )


def _check_positive(task: Task, name: str) -> None:
    value = getattr(task, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"Task {task.name!r}: {name}={value!r} must be a positive integer.")


def _normal_fields(task: Task, fields: Any) -> dict[str, tuple[str, ...]]:
    """Return ``fields`` as ``{key: (column, ...)}``, the kind's keys filled in, checked."""
    if not isinstance(fields, Mapping):
        raise ConfigError(
            f"Task {task.name!r}: fields must be a mapping such as "
            f"{{'source': 'question', 'reference': 'answer'}}, got {type(fields).__name__}."
        )
    own = KIND_KEYS[task.kind]
    wrong = {"text": "context", "dialogue": "source"}[task.kind]
    if wrong in fields:
        raise ConfigError(
            f"Task {task.name!r}: fields has {wrong!r}, but a {task.kind!r} task reads its "
            f"input from {own[1]!r}. Rename the key to {own[1]!r}"
            + (" or pass kind='dialogue'." if task.kind == "text" else ".")
        )
    normal = {key: (key,) for key in own}
    for key, columns in fields.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise ConfigError(
                f"Task {task.name!r}: fields key {key!r} must be a name (letters, digits, '_')."
            )
        normal[key] = _columns(task, key, columns)
    return normal


def _columns(task: Task, key: str, columns: Any) -> tuple[str, ...]:
    """Return the column names of one field as a non-empty tuple of non-empty strings."""
    names = (columns,) if isinstance(columns, str) else columns
    if (
        not isinstance(names, Sequence)
        or not names
        or not all(isinstance(c, str) and c for c in names)
    ):
        raise ConfigError(
            f"Task {task.name!r}: fields[{key!r}] must be a column name or a list of them "
            f"(non-empty strings), got {columns!r}."
        )
    return tuple(names)


def _normal_meta_defaults(task: Task, defaults: Any) -> dict[str, str]:
    if not isinstance(defaults, Mapping) or not all(
        isinstance(k, str) and k.isidentifier() and isinstance(v, str) for k, v in defaults.items()
    ):
        raise ConfigError(
            f"Task {task.name!r}: meta_defaults must map field names to strings, e.g. "
            f"{{'tgt_lang': 'German'}}, got {defaults!r}."
        )
    clash = [k for k in defaults if k in KIND_KEYS[task.kind]]
    if clash:
        raise ConfigError(
            f"Task {task.name!r}: meta_defaults cannot set {clash}; only extra fields have "
            "defaults."
        )
    return dict(defaults)


def _check_template(task: Task) -> None:
    """Raise unless the template is a format string with ``{source}`` and known fields."""
    if not isinstance(task.template, str):
        raise ConfigError(f"Task {task.name!r}: template must be a string, not {task.template!r}.")
    try:
        names = [n for _, n, _, _ in string.Formatter().parse(task.template) if n is not None]
    except ValueError as exc:
        raise ConfigError(
            f"Task {task.name!r}: template is not a valid format string ({exc}); write "
            "literal braces as '{{' and '}}'."
        ) from exc
    if "source" not in names:
        raise ConfigError(
            f"Task {task.name!r}: template {task.template!r} has no '{{source}}' placeholder; "
            "add one where the input text goes."
        )
    known = {"source", *task.meta_keys, *task.meta_defaults}
    unknown = sorted({n for n in names if n not in known})
    if unknown:
        raise ConfigError(
            f"Task {task.name!r}: template placeholders {unknown} are not fields of the task. "
            f"Add them to fields= (the columns to read) or meta_defaults= (a fixed value); "
            f"known: {sorted(known)}."
        )


def _check_reward(task: Task) -> None:
    reward = task.reward
    if (isinstance(reward, str) and reward.strip()) or isinstance(reward, Mapping):
        return
    if callable(reward) and not isinstance(reward, type):
        return
    raise ConfigError(
        f"Task {task.name!r}: reward={reward!r} is not a reward: pass a name ('rougeL'), "
        "a weighted sum ({'rougeL': 0.7, 'chrf': 0.3}) or a reward object (an instance)."
    )


SUMMARIZE = Task(
    "summarize",
    "Summarize the following text in one sentence.\n\n{source}",
    reward="rougeL",
    fields={
        "source": ("source", "article", "document", "dialogue", "text"),
        "reference": ("reference", "highlights", "summary", "references"),
    },
    truncation_side="end",
    max_prompt_tokens=256,
    max_new_tokens=48,
    ships_data=True,
)
DIALOGUE = Task(
    "dialogue",
    "Write the next reply in this conversation.\n\n{source}\n\nReply:",
    reward="chrf",
    fields={
        "context": ("context", "turns", "dialogue"),
        "reference": ("references", "reference", "response"),
    },
    truncation_side="start",
    kind="dialogue",
    max_prompt_tokens=192,
    max_new_tokens=32,
    ships_data=True,
)
TRANSLATE = Task(
    "translate",
    "Translate the following {src_lang} text into {tgt_lang}.\n\n{source}",
    reward="chrf",
    fields={
        "source": ("source", "src", "en"),
        "reference": ("reference", "references", "target", "tgt"),
        "src_lang": ("src_lang",),
        "tgt_lang": ("tgt_lang",),
    },
    truncation_side="end",
    max_prompt_tokens=128,
    max_new_tokens=48,
    meta_defaults={"src_lang": "English", "tgt_lang": "German"},
    ships_data=True,
)

#: The names of the tasks textgym defines (each ships train/validation/test data).
BUILTIN_TASKS: tuple[str, ...] = (SUMMARIZE.name, DIALOGUE.name, TRANSLATE.name)
_TASKS: dict[str, Task] = {task.name: task for task in (SUMMARIZE, DIALOGUE, TRANSLATE)}


def get_task(name: str) -> Task:
    """Return the task called ``name``.

    Raises:
        UnknownNameError: no such task; the message lists the known ones and close matches.
    """
    if not isinstance(name, str) or name not in _TASKS:
        raise unknown_name("task", str(name), _TASKS, _REGISTER_HINT)
    return _TASKS[name]


def known_tasks() -> tuple[str, ...]:
    """The names of the known tasks: the built-in ones, then those added, in order."""
    return tuple(_TASKS)


def check_new_task(task: Any, overwrite: bool = False) -> None:
    """Raise unless :func:`add_task` would accept ``task`` (changes nothing).

    Raises:
        ConfigError: ``task`` is no :class:`Task`, is a built-in name, or differs from the
            task already registered under its name (without ``overwrite``).
    """
    if not isinstance(task, Task):
        raise ConfigError(
            f"register_task needs a textgym.Task, got {type(task).__name__}; build one with "
            "Task(name, template, reward=..., fields=...)."
        )
    old = _TASKS.get(task.name)
    if old is None or old == task:
        return
    if task.name in BUILTIN_TASKS:
        raise ConfigError(
            f"Task {task.name!r} is built into textgym and cannot be replaced; give yours "
            "another name."
        )
    if not overwrite:
        raise ConfigError(
            f"A different task {task.name!r} is already registered; pick another name or "
            "pass overwrite=True to replace it."
        )


def add_task(task: Task, overwrite: bool = False) -> None:
    """Make ``task`` known by its name (an equal task already there is fine).

    Raises:
        ConfigError: see :func:`check_new_task`.
    """
    check_new_task(task, overwrite)
    if _TASKS.get(task.name) != task:
        _TASKS[task.name] = task


def remove_task(name: str) -> None:
    """Forget the added task ``name`` (for tests and notebooks); built-in tasks stay.

    Raises:
        ConfigError: ``name`` is a built-in task.
        UnknownNameError: no task is called ``name``.
    """
    if name in BUILTIN_TASKS:
        raise ConfigError(f"Task {name!r} is built into textgym and cannot be removed.")
    get_task(name)
    del _TASKS[name]
