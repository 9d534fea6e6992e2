"""What a reward comparison is: one base training config, the rewards and seeds to vary."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from textgym.errors import ConfigError
from textgym.training import TrainConfig

BACKENDS = ("local", "ray")
# TrainConfig fields a comparison sets per run; every other field is held equal.
VARIED = ("reward", "seed", "out")


@dataclass(frozen=True)
class RunSpec:
    """One cell of the grid: a reward, a seed and the folder its files go to."""

    reward: str
    seed: int
    path: Path

    @property
    def name(self) -> str:
        """The run's folder name, ``<reward>__seed<k>``."""
        return self.path.name


@dataclass
class CompareConfig:
    """A reward comparison: train ``base`` once per (reward, seed), all else held equal.

    Args:
        rewards: Reward names to compare (see :func:`textgym.rewards.list_rewards`).
        seeds: The seeds every reward is trained with.
        base: The training settings shared by every run; its ``reward``, ``seed`` and
            ``out`` are replaced per run.
        out: Output folder; run ``r, k`` writes into ``out/runs/<r>__seed<k>/``.
        workers: Runs trained at the same time (local processes or Ray tasks).
        backend: ``"local"`` (processes on this machine) or ``"ray"`` (Ray tasks).
        max_runs: Train at most this many pending runs in this call, then build the report
            (None: all). Useful to spread a grid over several sessions.
        keep_models: Keep each run's saved weights (``ppo.zip``, ``hf_model/``); False
            deletes them once the run is evaluated (a 135M model is about 1 GB per run).
    """

    rewards: tuple[str, ...] = ("rouge1", "rougeL", "bleu", "chrf")
    seeds: tuple[int, ...] = (0, 1, 2)
    base: TrainConfig = field(default_factory=TrainConfig)
    out: str = "runs/compare"
    workers: int = 1
    backend: str = "local"
    max_runs: int | None = None
    keep_models: bool = True

    def __post_init__(self) -> None:
        self.rewards, self.seeds = tuple(self.rewards), tuple(int(s) for s in self.seeds)
        self.validate()

    def validate(self) -> None:
        """Raise a :class:`ConfigError` naming the first unusable setting and its fix.

        Called on construction and again by :func:`~textgym.experiments.compare` (a field
        may change in between); ``base`` is checked with :meth:`TrainConfig.validate`.
        """
        self.base.validate()
        _check_unique("rewards", self.rewards)
        _check_unique("seeds", self.seeds)
        if self.backend not in BACKENDS:
            raise ConfigError(f"backend={self.backend!r} is unknown; use 'local' or 'ray'.")
        if not _is_int(self.workers) or self.workers < 1:
            raise ConfigError(f"workers={self.workers!r} (--workers) must be an integer >= 1.")
        if self.max_runs is not None and not (_is_int(self.max_runs) and self.max_runs >= 0):
            raise ConfigError(
                f"max_runs={self.max_runs!r} (--max-runs) must be an integer >= 0 (0: train "
                "none, rebuild the report), or None (no --max-runs) for every pending run."
            )
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

    def plan(self) -> list[RunSpec]:
        """Every run of the grid, reward-major, in a stable order."""
        runs = Path(self.out) / "runs"
        return [
            RunSpec(r, s, runs / f"{safe_name(r)}__seed{s}")
            for r in self.rewards
            for s in self.seeds
        ]

    def train_config(self, spec: RunSpec) -> TrainConfig:
        """The run's :class:`TrainConfig`: ``base`` with only reward, seed and out replaced."""
        return replace(self.base, reward=spec.reward, seed=spec.seed, out=str(spec.path))

    def shared_settings(self) -> dict[str, object]:
        """The settings every run holds equal (``base`` without the varied fields)."""
        return {
            f.name: getattr(self.base, f.name) for f in fields(self.base) if f.name not in VARIED
        }


def safe_name(reward: str) -> str:
    """A reward name usable in a folder name (``evaluate:path/x`` -> ``evaluate_path_x``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", reward).strip("_") or "reward"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_unique(what: str, values: tuple[object, ...]) -> None:
    if not values:
        raise ConfigError(f"{what} is empty; give at least one.")
    repeated = sorted({str(v) for v in values if values.count(v) > 1})
    if repeated:
        raise ConfigError(f"{what} lists {', '.join(repeated)} more than once; list each once.")
