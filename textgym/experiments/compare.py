"""``compare``: run the comparison grid or search (resuming a previous attempt) and report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textgym.atomic import check_output_folder
from textgym.errors import ConfigError, DatasetError
from textgym.experiments.config import CompareConfig, RunSpec
from textgym.experiments.grid import check_settings, load_finished, pending_runs
from textgym.experiments.job import make_env
from textgym.experiments.report import build_report
from textgym.experiments.runner import check_backend, run_pending
from textgym.experiments.search import import_optuna, run_search
from textgym.output_lock import locked
from textgym.rewards import make_reward
from textgym.training import make_eval_env


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
    """Train every run of ``config`` not finished yet, then rebuild the report.

    A grid trains every (reward, sweep point, seed); a search (``config.search``) draws
    ``config.trials`` sweep points (see :mod:`textgym.experiments.search`).

    If a run fails, no new run starts; the report is rebuilt from the finished runs and
    the error is raised. Calling again resumes. ``out`` is locked while this runs (see
    :mod:`textgym.output_lock`), so a second ``compare`` on it fails at once.

    Bad input fails before ``compare.json`` or a run is written: the settings, the rewards,
    the backend (Ray's address, the GPUs), ``out``, and (when a run is pending) the env,
    dataset and fields, built once on both splits.

    Raises:
        ConfigError: an unusable setting, an unknown reward, Ray missing for
            ``backend="ray"`` or its address not answering, ``gpus_per_run`` GPUs not found
            (on this machine, or on any node of the Ray cluster), Optuna missing for a
            search, ``out`` not a writable folder, or ``out`` holding finished runs made with
            other shared settings.
        DatasetError: the dataset is missing, empty or lacks a field.
        OutputInUseError: another ``compare`` is running on ``out``.
    """
    config.validate()
    for reward in config.rewards:
        make_reward(reward)  # unknown names fail now, with a suggestion, not mid-grid
    if config.search is not None:
        import_optuna()
    check_backend(config)  # Ray's address and the GPUs, before out is created
    check_output_folder(config.out, "--out")
    with locked(config.out):
        return _run_grid(config)


def _run_grid(config: CompareConfig) -> CompareResult:
    """Train the pending runs of ``config`` and rebuild the report (``out`` is locked)."""
    done_before = {r["run"] for r in load_finished(config.out)}
    todo = [] if config.search else pending_runs(config)
    if todo or config.search:
        check_envs(config, todo[0] if todo else config.runs(config.rewards[0], ())[0])
    check_settings(config)
    try:
        trained, plan = _train(config, todo)
    except Exception:
        if load_finished(config.out):
            report(config.out, rank_by=config.rank_by)  # finished runs stay reported
        raise
    records = load_finished(config.out)
    finished = {r["run"] for r in records}
    return CompareResult(
        records=records,
        trained=trained,
        skipped=[s.name for s in plan if s.name in done_before],
        pending=[s.name for s in plan if s.name not in finished],
        files=report(config.out, records, config.rank_by),
    )


def _train(config: CompareConfig, todo: list[RunSpec]) -> tuple[list[str], list[RunSpec]]:
    """Train a search, or the grid's ``todo`` runs; return the runs trained and the plan."""
    if config.search:
        return run_search(config)
    limit = len(todo) if config.max_runs is None else config.max_runs
    return [r["run"] for r in run_pending(config, todo[:limit])], config.plan()


def check_envs(config: CompareConfig, spec: RunSpec) -> None:
    """Build ``spec``'s training and held-out envs, as its run will.

    Raises:
        ConfigError: the env cannot be built with these settings.
        DatasetError: the dataset or the eval dataset is missing, empty or lacks a field.
    """
    train_config = config.train_config(spec)
    make_env(train_config, "train")
    make_eval_env(train_config)
    if config.check_dataset is not None:
        try:
            make_eval_env(config.check_train_config(spec))
        except DatasetError as exc:
            text = str(exc).replace("eval_dataset=", "check_dataset=")
            raise DatasetError(text.replace("--eval-dataset", "--check-dataset")) from exc


def report(
    out: str | Path, records: list[dict[str, Any]] | None = None, rank_by: str = "own_reward"
) -> dict[str, str]:
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
    return build_report(out, records, rank_by)
