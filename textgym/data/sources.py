"""Turn whatever a user passes as ``dataset`` into rows (mappings) and a short description."""

from __future__ import annotations

import importlib.resources
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from textgym.data.files import FILE_SUFFIXES, read_rows
from textgym.errors import DatasetError, unknown_name

#: The splits every task ships a default file for.
SPLITS = ("train", "validation", "test")

Rows = Iterable[Mapping[str, Any]]


def resolve_rows(dataset: Any, task: str, split: str) -> tuple[Rows, str]:
    """Return the rows of ``dataset`` and a description of it for error messages.

    Args:
        dataset: ``None`` (the task's shipped default), a file path, a Hugging Face hub
            name, a ``datasets.Dataset``/``DatasetDict`` or a sequence of dicts.
        task: The task name (already validated).
        split: The split to read for defaults, dataset dicts and hub datasets.

    Returns:
        ``(rows, description)``; rows may be lazy (a ``datasets.Dataset``).

    Raises:
        DatasetError: If the input cannot be read (see the message for the fix).

    """
    if dataset is None:
        return _default_rows(task, split)
    if isinstance(dataset, os.PathLike):
        return read_rows(dataset), repr(os.fspath(dataset))
    if isinstance(dataset, str):
        if os.path.isdir(os.path.expanduser(dataset)):  # a dataset repo's files, kept locally
            path = os.path.expanduser(dataset)
            return _hub_rows(path, split), f"dataset folder {dataset!r} (split {split!r})"
        if os.path.exists(dataset) or looks_like_path(dataset.partition("@")[0]):
            return read_rows(os.path.expanduser(dataset)), repr(dataset)
        return _hub_rows(dataset, split), f"hub dataset {dataset!r} (split {split!r})"
    hf_rows = _hf_rows(dataset, split)
    if hf_rows is not None:
        return hf_rows
    if isinstance(dataset, Sequence) and not isinstance(dataset, (bytes, bytearray)):
        return dataset, f"the {type(dataset).__name__} passed"
    raise DatasetError(
        f"Cannot read a dataset from a {type(dataset).__name__}. Pass a .jsonl/.json/.csv "
        "path, a list of dicts, a datasets.Dataset/DatasetDict or a Hugging Face hub name."
    )


def looks_like_path(name: str) -> bool:
    """Return whether ``name`` is meant as a local path rather than a hub dataset name.

    Hub names are ``name`` or ``owner/name``, so a single ``/`` alone does not make a path;
    a known file suffix, a leading ``.``/``~``/``/``, a backslash or two ``/`` do.
    """
    return (
        Path(name).suffix.lower() in FILE_SUFFIXES
        or name.startswith((".", "~", "/"))
        or "\\" in name
        or name.count("/") > 1
    )


def default_path(task: str, split: str) -> Path:
    """Return the path of the shipped default file for ``task`` and ``split``."""
    if split not in SPLITS:
        raise unknown_name("split", split, SPLITS, "Default datasets exist for these splits.")
    root = importlib.resources.files("textgym.data") / "default"
    return Path(str(root / f"{task}_{split}.jsonl"))


def _default_rows(task: str, split: str) -> tuple[Rows, str]:
    """Read the task's shipped default file for ``split``."""
    path = default_path(task, split)
    if not path.is_file():
        raise DatasetError(
            f"The default {task!r} dataset for split {split!r} is missing ({str(path)!r}). "
            "Reinstall textgym, or pass your own dataset (a .jsonl/.csv path or a list of dicts)."
        )
    return read_rows(path), f"the default {task} {split} dataset"


def _hf_rows(dataset: Any, split: str) -> tuple[Rows, str] | None:
    """Return the rows of a ``datasets`` object (picking ``split`` of a dict), else None."""
    hf = sys.modules.get("datasets")  # no import: if it is not loaded, this is no HF object
    if hf is None:
        return None
    if isinstance(dataset, (hf.DatasetDict, hf.IterableDatasetDict)):
        if split not in dataset:
            splits = ", ".join(repr(s) for s in dataset) or "(none)"
            raise DatasetError(
                f"The DatasetDict has no split {split!r}; its splits are {splits}. "
                "Pass split=<one of those>."
            )
        return dataset[split], f"split {split!r} of the DatasetDict"
    if isinstance(dataset, (hf.Dataset, hf.IterableDataset)):
        return dataset, f"the {type(dataset).__name__}"
    return None


def hub_id(name: str) -> tuple[str, str | None, str | None]:
    """``"owner/name[:config][@revision]"`` -> ``(owner/name, config, revision)``.

    ``abisee/cnn_dailymail:3.0.0`` names a configuration; ``@`` a git revision (a commit
    hash, tag or branch) so that a result names exactly the rows it used.
    """
    path, _, revision = name.partition("@")
    path, _, config = path.partition(":")
    if not path or (":" in name and not config) or ("@" in name and not revision):
        raise DatasetError(
            f"{name!r} is not a dataset id; use NAME, NAME:CONFIG or NAME:CONFIG@REVISION, "
            "e.g. 'abisee/cnn_dailymail:3.0.0'."
        )
    return path, config or None, revision or None


def _hub_rows(name: str, split: str) -> Rows:
    """Load ``split`` of a Hugging Face hub dataset (see :func:`hub_id`) or dataset folder.

    A folder holding a dataset repo's files (``train.jsonl``, ``data/test-*.parquet``, ...)
    loads through the same ``datasets.load_dataset`` call as a hub id, offline.
    """
    try:
        import datasets
    except ImportError as exc:
        raise DatasetError(
            f"{name!r} is not an existing file, so it was taken as a Hugging Face hub dataset, "
            "which needs the 'datasets' package: pip install 'textgym[datasets]'. "
            "A local JSONL/CSV path works without it."
        ) from exc
    path, config, revision = (name, None, None) if os.path.isdir(name) else hub_id(name)
    try:
        return datasets.load_dataset(path, config, split=split, revision=revision)
    except Exception as exc:  # noqa: BLE001 - any failure gets the same advice
        if os.path.isdir(name):
            raise DatasetError(
                f"Could not load split {split!r} of the dataset folder {name!r}: "
                f"{type(exc).__name__}: {exc}. A folder needs a dataset's data files, named "
                "by split (train.jsonl, data/test-*.parquet, ...)."
            ) from exc
        raise DatasetError(
            f"Could not load Hugging Face hub dataset {name!r} (split {split!r}): "
            f"{type(exc).__name__}: {exc}. Hub datasets need internet access (and the name "
            "must exist there); a local JSONL/CSV path works offline. If you meant a local "
            "file, it does not exist at that path."
        ) from exc
