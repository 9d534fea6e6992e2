"""``compare``: run the reward-comparison grid (resuming a previous attempt) and report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textgym.atomic import check_output_folder
from textgym.errors import ConfigError
from textgym.experiments.config import CompareConfig, RunSpec
from textgym.experiments.grid import check_settings, load_finished, pending_runs
from textgym.experiments.job import make_env
from textgym.experiments.lock import locked
from textgym.experiments.report import build_report
from textgym.experiments.runner import import_ray, run_pending
from textgym.rewards import make_reward


@dataclass
class CompareResult:
    """What a call to :func:`compare` did and where the results are.

    Attributes:
        records: Every finished run's record under ``out`` (this call's and earlier ones').
        trained: Names of the runs trained by this call.
        skipped: Names of the planned runs found finished and not trained again.
        pending: Names of the planned runs still unfinished (``max_runs`` stopped early).
        files: ``results.csv``, ``results.json``, ``report.md`` and the plots (key -> path).
    """

    records: list[dict[str, Any]]
    trained: list[str]
    skipped: list[str]
    pending: list[str]
    files: dict[str, str]


def compare(config: CompareConfig) -> CompareResult:
    """Train every (reward, seed) of ``config`` not finished yet, then rebuild the report.

    If a run fails, no new run starts; the report is rebuilt from the finished runs and
    the error is raised. Calling again resumes. ``out`` is locked while this runs (see
    :mod:`textgym.experiments.lock`), so a second ``compare`` on it fails at once.

    Bad input fails before ``compare.json`` or a run is written: the settings, ``out``, the
    rewards, and (when a run is pending) the env, dataset and fields, built once on both
    splits.

    Raises:
        ConfigError: an unusable setting, an unknown reward, Ray missing for
            ``backend="ray"``, ``out`` not a writable folder, or ``out`` holding finished
            runs made with other shared settings.
        DatasetError: the dataset is missing, empty or lacks a field.
        OutputInUseError: another ``compare`` is running on ``out``.
    """
    config.validate()
    check_output_folder(config.out, "--out")
    for reward in config.rewards:
        make_reward(reward)  # unknown names fail now, with a suggestion, not mid-grid
    if config.backend == "ray":
        import_ray()
    with locked(config.out):
        return _run_grid(config)


def _run_grid(config: CompareConfig) -> CompareResult:
    """Train the pending runs of ``config`` and rebuild the report (``out`` is locked)."""
    plan = config.plan()
    todo = pending_runs(config)
    if todo:
        check_envs(config, todo[0])
    check_settings(config)
    limit = len(todo) if config.max_runs is None else config.max_runs
    try:
        trained = [r["run"] for r in run_pending(config, todo[:limit])]
    except Exception:
        if load_finished(config.out):
            report(config.out)  # what finished before the failure stays reported
        raise
    records = load_finished(config.out)
    finished = {r["run"] for r in records}
    return CompareResult(
        records=records,
        trained=trained,
        skipped=[s.name for s in plan if s not in todo],
        pending=[s.name for s in plan if s.name not in finished],
        files=report(config.out, records),
    )


def check_envs(config: CompareConfig, spec: RunSpec) -> None:
    """Build ``spec``'s env on the train and eval splits, as its run will.

    Raises:
        ConfigError: the env cannot be built with these settings.
        DatasetError: the dataset is missing, empty or lacks a field.
    """
    train_config = config.train_config(spec)
    for split in dict.fromkeys(("train", train_config.eval_split)):
        make_env(train_config, split)


def report(out: str | Path, records: list[dict[str, Any]] | None = None) -> dict[str, str]:
    """Rebuild the report of ``out`` from its finished runs (all of them by default).

    Raises:
        ConfigError: ``out`` has no finished run yet.
    """
    records = load_finished(out) if records is None else records
    if not records:
        raise ConfigError(
            f"No finished run under {out}/runs (a run is finished when its run.json exists); "
            "run the comparison first, or check --out."
        )
    return build_report(out, records)
