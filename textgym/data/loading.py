"""Load a dataset for a task and normalise each row to an :class:`Example`."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from textgym.data.example import Example
from textgym.data.sources import resolve_rows
from textgym.errors import ConfigError, DatasetError, did_you_mean
from textgym.tasks import Task, get_task

Spec = dict[str, tuple[str, ...]]
_PROMPT_ONLY = (
    " The reward scores against references; a prompt-only dataset needs one that reads "
    "none: rm:PATH (a reward model), perplexity, LengthPenalty(target_words=N), "
    "EmbeddingSimilarity(against='source')."
)


def fields_fix(key: str) -> str:
    """How to name the column of field ``key``: in Python and on the command line."""
    return (
        f"fields={{{key!r}: 'COLUMN'}} in Python, or "
        f'--env-kwargs \'{{"fields": {{"{key}": "COLUMN"}}}}\' on the command line'
    )


def load_examples(
    dataset: Any = None,
    *,
    task: str,
    split: str = "train",
    fields: Mapping[str, str] | None = None,
    limit: int | None = None,
    needs_references: bool = True,
) -> list[Example]:
    """Load a dataset and normalise its rows to :class:`Example` records.

    Args:
        dataset: Where the rows come from: ``None`` for the task's shipped default
            (``textgym/data/default/{task}_{split}.jsonl``, built-in tasks only); a path (``str`` or
            ``os.PathLike``) to a ``.jsonl``/``.json`` (JSON Lines) or ``.csv`` file
            (``split`` is ignored); a sequence of dicts; a ``datasets.Dataset`` or
            ``DatasetDict`` (``split`` is picked); or a Hugging Face hub dataset name
            (needs internet).
        task: A task name: ``"summarize"``, ``"dialogue"``, ``"translate"`` or one added
            with :func:`textgym.register_task`.
        split: The split to read: ``"train"``, ``"validation"`` or ``"test"`` for defaults.
        fields: Column names overriding the task's (:attr:`textgym.Task.fields`), keyed by
            ``id``, ``source``, ``reference`` and the task's other fields, e.g. ``context``
            (dialogue turns; ``source`` is accepted as its alias), ``src_lang`` and
            ``tgt_lang`` (translate).
        limit: Keep only the first ``limit`` rows (at least 1); ``None`` keeps all.
        needs_references: False loads prompt-only rows: a row without a reference column
            gets ``references=()`` (for rewards that read none, see
            :func:`textgym.rewards.needs_references`). A reference column that is present
            is still checked.

    Returns:
        The examples, in dataset order.

    Raises:
        UnknownNameError: If ``task`` (or the split of a default dataset) is unknown.
        ConfigError: If ``fields`` or ``limit`` is invalid.
        DatasetError: If the dataset cannot be read, is empty, or a row lacks a field or
            holds an empty or non-string text (the message names the row and the fix); or
            ``dataset`` is None for a task that ships no data (the message lists its fields).

    """
    spec = get_task(task)
    columns, explicit = _field_spec(spec, fields)
    _check_limit(limit)
    if dataset is None and not spec.ships_data:
        raise DatasetError(_no_data(spec, columns, needs_references))
    rows, described = resolve_rows(dataset, spec.name, split)
    examples = [
        _to_example(_Where(row, index, described, explicit), spec, columns, needs_references)
        for index, row in enumerate(itertools.islice(rows, limit))
    ]
    if not examples:
        raise DatasetError(
            f"The dataset ({described}) has no rows. Pass a dataset with at least one example."
        )
    return examples


def _field_spec(task: Task, fields: Mapping[str, str] | None) -> tuple[Spec, frozenset[str]]:
    """Merge ``fields`` into the task's columns; return the spec and the overridden keys."""
    spec = dict(task.fields)
    fields = dict(fields or {})
    if task.kind == "dialogue" and "source" in fields and "context" not in fields:
        fields["context"] = fields.pop("source")
    for key, column in fields.items():
        if key not in spec:
            raise ConfigError(
                f"fields has unknown key {key!r} for task {task.name!r}."
                f"{did_you_mean(key, spec)} Valid keys: {', '.join(spec)}."
            )
        if not isinstance(column, str) or not column:
            raise ConfigError(
                f"fields[{key!r}] must be a column name (a non-empty string), got {column!r}."
            )
        spec[key] = (column,)
    return spec, frozenset(fields)


def _check_limit(limit: int | None) -> None:
    """Raise unless ``limit`` is None or an int of at least 1."""
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise ConfigError(
            f"limit must be a whole number of at least 1 (or None for all rows), got {limit!r}; "
            "a limit below 1 would leave the dataset empty."
        )


def _no_data(task: Task, spec: Spec, needs_references: bool) -> str:
    """The message for ``dataset=None`` on a task without shipped data: the fields it needs."""
    required = task.required_fields(needs_references)
    optional = [key for key in spec if key not in required]

    def listed(keys: Sequence[str]) -> str:
        return ", ".join(f"{key} (column {' or '.join(map(repr, spec[key]))})" for key in keys)

    return (
        f"Task {task.name!r} ships no default data: pass dataset= (a .jsonl/.json/.csv path, "
        f"a list of dicts, a datasets.Dataset or a hub name) whose rows have {listed(required)}"
        f"{'; optional: ' + listed(optional) if optional else ''}. Other column names: "
        f"{fields_fix('<field>')}."
    )


def _to_example(where: _Where, task: Task, spec: Spec, needs_references: bool) -> Example:
    """Normalise the row ``where`` of ``task`` to an :class:`Example`."""
    if isinstance(where.row, Example):
        return where.row
    if not isinstance(where.row, Mapping):
        raise DatasetError(
            f"Row {where.index} of {where.described} is a {type(where.row).__name__}, not a "
            'dict. Pass rows as dicts, e.g. {"source": "...", "reference": "..."}.'
        )
    row_id = _row_id(where, spec["id"])
    no_refs = not needs_references and where.find("reference", spec["reference"]) is None
    if task.kind == "dialogue":
        turns = _turns(where, spec["context"])
        refs = () if no_refs else _dialogue_references(where, spec["reference"])
        return Example(row_id, "\n".join(turns), refs, turns=turns, meta=_meta(where, task, spec))
    source = where.text("source", *where.pick("source", spec["source"]))
    refs = () if no_refs else _references(where, *where.pick("reference", spec["reference"]))
    return Example(row_id, source, refs, meta=_meta(where, task, spec))


def _meta(where: _Where, task: Task, spec: Spec) -> dict[str, str]:
    """Read the task's extra fields; one with a default in the task may be absent."""
    meta: dict[str, str] = {}
    for key in task.meta_keys:
        if key in task.meta_defaults:
            found = where.find(key, spec[key])
        else:
            found = where.pick(key, spec[key])
        if found is not None:
            meta[key] = where.text(key, *found)
    return meta


class _Where:
    """One row being normalised; its methods raise errors that name the row."""

    def __init__(self, row: Any, index: int, described: str, explicit: frozenset[str]) -> None:
        self.row, self.index, self.described, self.explicit = row, index, described, explicit

    def pick(self, key: str, columns: tuple[str, ...]) -> tuple[str, Any]:
        """Return ``(column, value)`` of the first of ``columns`` present; raise if none is."""
        for column in columns:
            if column in self.row:
                return column, self.row[column]
        tried = ", ".join(repr(c) for c in columns)
        present = ", ".join(repr(str(c)) for c in self.row) or "(none)"
        raise DatasetError(
            f"Row {self.index} of {self.described} has no {key!r} field (tried {tried}); "
            f"its columns are {present}. Say which column holds it: {fields_fix(key)}."
            f"{_PROMPT_ONLY if key == 'reference' else ''}"
        )

    def find(self, key: str, columns: tuple[str, ...]) -> tuple[str, Any] | None:
        """Like :meth:`pick` for an optional field: None if absent and not named in fields."""
        if key in self.explicit or any(column in self.row for column in columns):
            return self.pick(key, columns)
        return None

    def text(self, key: str, column: str, value: Any) -> str:
        """Return ``value`` if it is a non-empty string, else raise naming the row and column."""
        if not isinstance(value, str):
            raise DatasetError(
                f"Row {self.index} of {self.described}: {key} column {column!r} must hold a "
                f"string, got {type(value).__name__} {value!r:.60}. Fix or drop that row, or "
                f"read another column: {fields_fix(key)}."
            )
        if not value.strip():
            raise DatasetError(
                f"Row {self.index} of {self.described}: {key} column {column!r} is empty. "
                "Every example needs a non-empty text there: fill in or drop that row."
            )
        return value


def _row_id(where: _Where, columns: tuple[str, ...]) -> str:
    """Return the row's id as a string, or its index when it has none."""
    found = where.find("id", columns)
    if found is None or found[1] is None or str(found[1]) == "":
        return str(where.index)
    return str(found[1])


def _references(where: _Where, column: str, value: Any) -> tuple[str, ...]:
    """Return a reference value (a string or a list of strings) as a non-empty tuple."""
    if isinstance(value, (list, tuple)):
        if not value:
            raise DatasetError(
                f"Row {where.index} of {where.described}: reference column {column!r} is an "
                "empty list. Give at least one reference text, or drop that row."
            )
        return tuple(where.text("reference", column, item) for item in value)
    return (where.text("reference", column, value),)


def _dialogue_references(where: _Where, columns: tuple[str, ...]) -> tuple[str, ...]:
    """Return dialogue references; ``reference`` first, then ``references`` without repeats."""
    refs = _references(where, *where.pick("reference", columns))
    if "reference" not in where.explicit and {"reference", "references"} <= where.row.keys():
        single = _references(where, "reference", where.row["reference"])
        refs = tuple(dict.fromkeys(single + refs))
    return refs


def _turns(where: _Where, columns: tuple[str, ...]) -> tuple[str, ...]:
    """Return the dialogue turns, oldest first (a string is split on newlines)."""
    column, value = where.pick("context", columns)
    if isinstance(value, str):
        value = [line for line in where.text("context", column, value).splitlines() if line.strip()]
    if not isinstance(value, (list, tuple)) or not value:
        raise DatasetError(
            f"Row {where.index} of {where.described}: context column {column!r} must hold a "
            f"non-empty list of turns (strings, oldest first), got {value!r:.60}. Fix or drop "
            f"that row, or read another column: {fields_fix('context')}."
        )
    return tuple(where.text("context", column, turn) for turn in value)
