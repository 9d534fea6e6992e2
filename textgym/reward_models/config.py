"""The settings of a reward-model training run, their check, and what a run produced."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from textgym.errors import ConfigError
from textgym.models import DEFAULT_MODEL
from textgym.reward_models.encoding import format_pair


@dataclass
class RMConfig:
    """Everything one reward-model training run depends on (see ``textgym train-rm --help``).

    Attributes:
        pairs: JSONL file, one object per line with string fields prompt, chosen, rejected.
        base: Embedded model name, Hugging Face name or local folder to start from.
        out: Folder the trained model, its tokenizer and ``metrics.json`` are written to.
        epochs: Passes over the training pairs.
        lr: Peak AdamW learning rate (linear warm-up over the first 10% of steps, then
            linear decay to 0).
        batch_size: Pairs per optimiser step (each pair is two sequences).
        max_length: Token limit per sequence; longer texts lose tokens from the start of the
            prompt, so the end of the prompt and the whole response are kept. Saved as the
            tokenizer's ``model_max_length``, so ``RewardModel`` truncates the same way.
        val_fraction: Share of the pairs held out for the accuracy report.
        split_by: Comma-separated field(s) whose groups are held out whole: ``prompt``
            (default), or any field of the pairs file (``worker`` for new annotators,
            ``policy_chosen,policy_rejected`` for new policy pairs); see
            :func:`textgym.reward_models.splitting.split_pairs`.
        lora: Train LoRA adapters (and the score head) instead of all weights; merged on save.
        lora_rank: LoRA rank ``r`` (``lora_alpha = 2 * r``).
        train_layers: Train only the top N transformer layers, the final norm and the score
            head (the rest is frozen); None trains every weight. Cheaper on a CPU.
        bf16: Run forward and backward passes under bfloat16 autocast (weights stay float32).
        weight_decay: AdamW weight decay.
        length_decorrelation: Weight of a length-decorrelation term added to the loss:
            ``|Pearson correlation|`` between the batch's rewards and its responses' word
            counts (the quality-head term of ODIN, Chen et al. 2024; see
            :mod:`textgym.reward_models.length_decorrelation`). 0 trains plain
            Bradley-Terry.
        length_balanced: Train on a length-balanced subset of the training pairs (the
            chosen response longer in as many as shorter; see
            :mod:`textgym.reward_models.length_balance`). Held-out pairs are not touched.
        seed: Seeds the split, the score-head initialisation and the batch order.
        limit: Use only the first N pairs of the file (None: all).
        train_pairs: Train on a random N of the training pairs (seeded; None: all), after the
            split, so the held-out pairs stay the same: a learning curve over N.
        device: Torch device; ``"auto"`` picks CUDA when available.
    """

    pairs: str | os.PathLike[str]
    base: str = DEFAULT_MODEL
    out: str | os.PathLike[str] = "runs/rm"
    epochs: int = 1
    lr: float = 2e-5
    batch_size: int = 8
    max_length: int = 512
    val_fraction: float = 0.2
    split_by: str = "prompt"
    lora: bool = False
    lora_rank: int = 16
    train_layers: int | None = None
    bf16: bool = False
    weight_decay: float = 0.0
    length_decorrelation: float = 0.0
    length_balanced: bool = False
    seed: int = 0
    limit: int | None = None
    train_pairs: int | None = None
    device: str = "auto"


@dataclass
class RMResult:
    """What a run produced: held-out accuracy before/after, honest baselines, time and files.

    Attributes:
        duplicates: Counts from :func:`~textgym.reward_models.duplicates.resolve_duplicates`.
        heldout: :func:`~textgym.reward_models.heldout_report.heldout_report` of the
            ``trained`` and ``initial`` model beside ``longer_wins`` and ``shorter_wins``.
        length_fit: The trained score's line on word count over the training responses,
            with the length-corrected ``reward_spec`` (see
            :mod:`textgym.reward_models.length_fit`).
        length_balance: Counts of the length balancing of the training pairs (empty
            without ``length_balanced``).
    """

    n_train: int
    n_heldout: int
    accuracy_before: float
    accuracy_after: float
    accuracy_ci: tuple[float, float]
    train_seconds: float
    losses: list[float]
    out: Path
    config: RMConfig
    duplicates: dict[str, int]
    heldout: dict[str, Any]
    length_fit: dict[str, Any]
    length_balance: dict[str, int] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (the content of ``metrics.json``)."""
        data = asdict(self)
        data.update(out=str(self.out), config=config_dict(self.config))
        k = max(1, len(self.losses) // 10)
        data["loss_first_10pct"] = float(np.mean(self.losses[:k])) if self.losses else None
        data["loss_last_10pct"] = float(np.mean(self.losses[-k:])) if self.losses else None
        data["text_format"] = format_pair("{prompt}", "{response}")
        return data


def split_fields(config: RMConfig) -> tuple[str, ...]:
    """``config.split_by`` as a tuple of field names."""
    return tuple(name.strip() for name in config.split_by.split(","))


def config_dict(config: RMConfig) -> dict[str, Any]:
    """``config`` as a JSON-ready dict (paths as strings)."""
    data = asdict(config)
    return {k: str(v) if isinstance(v, os.PathLike) else v for k, v in data.items()}


def check_config(config: RMConfig) -> None:
    """Reject settings a run cannot use, before anything is loaded.

    Raises:
        ConfigError: a setting out of range, ``lora`` together with ``train_layers``, or a
            ``split_by`` that names no field.
    """
    _check_positive(config)
    if config.limit is not None and (not isinstance(config.limit, int) or config.limit < 2):
        raise ConfigError(f"limit={config.limit!r} must be an integer >= 2, or None for all.")
    pairs = config.train_pairs
    if pairs is not None and (isinstance(pairs, bool) or not isinstance(pairs, int) or pairs < 2):
        raise ConfigError(f"train_pairs={pairs!r} must be an integer >= 2, or None for all.")
    if config.lora and config.train_layers is not None:
        raise ConfigError(
            "lora=True and train_layers are alternatives; set one of them (train_layers=None "
            "with LoRA)."
        )
    if not isinstance(config.split_by, str) or not all(split_fields(config)):
        raise ConfigError(
            f"split_by={config.split_by!r} must name field(s) of the pairs file, comma-separated: "
            f"e.g. 'prompt' (default), 'worker' or 'policy_chosen,policy_rejected'."
        )
    if not isinstance(config.length_balanced, bool):
        raise ConfigError(f"length_balanced={config.length_balanced!r} must be True or False.")
    fraction = config.val_fraction
    if not (isinstance(fraction, (int, float)) and 0 < fraction < 1):
        raise ConfigError(
            f"val_fraction={fraction!r} (--val-fraction) must be a number between 0 and 1, "
            "e.g. 0.2: the share of pairs held out."
        )
    layers = config.train_layers
    if layers is not None and (
        isinstance(layers, bool) or not isinstance(layers, int) or layers < 1
    ):
        raise ConfigError(f"train_layers={layers!r} (--train-layers) must be an integer >= 1.")
    if isinstance(config.seed, bool) or not isinstance(config.seed, int) or config.seed < 0:
        raise ConfigError(f"seed={config.seed!r} (--seed) must be an integer >= 0.")
    decay = config.weight_decay
    if not (isinstance(decay, (int, float)) and math.isfinite(decay) and decay >= 0):
        raise ConfigError(f"weight_decay={decay!r} (--weight-decay) must be a number >= 0.")
    weight = config.length_decorrelation
    if not (isinstance(weight, (int, float)) and math.isfinite(weight) and weight >= 0):
        raise ConfigError(
            f"length_decorrelation={weight!r} must be a number >= 0 (0: plain Bradley-Terry; "
            f"e.g. 1.0)."
        )


def _check_positive(config: RMConfig) -> None:
    """The integer sizes must be positive integers and the learning rate a positive number."""
    positive = {
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "max_length": config.max_length,
        "lora_rank": config.lora_rank,
    }
    for name, value in positive.items():
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name}={value!r} must be a positive integer.")
    if not (isinstance(config.lr, (int, float)) and 0 < config.lr < math.inf):
        raise ConfigError(f"lr={config.lr!r} must be a positive number, e.g. 2e-5.")
