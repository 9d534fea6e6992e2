"""The grid on disk: which runs are finished, which are pending, and resuming safely.

A run is finished when its ``run.json`` exists; it is written last and atomically, so a run
killed at any moment is either finished (and never trained again) or pending (and restarted
from scratch). ``compare.json`` records the settings the grid holds equal, so a re-run with
different settings cannot mix incomparable runs in one report; while no run is finished
there is nothing to mix, and a re-run records its own settings instead.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from textgym.atomic import temp_prefix, write_text_atomic
from textgym.errors import ConfigError
from textgym.experiments.config import CompareConfig, RunSpec

RUN_FILE = "run.json"
# What job.run_job and training.train write into a run's folder.
RUN_OUTPUTS = (
    "manifest.json",
    "metrics.json",
    "reward_curve.png",
    "ppo.zip",
    "hf_model",
    "tensorboard",
    "train.json",
    "checkpoints",
    "best_model.zip",
    "eval_history.json",
    RUN_FILE,
)
SETTINGS_FILE = "compare.json"


def is_finished(spec: RunSpec) -> bool:
    """Whether ``spec``'s results are on disk."""
    return (spec.path / RUN_FILE).is_file()


def pending_runs(config: CompareConfig) -> list[RunSpec]:
    """The planned runs without results, in plan order."""
    return [spec for spec in config.plan() if not is_finished(spec)]


def clear_unfinished(spec: RunSpec) -> None:
    """Delete what an interrupted attempt of ``spec`` left, so it restarts from scratch.

    Raises:
        ConfigError: the run's folder holds files a run does not write; nothing is deleted.
    """
    if not spec.path.exists() or is_finished(spec):
        return
    foreign = sorted(p.name for p in spec.path.iterdir() if not is_run_output(p.name))
    if foreign:
        raise ConfigError(
            f"{spec.path} holds files a run does not write ({', '.join(foreign[:5])}), so "
            "textgym will not delete the folder to restart the run. Move those files "
            "elsewhere, or use a new --out."
        )
    shutil.rmtree(spec.path)


def is_run_output(name: str) -> bool:
    """Whether ``name`` in a run folder is written by a run (or is its temporary copy)."""
    return name in RUN_OUTPUTS or name.startswith(tuple(temp_prefix(o) for o in RUN_OUTPUTS))


def to_jsonable(value: Any) -> Any:
    """``value`` as plain JSON data (paths and other objects become strings)."""
    return json.loads(json.dumps(value, default=str))


def check_settings(config: CompareConfig) -> None:
    """Record the shared settings in ``out/compare.json``, or check they match the record.

    The record is only binding once a run is finished: before that (e.g. after a first
    attempt failed) it is replaced by ``config``'s settings.

    Raises:
        ConfigError: ``out`` holds finished runs trained with different shared settings.
    """
    path = Path(config.out) / SETTINGS_FILE
    settings = to_jsonable(config.shared_settings())
    if path.is_file() and load_finished(config.out):
        recorded = json.loads(path.read_text(encoding="utf-8"))
        changed = sorted(
            k for k in settings.keys() | recorded.keys() if settings.get(k) != recorded.get(k)
        )
        if changed:
            detail = ", ".join(f"{k}: {recorded.get(k)!r} -> {settings.get(k)!r}" for k in changed)
            raise ConfigError(
                f"{config.out} holds runs trained with other settings ({detail}); runs in one "
                "comparison must differ only in reward, seed and sweep axes. Use the recorded "
                "settings to resume, or a new --out for the new settings."
            )
        return
    write_text_atomic(path, json.dumps(settings, indent=1, sort_keys=True))


def load_finished(out: str | Path) -> list[dict[str, Any]]:
    """Every finished run's record under ``out/runs``, sorted by configuration then seed."""
    records = [
        json.loads(path.read_text(encoding="utf-8"))
        for path in Path(out).glob(f"runs/*/{RUN_FILE}")
    ]
    return sorted(records, key=lambda r: (r.get("cell", r["reward"]), r["seed"]))
