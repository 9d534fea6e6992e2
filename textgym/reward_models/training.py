"""Train a reward model on preference pairs with the Bradley-Terry loss.

A pair is ``(prompt, chosen, rejected)``: a human preferred ``chosen``. The model is
``AutoModelForSequenceClassification(..., num_labels=1)`` on top of a pretrained LM; it reads
``format_pair(prompt, response)`` (the layout :class:`textgym.rewards.RewardModel` scores,
see :mod:`textgym.reward_models.encoding`) and is trained to minimise
``-log sigmoid(r(chosen) - r(rejected))``. The saved folder loads with
``make_reward("rm:FOLDER")``.

Every run collapses repeated judgments by majority vote
(:mod:`textgym.reward_models.duplicates`), holds out whole groups (prompts by default,
:mod:`textgym.reward_models.splitting`), optionally balances the training pairs by length
(:mod:`textgym.reward_models.length_balance`), reports held-out accuracy beside "longer wins",
"shorter wins" and on length-matched pairs (:mod:`textgym.reward_models.heldout_report`),
and fits the trained score's dependence on length (:mod:`textgym.reward_models.length_fit`).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from textgym.atomic import check_not_a_file, check_replaceable, write_atomic
from textgym.errors import ConfigError
from textgym.models import load_tokenizer
from textgym.reward_models.config import RMConfig, RMResult, check_config, split_fields
from textgym.reward_models.duplicates import resolve_duplicates
from textgym.reward_models.encoding import encode_pairs, right_pad
from textgym.reward_models.heldout_report import heldout_report, pair_accuracy
from textgym.reward_models.length_balance import balance_by_length
from textgym.reward_models.length_decorrelation import length_correlation
from textgym.reward_models.length_fit import LengthFit, fit_length
from textgym.reward_models.lengths import word_counts
from textgym.reward_models.model import build_model, choose_device
from textgym.reward_models.pairs import PreferencePair, load_pairs
from textgym.reward_models.splitting import split_pairs
from textgym.stats.intervals import wilson_interval

EncodedPairs = list[tuple[list[int], list[int]]]


@dataclass
class _Data:
    """The pairs a run uses, after duplicates are resolved, split into train and held out."""

    train: list[PreferencePair]
    heldout: list[PreferencePair]
    duplicates: dict[str, int]
    length_balance: dict[str, int]


@dataclass
class _Outcome:
    """What training measured: held-out margins before/after, scores on train, losses, time."""

    before: np.ndarray
    after: np.ndarray
    train_scores: np.ndarray
    losses: list[float]
    seconds: float


def train_reward_model(config: RMConfig, progress_bar: bool = False) -> RMResult:
    """Train a reward model as ``config`` says, save it, and report held-out accuracy.

    Raises:
        ConfigError: an invalid setting, a ``split_by`` field the pairs lack, a split leaving
            a side empty, a base model that cannot be loaded, or an ``out`` folder holding
            files textgym did not write (all checked before training).
        DatasetError: a missing, empty or malformed pairs file.
    """
    check_config(config)
    check_not_a_file(config.out, "out (--out)")
    check_replaceable(config.out)
    data = _load_data(config)
    tokenizer = load_tokenizer(config.base)
    device = choose_device(config.device)
    model = build_model(config, tokenizer).to(device)
    outcome = _fit(model, tokenizer, data, config, device, progress_bar)
    fit = fit_length(outcome.train_scores, _responses(data.train))
    if config.lora:
        model = model.merge_and_unload()
    result = _result(config, data, outcome, fit)
    tokenizer.model_max_length = config.max_length  # our own copy: RewardModel's default limit
    _save(model.to("cpu"), tokenizer, result)
    return result


def _load_data(config: RMConfig) -> _Data:
    """Read the pairs, resolve duplicate judgments, and split off the held-out groups."""
    pairs, duplicates = resolve_duplicates(load_pairs(config.pairs, config.limit))
    train, heldout = split_pairs(pairs, config.val_fraction, config.seed, split_fields(config))
    train = _subset(train, config.train_pairs, config.seed)
    if not config.length_balanced:
        return _Data(train, heldout, asdict(duplicates), {})
    train, balance = balance_by_length(train, config.seed)
    return _Data(train, heldout, asdict(duplicates), balance.to_dict())


def _subset(pairs: list[PreferencePair], size: int | None, seed: int) -> list[PreferencePair]:
    """A seeded random ``size`` of ``pairs`` in their order (all of them when None).

    Raises:
        ConfigError: ``size`` is more than there are pairs.
    """
    if size is None:
        return pairs
    if size > len(pairs):
        raise ConfigError(
            f"train_pairs={size} (--train-pairs) is more than the {len(pairs)} training pairs "
            f"of this split; pass at most {len(pairs)}, or drop the option."
        )
    keep = np.random.default_rng(seed).choice(len(pairs), size, replace=False)
    return [pairs[i] for i in sorted(keep)]


def _fit(
    model: Any, tokenizer: Any, data: _Data, config: RMConfig, device: Any, progress_bar: bool
) -> _Outcome:
    """Score the held-out pairs, train, score them again, and score every training response."""
    pad_id = int(model.config.pad_token_id)
    train_ids = encode_pairs(tokenizer, data.train, config.max_length)
    heldout_ids = encode_pairs(tokenizer, data.heldout, config.max_length)
    evaluate = _Evaluator(heldout_ids, pad_id, 2 * config.batch_size, device, config.bf16)
    before = evaluate.margins(model)
    words = word_counts(_responses(data.train)).reshape(-1, 2)
    start = time.perf_counter()
    losses = _train(model, train_ids, words, pad_id, config, device, progress_bar)
    seconds = time.perf_counter() - start
    after = evaluate.margins(model)
    on_train = _Evaluator(train_ids, pad_id, 2 * config.batch_size, device, config.bf16)
    return _Outcome(before, after, on_train.scores(model), losses, seconds)


def _result(config: RMConfig, data: _Data, outcome: _Outcome, fit: LengthFit) -> RMResult:
    """The run's :class:`RMResult` (``files`` is filled in when it is saved)."""
    accuracy = pair_accuracy(outcome.after)
    return RMResult(
        n_train=len(data.train),
        n_heldout=len(data.heldout),
        accuracy_before=pair_accuracy(outcome.before),
        accuracy_after=accuracy,
        accuracy_ci=wilson_interval(accuracy, len(data.heldout)),
        train_seconds=outcome.seconds,
        losses=outcome.losses,
        out=Path(config.out),
        config=config,
        duplicates=data.duplicates,
        heldout=heldout_report(data.heldout, {"trained": outcome.after, "initial": outcome.before}),
        length_fit=fit.to_dict(config.out),
        length_balance=data.length_balance,
    )


def _responses(pairs: Sequence[PreferencePair]) -> list[str]:
    """chosen_0, rejected_0, chosen_1, ...: the row order of :class:`_Evaluator`."""
    return [text for pair in pairs for text in (pair.chosen, pair.rejected)]


def _rewards(
    model: Any, rows: Sequence[Sequence[int]], pad_id: int, device: Any, bf16: bool
) -> Any:
    """The model's logit for each row, shape ``(len(rows),)``, float32."""
    import torch as th

    input_ids, mask = right_pad(rows, pad_id)
    with th.autocast(device_type=th.device(device).type, dtype=th.bfloat16, enabled=bf16):
        logits = model(input_ids=input_ids.to(device), attention_mask=mask.to(device)).logits
    return logits[:, 0].float()


class _Evaluator:
    """Scores of fixed encoded pairs under a model, without gradients."""

    def __init__(
        self, pairs: EncodedPairs, pad_id: int, batch: int, device: Any, bf16: bool
    ) -> None:
        rows = [row for pair in pairs for row in pair]  # chosen_0, rejected_0, chosen_1, ...
        self.order = sorted(range(len(rows)), key=lambda i: len(rows[i]))  # less padding
        self.rows, self.pad_id, self.batch = rows, pad_id, batch
        self.device, self.bf16 = device, bf16

    def margins(self, model: Any) -> np.ndarray:
        """``r(chosen) - r(rejected)`` per pair, shape ``(n_pairs,)``."""
        scores = self.scores(model)
        return scores[0::2] - scores[1::2]

    def scores(self, model: Any) -> np.ndarray:
        """``r`` of every response: chosen_0, rejected_0, chosen_1, ..., shape ``(2 n_pairs,)``."""
        import torch as th

        scores = np.zeros(len(self.rows))
        model.eval()
        with th.no_grad():
            for lo in range(0, len(self.order), self.batch):
                chunk = self.order[lo : lo + self.batch]
                batch = [self.rows[i] for i in chunk]
                scores[chunk] = _rewards(model, batch, self.pad_id, self.device, self.bf16).cpu()
        return scores


def _train(
    model: Any,
    pairs: EncodedPairs,
    words: np.ndarray,
    pad_id: int,
    config: RMConfig,
    device: Any,
    progress_bar: bool,
) -> list[float]:
    """Minimise the Bradley-Terry loss with AdamW; return the loss of every step.

    ``words[i]`` is (chosen, rejected) word counts of pair ``i``, for the optional
    length-decorrelation term.
    """
    import torch as th

    steps = config.epochs * math.ceil(len(pairs) / config.batch_size)
    params, optimizer, scheduler = _optimizer(model, config, steps)
    losses: list[float] = []
    model.train()
    for batch in _progress(_batches(len(pairs), config), steps, progress_bar):
        loss = _batch_loss(model, pairs, words, batch, pad_id, config, device)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        th.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    return losses


def _optimizer(model: Any, config: RMConfig, steps: int) -> tuple[list[Any], Any, Any]:
    """The trainable parameters, their AdamW optimiser and its warm-up-then-decay schedule."""
    import torch as th

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = th.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = th.optim.lr_scheduler.LambdaLR(optimizer, _warmup_then_decay(steps))
    return params, optimizer, scheduler


def _batch_loss(
    model: Any,
    pairs: EncodedPairs,
    words: np.ndarray,
    batch: np.ndarray,
    pad_id: int,
    config: RMConfig,
    device: Any,
) -> Any:
    """The Bradley-Terry loss of the pairs ``batch`` indexes, plus the length term if asked."""
    import torch as th
    import torch.nn.functional as F

    rows = [pairs[i][0] for i in batch] + [pairs[i][1] for i in batch]
    rewards = _rewards(model, rows, pad_id, device, config.bf16)  # (2b,)
    chosen, rejected = rewards[: len(batch)], rewards[len(batch) :]
    loss = -F.logsigmoid(chosen - rejected).mean()
    if config.length_decorrelation:
        lengths = th.as_tensor(np.concatenate([words[batch, 0], words[batch, 1]]))
        penalty = length_correlation(rewards, lengths.to(rewards.device))
        loss = loss + config.length_decorrelation * penalty
    return loss


def _batches(n_pairs: int, config: RMConfig) -> Iterator[np.ndarray]:
    """Indices of each batch: every epoch a fresh permutation, cut into batch_size chunks."""
    rng = np.random.default_rng(config.seed)
    for _ in range(config.epochs):
        order = rng.permutation(n_pairs)
        for lo in range(0, len(order), config.batch_size):
            yield order[lo : lo + config.batch_size]


def _warmup_then_decay(steps: int) -> Callable[[int], float]:
    """The learning-rate factor per step: linear warm-up over 10% of ``steps``, then decay."""
    warmup = max(1, steps // 10)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (steps - step) / max(1, steps - warmup))

    return factor


def _progress(batches: Iterator[Any], total: int, enabled: bool) -> Iterator[Any]:
    """``batches``, through a tqdm progress bar when ``enabled``."""
    if not enabled:
        return batches
    from tqdm.auto import tqdm

    return iter(tqdm(batches, total=total, desc="train-rm", unit="step"))


def _save(model: Any, tokenizer: Any, result: RMResult) -> None:
    """Write model, tokenizer and ``metrics.json`` into ``result.out`` atomically."""
    files = {"model": str(result.out), "metrics": str(result.out / "metrics.json")}
    result.files.update(files)

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        text = json.dumps(result.to_dict(), indent=2)
        (tmp / "metrics.json").write_text(text + "\n", encoding="utf-8")

    write_atomic(result.out, write)
