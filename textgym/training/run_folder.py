"""The output folder of ``textgym train``: a finished run is marked, an unfinished one cleaned.

A run writes its outputs one by one, each atomically: periodic evaluation's
(:data:`EVAL_OUTPUTS`) while it trains, the others (:data:`OUTPUTS`) when it ends, and
``train.json`` (:data:`DONE`) last: the run's id, its settings and the sha256 of every
output file. The folder holds a finished run only while ``train.json`` is there and every
hash matches (:func:`finished_run`); anything else, such as a run killed while saving or
the outputs of two runs side by side, is an unfinished set. Before a run trains,
:func:`recover_outputs`, :func:`start_run` and :func:`clear_previous`:

* finish or undo what an atomic write killed midway left (``.hf_model.*`` and the like; a
  folder moved away for its replacement is moved back);
* refuse to start a new run over the checkpoint of an unfinished one: resume it instead;
* remove what a previous run wrote, before a new run (a resumed run keeps its
  evaluations so far): the names below, which textgym writes, and an ``hf_model`` folder
  only while it holds nothing but what textgym wrote in it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

from textgym.atomic import check_replaceable, recover_interrupted, write_json_atomic
from textgym.errors import ConfigError
from textgym.training.checkpoints import checkpoint_folder, read_manifest, remove_checkpoint

DONE = "train.json"
# What periodic evaluation writes into a run's folder.
BEST_MODEL, EVAL_HISTORY = "best_model.zip", "eval_history.json"
OUTPUTS = ("ppo.zip", "hf_model", "reward_curve.png", "metrics.json")
EVAL_OUTPUTS = (BEST_MODEL, EVAL_HISTORY)


def settings_record(config: Any) -> dict[str, Any]:
    """A dataclass ``config`` as JSON data; a callable (e.g. an LR schedule) by its name."""
    return json.loads(json.dumps(asdict(config), default=_json_name))


def recover_outputs(out: Path) -> None:
    """Undo what atomic writes into ``out`` killed midway left (see ``recover_interrupted``)."""
    for name in (*OUTPUTS, *EVAL_OUTPUTS, DONE):
        recover_interrupted(out / name)
    recover_interrupted(checkpoint_folder(out))


def start_run(out: Path, resume: bool) -> str:
    """Check ``out`` can take a new or resumed run, and return the run's id; remove nothing.

    Raises:
        ConfigError: a new run over the checkpoint of an unfinished one, or a resumed run
            that is finished.
    """
    done, saved = finished_run(out), read_manifest(out)
    saved_is_done = done is not None and saved is not None and done.get("run_id") == saved["run_id"]
    if resume and saved_is_done:
        raise ConfigError(
            f"{out} holds a finished run ({DONE}): there is nothing to resume. Its results "
            f"are {out / 'metrics.json'} and its model {out / 'hf_model'}; to train more, "
            "start a new run with another --out."
        )
    if not resume and saved is not None and not saved_is_done:
        raise ConfigError(
            f"{out} holds the checkpoint of an unfinished run ({saved['num_timesteps']} of "
            f"{saved['config']['timesteps']} timesteps). Continue it with `textgym train "
            f"--resume {out}` and the same settings; or delete {checkpoint_folder(out).parent} "
            "to start over; or choose another --out."
        )
    return saved["run_id"] if resume else uuid.uuid4().hex


def clear_previous(out: Path, resume: bool) -> None:
    """Remove what an earlier run left in ``out``; call it after :func:`start_run`, to train.

    A new run removes all of a previous run's outputs (warning unless they were a finished
    run, which it replaces) and the checkpoint :func:`start_run` allowed (a finished run's).
    A resumed run removes what its interrupted save wrote and keeps its evaluations.

    Raises:
        ConfigError: an output folder holds files textgym did not write; nothing is removed.
    """
    if resume:
        clear_outputs(out, OUTPUTS, warn=True)
        return
    finished = finished_run(out) is not None
    clear_outputs(out, (*OUTPUTS, *EVAL_OUTPUTS), warn=not finished)
    remove_checkpoint(out)


def finished_run(out: Path) -> dict[str, Any] | None:
    """The ``train.json`` record of ``out`` if every output file matches it, else None."""
    try:
        record = json.loads((out / DONE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("files") != output_hashes(out):
        return None
    return record


def output_hashes(out: Path) -> dict[str, str]:
    """sha256 of every output file in ``out``, by POSIX path relative to ``out``."""
    files = []
    for name in (*OUTPUTS, *EVAL_OUTPUTS):
        path = out / name
        files += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return {p.relative_to(out).as_posix(): _sha256(p) for p in files if p.is_file()}


def clear_outputs(out: Path, outputs: tuple[str, ...], warn: bool) -> None:
    """Remove ``train.json`` and ``outputs`` from ``out``; ``warn`` names what went.

    Raises:
        ConfigError: an output folder holds files textgym did not write; nothing is removed.
    """
    present = [n for n in (DONE, *outputs) if (out / n).exists() or (out / n).is_symlink()]
    folders = [out / n for n in present if (out / n).is_dir() and not (out / n).is_symlink()]
    for folder in folders:
        check_replaceable(folder)
    for name in present:
        if out / name in folders:
            shutil.rmtree(out / name)
        else:
            (out / name).unlink()
    if not present or not warn:
        return
    warnings.warn(
        f"{out} held {', '.join(present)} of an unfinished run (or of different runs) without "
        f"a {DONE} marking them as one finished run; textgym removed them before training.",
        stacklevel=2,
    )


def finish_run(out: Path, run_id: str, settings: dict[str, Any]) -> Path:
    """Write ``train.json`` (after every output), then remove the run's checkpoint."""
    record = {
        "about": "textgym train finished this run; its outputs are the files below, with "
        "their sha256. A missing or changed file means they are not one finished run.",
        "run_id": run_id,
        "config": settings,
        "files": output_hashes(out),
    }
    path = write_json_atomic(out / DONE, record)
    remove_checkpoint(out)
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _json_name(value: Any) -> str:
    """JSON stand-in for a setting JSON lacks: a path as such, else a qualified name."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    kind = value if hasattr(value, "__qualname__") else type(value)
    return f"{kind.__module__}.{kind.__qualname__}"
