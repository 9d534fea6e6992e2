"""The grid on disk: which runs are finished, which are pending, and resuming safely.

A run is finished when its ``run.json`` exists; it is written last and atomically, so a run
killed at any moment is either finished (and never trained again) or pending (and restarted
from scratch). ``compare.json`` records the settings the grid holds equal, so a re-run with
different settings cannot mix incomparable runs in one report.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from textgym.atomic import write_text_atomic
from textgym.errors import ConfigError
from textgym.experiments.config import CompareConfig, RunSpec

RUN_FILE = "run.json"
SETTINGS_FILE = "compare.json"


def is_finished(spec: RunSpec) -> bool:
    """Whether ``spec``'s results are on disk."""
    return (spec.path / RUN_FILE).is_file()


def pending_runs(config: CompareConfig) -> list[RunSpec]:
    """The planned runs without results, in plan order."""
    return [spec for spec in config.plan() if not is_finished(spec)]


def clear_unfinished(spec: RunSpec) -> None:
    """Delete what an interrupted attempt of ``spec`` left, so it restarts from scratch."""
    if spec.path.exists() and not is_finished(spec):
        shutil.rmtree(spec.path)


def to_jsonable(value: Any) -> Any:
    """``value`` as plain JSON data (paths and other objects become strings)."""
    return json.loads(json.dumps(value, default=str))


def check_settings(config: CompareConfig) -> None:
    """Record the shared settings in ``out/compare.json``, or check they match the record.

    Raises:
        ConfigError: ``out`` holds a grid trained with different shared settings.
    """
    path = Path(config.out) / SETTINGS_FILE
    settings = to_jsonable(config.shared_settings())
    if path.is_file():
        recorded = json.loads(path.read_text(encoding="utf-8"))
        changed = sorted(
            k for k in settings.keys() | recorded.keys() if settings.get(k) != recorded.get(k)
        )
        if changed:
            detail = ", ".join(f"{k}: {recorded.get(k)!r} -> {settings.get(k)!r}" for k in changed)
            raise ConfigError(
                f"{config.out} holds runs trained with other settings ({detail}); runs in one "
                "comparison must differ only in reward and seed. Use the recorded settings to "
                "resume, or a new --out for the new settings."
            )
        return
    write_text_atomic(path, json.dumps(settings, indent=1, sort_keys=True))


def load_finished(out: str | Path) -> list[dict[str, Any]]:
    """Every finished run's record under ``out/runs``, sorted by reward then seed."""
    records = [
        json.loads(path.read_text(encoding="utf-8"))
        for path in Path(out).glob(f"runs/*/{RUN_FILE}")
    ]
    return sorted(records, key=lambda r: (r["reward"], r["seed"]))
