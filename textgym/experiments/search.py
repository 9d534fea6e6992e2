"""Random or Bayesian (TPE) search over the sweep axes with Optuna, through the run store.

A trial is one configuration (a point of the axes), trained once per seed like any cell of
a grid; its objective is the mean over seeds of the held-out gain in ``rank_by``. Each
trial's settings are written to ``out/search.json`` before its runs start. A re-run replays
the recorded trials: finished ones are told to the study, unfinished ones get their missing
runs trained (their settings are never drawn again), then new trials are drawn until
``trials`` are recorded. Run folders encode the settings, so a point drawn twice reuses
its finished runs instead of training them again. Needs Optuna (``textgym[search]``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from textgym.atomic import write_json_atomic
from textgym.errors import ConfigError
from textgym.experiments.axes import Axis, Point, Range, setting_type
from textgym.experiments.config import CompareConfig, RunSpec
from textgym.experiments.grid import RUN_FILE, is_finished
from textgym.experiments.runner import run_pending

SEARCH_FILE = "search.json"


def import_optuna() -> Any:
    """Import Optuna, or raise a :class:`ConfigError` saying how to install it."""
    try:
        import optuna
    except ImportError as exc:
        raise ConfigError(
            "--search needs Optuna, which is not installed; install it with "
            "`pip install textgym[search]`, or sweep a grid (drop --search)."
        ) from exc
    return optuna


def run_search(config: CompareConfig) -> tuple[list[str], list[RunSpec]]:
    """Replay the recorded trials, then draw new ones until ``config.trials`` are recorded.

    Returns the names of the runs trained by this call and every recorded trial's runs.
    Stops early (trials stay recorded) once ``config.max_runs`` runs were trained.

    Raises:
        ConfigError: Optuna is missing, ``out`` holds a search over another space, or a
            drawn configuration is not a usable TrainConfig.
    """
    optuna = import_optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    state = load_state(config)
    sampler_class = optuna.samplers.RandomSampler if config.search == "random" else None
    sampler = (sampler_class or optuna.samplers.TPESampler)(seed=config.search_seed)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    spaces = {name: distribution(optuna, name, axis) for name, axis in config.axes.items()}
    runs = _Runs(config)
    for settings in state["trials"]:
        point = tuple(settings.items())
        if not runs.train(point):
            return runs.trained, _recorded_runs(config, state)
        trial = optuna.trial.create_trial(
            params=settings, distributions=spaces, value=objective(config, point)
        )
        study.add_trial(trial)
    while len(state["trials"]) < config.trials and runs.left > 0:
        trial = study.ask(spaces)
        point = tuple((name, trial.params[name]) for name in spaces)
        config.check_point(point)
        state["trials"].append(dict(point))
        write_json_atomic(Path(config.out) / SEARCH_FILE, state)
        if not runs.train(point):
            break
        study.tell(trial, objective(config, point))
    return runs.trained, _recorded_runs(config, state)


def load_state(config: CompareConfig) -> dict[str, Any]:
    """The recorded search of ``config.out``, or a new one.

    Raises:
        ConfigError: the record is of another search (space, sampler or its seed).
    """
    path = Path(config.out) / SEARCH_FILE
    fresh = {"search": config.search, "seed": config.search_seed, "space": describe(config)}
    if not path.is_file():
        return {**fresh, "trials": []}
    state = json.loads(path.read_text(encoding="utf-8"))
    recorded = {key: state.get(key) for key in fresh}
    if recorded != json.loads(json.dumps(fresh)):
        raise ConfigError(
            f"{path} records another search ({recorded}); this one is {fresh}. Resume with the "
            "recorded --search, --search-seed and --grid, or use a new --out."
        )
    return state


def describe(config: CompareConfig) -> dict[str, Any]:
    """The search space as JSON data: a list of values, or a range, per axis."""
    return {
        name: vars(axis) if isinstance(axis, Range) else list(axis)
        for name, axis in config.axes.items()
    }


def distribution(optuna: Any, name: str, axis: Axis) -> Any:
    """The Optuna distribution of one axis: categorical values, or an int/float range."""
    if not isinstance(axis, Range):
        return optuna.distributions.CategoricalDistribution(axis)
    if setting_type(name)[0] is int:
        return optuna.distributions.IntDistribution(int(axis.low), int(axis.high), log=axis.log)
    return optuna.distributions.FloatDistribution(axis.low, axis.high, log=axis.log)


def objective(config: CompareConfig, point: Point) -> float:
    """Mean over the point's seeds of the held-out gain in ``config.rank_by``."""
    gains = []
    for spec in config.runs(config.rewards[0], point):
        record = json.loads((spec.path / RUN_FILE).read_text(encoding="utf-8"))
        gains.append(record["trained"][config.rank_by] - record["initial"][config.rank_by])
    return sum(gains) / len(gains)


class _Runs:
    """Trains the runs of search points, at most ``max_runs`` in all (None: no limit)."""

    def __init__(self, config: CompareConfig) -> None:
        self.config = config
        self.left = sys.maxsize if config.max_runs is None else config.max_runs
        self.trained: list[str] = []

    def train(self, point: Point) -> bool:
        """Train the point's unfinished runs within the limit; whether all are finished now."""
        specs = self.config.runs(self.config.rewards[0], point)
        todo = [spec for spec in specs if not is_finished(spec)]
        records = run_pending(self.config, todo[: self.left])
        self.left -= len(records)
        self.trained += [r["run"] for r in records]
        return len(records) == len(todo)


def _recorded_runs(config: CompareConfig, state: dict[str, Any]) -> list[RunSpec]:
    return [
        spec
        for settings in state["trials"]
        for spec in config.runs(config.rewards[0], tuple(settings.items()))
    ]
