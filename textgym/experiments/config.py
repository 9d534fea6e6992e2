"""What a comparison is: one base training config, the rewards, seeds and settings to vary."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from textgym.errors import ConfigError, unknown_name
from textgym.experiments.axes import (
    Axis,
    Point,
    check_axes,
    format_value,
    grid_points,
    point_label,
)
from textgym.experiments.metrics import rankable
from textgym.training import TrainConfig

BACKENDS = ("local", "ray")
SEARCHES = ("random", "tpe")
MIN_GPU_SHARE = 1e-4  # Ray's resolution for fractional resources
# TrainConfig fields a comparison sets per run; every other field but the axes is held equal.
VARIED = ("reward", "seed", "out")


@dataclass(frozen=True)
class RunSpec:
    """One run: a reward, the sweep settings (``(name, value)`` pairs), a seed, a folder."""

    reward: str
    seed: int
    path: Path
    settings: Point = ()

    @property
    def name(self) -> str:
        """The run's folder name, ``<reward>[__<setting>=<value>...]__seed<k>``."""
        return self.path.name

    @property
    def cell(self) -> str:
        """What the run's seeds share: ``<reward>`` and its settings (see :func:`cell_label`)."""
        return cell_label(self.reward, self.settings)


def cell_label(reward: str, settings: Point) -> str:
    """``rouge1`` or ``rouge1 (learning_rate=1e-05, kl_coef=0.05)``: a configuration's name."""
    return f"{reward} ({point_label(settings)})" if settings else reward


def run_name(reward: str, settings: Point, seed: int) -> str:
    """The folder of a run: ``<reward>__<setting>=<value>...__seed<k>``."""
    parts = [safe_name(reward), *(f"{k}={format_value(v)}" for k, v in settings), f"seed{seed}"]
    return "__".join(parts)


@dataclass
class CompareConfig:
    """A comparison: train ``base`` once per (reward, sweep point, seed), all else held equal.

    Args:
        rewards: Reward names to compare (see :func:`textgym.rewards.list_rewards`).
        seeds: The seeds every configuration is trained with.
        base: The training settings shared by every run; its ``reward``, ``seed``, ``out``
            and the ``grid`` settings are replaced per run.
        out: Output folder; a run writes into ``out/runs/<its run_name>/``.
        workers: Runs trained at the same time (local processes or Ray tasks).
        backend: ``"local"`` (processes on this machine) or ``"ray"`` (Ray tasks).
        max_runs: Train at most this many pending runs in this call, then build the report
            (None: all). Useful to spread a grid over several sessions.
        keep_models: Keep each run's saved weights (``ppo.zip``, ``hf_model/``,
            ``best_model.zip``); False deletes them once the run is evaluated (a 135M model
            is about 1 GB per run).
        grid: Sweep axes, setting name -> values (every combination is trained) or, with
            ``search``, a :class:`~textgym.experiments.axes.Range` (see
            :mod:`textgym.experiments.axes`).
        search: ``"random"`` or ``"tpe"`` (Bayesian, Optuna's TPE): train ``trials``
            configurations drawn from ``grid`` instead of all of them (needs Optuna).
        trials: Configurations a search trains.
        search_seed: Seeds the search's sampler.
        rank_by: The metric whose held-out gain ranks the configurations (and which a
            search maximises).
        gpus_per_run: GPUs reserved for each run (0: none, runs use what ``base.device``
            says). With ``backend="local"`` a whole number (each worker gets its own GPUs)
            or 1/k (0.5, 0.25, ...: k workers share each GPU); with ``"ray"`` any fraction
            below 1 or a whole number (Ray's ``num_gpus``). A run trains on one device: more
            than one GPU per run only reserves them. Not a shared setting: it changes where
            runs train, not their results (see :mod:`textgym.experiments.gpus`).
        ray_address: The Ray cluster to run on (``HOST:6379``, the address ``ray start
            --head`` prints; ``ray://HOST:10001`` for Ray Client); None: ``RAY_ADDRESS``, else
            a Ray started on this machine. Only with ``backend="ray"``.
        check_dataset: A second held-out set (e.g. the test split beside a validation
            ``base.eval_dataset``): every run is also evaluated on it, and the report shows
            each gain on both sets and whether it replicates (see
            :mod:`textgym.experiments.replication`). None: one held-out set.
    """

    rewards: tuple[str, ...] = ("rouge1", "rougeL", "bleu", "chrf")
    seeds: tuple[int, ...] = (0, 1, 2)
    base: TrainConfig = field(default_factory=TrainConfig)
    out: str = "runs/compare"
    workers: int = 1
    backend: str = "local"
    max_runs: int | None = None
    keep_models: bool = True
    grid: dict[str, Any] = field(default_factory=dict)
    search: str | None = None
    trials: int = 10
    search_seed: int = 0
    rank_by: str = "own_reward"
    gpus_per_run: float = 0
    ray_address: str | None = None
    check_dataset: str | None = None

    def __post_init__(self) -> None:
        self.rewards, self.seeds = tuple(self.rewards), tuple(int(s) for s in self.seeds)
        self.validate()

    @property
    def axes(self) -> dict[str, Axis]:
        """The checked sweep axes (see :func:`~textgym.experiments.axes.check_axes`)."""
        return check_axes(self.grid, search=self.search is not None)

    def validate(self) -> None:
        """Raise a :class:`ConfigError` naming the first unusable setting and its fix.

        Called on construction and again by :func:`~textgym.experiments.compare` (a field
        may change in between); ``base`` is checked with :meth:`TrainConfig.validate`.
        """
        self.base.validate()
        if self.base.is_game:
            raise ConfigError(
                f"env id {self.base.env_id!r} is a multi-turn game: textgym compare compares "
                "rewards on single-turn env ids so far (a game's reward is its own). Train a "
                "game with textgym train, one run per seed."
            )
        _check_unique("rewards", self.rewards)
        _check_unique("seeds", self.seeds)
        self._check_check_dataset()
        if self.backend not in BACKENDS:
            raise ConfigError(f"backend={self.backend!r} is unknown; use 'local' or 'ray'.")
        if not _is_int(self.workers) or self.workers < 1:
            raise ConfigError(f"workers={self.workers!r} (--workers) must be an integer >= 1.")
        if self.max_runs is not None and not (_is_int(self.max_runs) and self.max_runs >= 0):
            raise ConfigError(
                f"max_runs={self.max_runs!r} (--max-runs) must be an integer >= 0 (0: train "
                "none, rebuild the report), or None (no --max-runs) for every pending run."
            )
        check_gpu_settings(self)
        negative = [s for s in self.seeds if s < 0]
        if negative:
            raise ConfigError(
                f"seeds {negative} are negative; seeds must be integers >= 0 (--seeds 3 means "
                "0,1,2)."
            )
        if self.base.reward is not None:
            raise ConfigError(
                f"base.reward={self.base.reward!r} is set, but a comparison varies the reward; "
                "leave base.reward as None and list the rewards in CompareConfig.rewards."
            )
        for reward in self.rewards:
            if not isinstance(reward, str) or not reward:
                raise ConfigError(f"Reward {reward!r} must be a non-empty name string.")
        _check_unique("reward folder names", tuple(safe_name(r) for r in self.rewards))
        axes = self.axes  # checks every axis, in a grid and in a search
        check_search(self)
        if self.search is None:
            for point in grid_points(axes):
                self.check_point(point)
            _check_unique("run folder names", tuple(spec.name for spec in self.plan()))

    def _check_check_dataset(self) -> None:
        """Raise unless ``check_dataset`` is None or a dataset other than the eval set."""
        check = self.check_dataset
        if check is None:
            return
        if not isinstance(check, str) or not check.strip():
            raise ConfigError(
                f"check_dataset={check!r} (--check-dataset) must name a held-out JSONL/CSV file "
                "or a Hugging Face dataset, e.g. runs/exp_data/samsum_test.jsonl."
            )
        if check == self.base.eval_dataset:
            raise ConfigError(
                f"--check-dataset {check} is the --eval-dataset too: a replication needs a "
                "second sample; give the test split beside the validation split."
            )

    def check_train_config(self, spec: RunSpec) -> TrainConfig:
        """The run's config evaluated on ``check_dataset`` instead of its eval set."""
        return replace(self.train_config(spec), eval_dataset=self.check_dataset)

    def check_point(self, point: Point) -> None:
        """Raise unless ``base`` with the settings of ``point`` is a usable TrainConfig."""
        try:
            replace(self.base, **dict(point))
        except ConfigError as exc:
            raise ConfigError(f"Sweep point {point_label(point)}: {exc}") from exc

    def plan(self) -> list[RunSpec]:
        """Every run of the grid, reward-major, then sweep point, then seed."""
        return [
            spec for r in self.rewards for p in grid_points(self.axes) for spec in self.runs(r, p)
        ]

    def runs(self, reward: str, point: Point) -> list[RunSpec]:
        """The runs of one configuration, one per seed."""
        root = Path(self.out) / "runs"
        return [RunSpec(reward, s, root / run_name(reward, point, s), point) for s in self.seeds]

    def train_config(self, spec: RunSpec) -> TrainConfig:
        """The run's :class:`TrainConfig`: ``base`` with reward, seed, out and settings replaced."""
        return replace(
            self.base, reward=spec.reward, seed=spec.seed, out=str(spec.path), **dict(spec.settings)
        )

    def shared_settings(self) -> dict[str, object]:
        """The settings every run holds equal (``base`` without the varied fields and axes)."""
        varied = {*VARIED, *self.grid}
        shared = {
            f.name: getattr(self.base, f.name) for f in fields(self.base) if f.name not in varied
        }
        if self.check_dataset is not None:
            shared["check_dataset"] = self.check_dataset
        return shared


def check_gpu_settings(config: CompareConfig) -> None:
    """Raise unless ``gpus_per_run`` and ``ray_address`` are usable with the backend."""
    check_gpus_per_run(config.gpus_per_run, config.backend)
    address = config.ray_address
    if address is not None and config.backend != "ray":
        raise ConfigError(
            f"ray_address={address!r} (--ray-address) is set, but backend={config.backend!r}; "
            "add --backend ray, or drop --ray-address."
        )
    if address is not None and not (isinstance(address, str) and address.strip()):
        raise ConfigError(
            f"ray_address={address!r} (--ray-address) must be the head's address, HOST:PORT "
            "(e.g. 10.0.0.1:6379, as `ray start --head` prints it)."
        )


def check_gpus_per_run(gpus: float, backend: str) -> None:
    """Raise unless ``gpus`` GPUs per run can be reserved by ``backend``."""
    if not _is_real(gpus) or not math.isfinite(gpus) or gpus < 0:
        raise ConfigError(
            f"gpus_per_run={gpus!r} (--gpus-per-run) must be a number >= 0 (0: no GPU)."
        )
    if gpus > 1 and gpus != int(gpus):
        raise ConfigError(
            f"gpus_per_run={gpus!r} (--gpus-per-run): above 1 it must be a whole number "
            "(a run's GPUs are whole devices); below 1 it is a share of one GPU."
        )
    if 0 < gpus < MIN_GPU_SHARE:
        raise ConfigError(
            f"gpus_per_run={gpus!r} (--gpus-per-run) is below the smallest share Ray can "
            f"reserve, {MIN_GPU_SHARE}; use 0 for no GPU."
        )
    if backend == "local" and 0 < gpus < 1 and not _is_share(gpus):
        raise ConfigError(
            f"gpus_per_run={gpus!r} (--gpus-per-run): the local backend gives each worker whole "
            "GPUs (1, 2, ...) or an equal share of one (0.5, 0.25, ...: 1/k, k runs per GPU); "
            "other fractions need --backend ray."
        )


def runs_per_gpu(gpus_per_run: float) -> int:
    """How many runs share one GPU: k for a share 1/k, else 1."""
    return round(1 / gpus_per_run) if 0 < gpus_per_run < 1 else 1


def _is_share(gpus: float) -> bool:
    """Whether ``gpus`` is 1/k for a whole k >= 2, to 1 % (0.33 is 1/3)."""
    return abs(gpus * runs_per_gpu(gpus) - 1) < 0.01


def check_search(config: CompareConfig) -> None:
    """Raise unless the search settings and the metric to rank by are usable."""
    options = rankable(config.base.eval_samples)
    if config.rank_by not in options:
        raise unknown_name(
            "metric to rank by",
            str(config.rank_by),
            options,
            "Pass one of them (--rank-by); sampled metrics need --eval-samples.",
        )
    if not _is_int(config.trials) or config.trials < 1:
        raise ConfigError(f"trials={config.trials!r} (--trials) must be an integer >= 1.")
    if not _is_int(config.search_seed) or config.search_seed < 0:
        raise ConfigError(
            f"search_seed={config.search_seed!r} (--search-seed) must be an integer >= 0."
        )
    if config.search is None:
        return
    if config.search not in SEARCHES:
        raise ConfigError(f"search={config.search!r} (--search) is unknown; use 'random' or 'tpe'.")
    if len(config.rewards) != 1 or not config.grid:
        raise ConfigError(
            "A search tunes the settings of one reward: give exactly one reward (--rewards) and "
            "at least one axis (--grid NAME=VALUES or NAME=LOW..HIGH); gains of different "
            "rewards are not comparable as one objective."
        )


def safe_name(reward: str) -> str:
    """A reward name usable in a folder name (``evaluate:path/x`` -> ``evaluate_path_x``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", reward).strip("_") or "reward"


def _is_real(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_unique(what: str, values: tuple[object, ...]) -> None:
    if not values:
        raise ConfigError(f"{what} is empty; give at least one.")
    repeated = sorted({str(v) for v in values if values.count(v) > 1})
    if repeated:
        raise ConfigError(f"{what} lists {', '.join(repeated)} more than once; list each once.")
