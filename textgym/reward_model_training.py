"""Train a reward model on preference pairs with the Bradley-Terry loss.

A pair is ``(prompt, chosen, rejected)``: a human preferred ``chosen``. The model is
``AutoModelForSequenceClassification(..., num_labels=1)`` on top of a pretrained LM; it reads
``format_pair(prompt, response)`` (the layout :class:`textgym.rewards.RewardModel` scores)
and is trained to minimise ``-log sigmoid(r(chosen) - r(rejected))``. The saved folder loads
with ``make_reward("rm:FOLDER")``.

Every run collapses repeated judgments by majority vote
(:mod:`textgym.reward_models.duplicates`), holds out whole groups (prompts by default,
:mod:`textgym.reward_models.splitting`), reports held-out accuracy beside "longer wins",
"shorter wins" and on length-matched pairs (:mod:`textgym.reward_models.heldout_report`),
and fits the trained score's dependence on length (:mod:`textgym.reward_models.length_fit`).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from textgym.atomic import check_replaceable, write_atomic
from textgym.errors import ConfigError, DatasetError
from textgym.models import DEFAULT_MODEL, load_tokenizer, resolve_pretrained
from textgym.reward_models.duplicates import resolve_duplicates
from textgym.reward_models.heldout_report import heldout_report, pair_accuracy
from textgym.reward_models.length_decorrelation import length_correlation
from textgym.reward_models.length_fit import fit_length
from textgym.reward_models.lengths import word_counts
from textgym.reward_models.pairs import PAIR_FIELDS, PreferencePair
from textgym.reward_models.splitting import split_pairs
from textgym.rewards.reward_model import RewardModel, format_pair, right_pad
from textgym.stats.intervals import wilson_interval


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
        seed: Seeds the split, the score-head initialisation and the batch order.
        limit: Use only the first N pairs of the file (None: all).
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
    seed: int = 0
    limit: int | None = None
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
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (the content of ``metrics.json``)."""
        data = asdict(self)
        data.update(out=str(self.out), config=_config_dict(self.config))
        k = max(1, len(self.losses) // 10)
        data["loss_first_10pct"] = float(np.mean(self.losses[:k])) if self.losses else None
        data["loss_last_10pct"] = float(np.mean(self.losses[-k:])) if self.losses else None
        data["text_format"] = format_pair("{prompt}", "{response}")
        return data


def train_reward_model(config: RMConfig, progress_bar: bool = False) -> RMResult:
    """Train a reward model as ``config`` says, save it, and report held-out accuracy.

    Raises:
        ConfigError: an invalid setting, a ``split_by`` field the pairs lack, a split leaving
            a side empty, a base model that cannot be loaded, or an ``out`` folder holding
            files textgym did not write (all checked before training).
        DatasetError: a missing, empty or malformed pairs file.
    """
    _check_config(config)
    check_replaceable(config.out)
    pairs, duplicates = resolve_duplicates(load_pairs(config.pairs, config.limit))
    train_pairs, heldout = split_pairs(pairs, config.val_fraction, config.seed, _fields(config))
    tokenizer = load_tokenizer(config.base)
    device = _device(config.device)
    model = build_model(config, tokenizer).to(device)
    pad_id = int(model.config.pad_token_id)
    encode = _Encoder(tokenizer, config.max_length)
    train_ids, responses = encode(train_pairs), _responses(train_pairs)
    evaluate = _Evaluator(encode(heldout), pad_id, 2 * config.batch_size, device, config.bf16)
    before = evaluate.margins(model)
    words = word_counts(responses).reshape(-1, 2)
    start = time.perf_counter()
    losses = _train(model, train_ids, words, pad_id, config, device, progress_bar)
    seconds = time.perf_counter() - start
    after = evaluate.margins(model)
    on_train = _Evaluator(train_ids, pad_id, 2 * config.batch_size, device, config.bf16)
    fit = fit_length(on_train.scores(model), responses)
    if config.lora:
        model = model.merge_and_unload()
    accuracy = pair_accuracy(after)
    result = RMResult(
        n_train=len(train_pairs),
        n_heldout=len(heldout),
        accuracy_before=pair_accuracy(before),
        accuracy_after=accuracy,
        accuracy_ci=wilson_interval(accuracy, len(heldout)),
        train_seconds=seconds,
        losses=losses,
        out=Path(config.out),
        config=config,
        duplicates=asdict(duplicates),
        heldout=heldout_report(heldout, {"trained": after, "initial": before}),
        length_fit=fit.to_dict(config.out),
    )
    tokenizer.model_max_length = config.max_length  # our own copy: RewardModel's default limit
    _save(model.to("cpu"), tokenizer, result)
    return result


def _responses(pairs: Sequence[PreferencePair]) -> list[str]:
    """chosen_0, rejected_0, chosen_1, ...: the row order of :class:`_Evaluator`."""
    return [text for pair in pairs for text in (pair.chosen, pair.rejected)]


def _fields(config: RMConfig) -> tuple[str, ...]:
    """``config.split_by`` as a tuple of field names."""
    return tuple(name.strip() for name in config.split_by.split(","))


def load_pairs(path: str | os.PathLike[str], limit: int | None = None) -> list[PreferencePair]:
    """Read preference pairs from a JSONL file with string fields prompt, chosen, rejected.

    Other fields (``id``, ``worker``, ...) are kept in each pair's ``meta`` (for
    ``split_by``); training does not read them.

    Raises:
        DatasetError: the file is missing or empty, a line is not a JSON object, or a line
            lacks one of the fields or has a non-string value.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"Pairs file {str(path)!r} does not exist; pass a JSONL file path.")
    pairs = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                pairs.append(_parse_pair(line, number, path))
            if limit is not None and len(pairs) >= limit:
                break
    if not pairs:
        raise DatasetError(
            f"Pairs file {str(path)!r} has no pairs; write one JSON object per line with "
            f"fields {', '.join(PAIR_FIELDS)}."
        )
    return pairs


def _parse_pair(line: str, number: int, path: Path) -> PreferencePair:
    where = f"{path}:{number}"
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{where} is not valid JSON ({exc.msg}); fix or remove it.") from exc
    if not isinstance(row, dict):
        raise DatasetError(f"{where} is a {type(row).__name__}, not a JSON object.")
    missing = [name for name in PAIR_FIELDS if name not in row]
    if missing:
        raise DatasetError(
            f"{where} lacks the field(s) {', '.join(missing)} (it has {', '.join(row)}); every "
            f"line needs {', '.join(PAIR_FIELDS)} (the preferred response is 'chosen')."
        )
    for name in PAIR_FIELDS:
        if not isinstance(row[name], str):
            raise DatasetError(
                f"{where}: field {name!r} is a {type(row[name]).__name__}; it must be a string."
            )
    meta = {name: value for name, value in row.items() if name not in PAIR_FIELDS}
    return PreferencePair(row["prompt"], row["chosen"], row["rejected"], MappingProxyType(meta))


def build_model(config: RMConfig, tokenizer: Any) -> Any:
    """Load ``config.base`` as a one-logit classifier, set its pad id, and freeze as asked.

    The score head is initialised from ``torch.manual_seed(config.seed)``. With
    ``config.lora`` the result is a peft model (LoRA on every linear layer, the score head
    fully trained); with ``config.train_layers`` only the top layers, the final norm and the
    head train.

    Raises:
        ConfigError: the base model cannot be loaded, or the tokenizer has neither a pad nor
            an end-of-sequence token.
    """
    import torch as th
    from transformers import AutoModelForSequenceClassification

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad is None:
        raise ConfigError(
            f"The tokenizer of {config.base!r} has no pad or end-of-sequence token, so batches "
            f"cannot be padded; use a base model whose tokenizer defines one."
        )
    th.manual_seed(config.seed)
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            resolve_pretrained(config.base), num_labels=1
        )
    except OSError as exc:
        raise ConfigError(
            f"Could not load {config.base!r} as a sequence classifier: {exc}\nPass an embedded "
            f"model ({DEFAULT_MODEL}) or a folder saved with save_pretrained."
        ) from exc
    model.config.pad_token_id = int(pad)
    if config.lora:
        return _with_lora(model, config)
    if config.train_layers is not None:
        _freeze_below(model, config.train_layers)
    return model


def _with_lora(model: Any, config: RMConfig) -> Any:
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as exc:
        raise ConfigError(
            "lora=True needs the peft package: `pip install textgym[lora]` (or peft)."
        ) from exc
    head = [name for name, _ in model.named_children() if name != model.base_model_prefix]
    lora = LoraConfig(
        r=config.lora_rank,
        lora_alpha=2 * config.lora_rank,
        lora_dropout=0.0,
        target_modules="all-linear",
        modules_to_save=head,
        task_type="SEQ_CLS",
    )
    return get_peft_model(model, lora)


def _freeze_below(model: Any, n_top: int) -> None:
    """Freeze everything except the top ``n_top`` layers, non-layer base weights and the head.

    Non-layer base weights are the final norm (the input embeddings stay frozen).
    """
    layers = _decoder_layers(model)
    if not 1 <= n_top <= len(layers):
        raise ConfigError(
            f"train_layers={n_top} must be between 1 and the model's {len(layers)} layers "
            f"(or None to train every weight)."
        )
    for param in model.parameters():
        param.requires_grad = True
    frozen = [model.get_input_embeddings(), *layers[: len(layers) - n_top]]
    for module in frozen:
        for param in module.parameters():
            param.requires_grad = False


def _decoder_layers(model: Any) -> Any:
    import torch as th

    n = getattr(model.config, "num_hidden_layers", None)
    for module in model.modules():
        if isinstance(module, th.nn.ModuleList) and len(module) == n:
            return module
    raise ConfigError(
        f"Cannot find the {n} transformer layers of {type(model).__name__} to freeze; "
        f"use train_layers=None (train every weight) or lora=True."
    )


class _Encoder:
    """Token ids of ``format_pair(prompt, response)`` with :class:`RewardModel`'s truncation."""

    def __init__(self, tokenizer: Any, max_length: int) -> None:
        self.tokenizer, self.max_length = tokenizer, max_length

    def __call__(self, pairs: Sequence[PreferencePair]) -> list[tuple[list[int], list[int]]]:
        """``[(chosen_ids, rejected_ids), ...]``, one per pair."""
        chosen = [format_pair(p.prompt, p.chosen) for p in pairs]
        rejected = [format_pair(p.prompt, p.rejected) for p in pairs]
        # RewardModel's own rule: keep leading special tokens, then the LAST tokens, so a
        # text over max_length loses the start of the prompt and keeps the whole response.
        encode = RewardModel._encode
        rows = encode(self.tokenizer, chosen + rejected, self.max_length)
        return list(zip(rows[: len(pairs)], rows[len(pairs) :], strict=True))


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
        self,
        pairs: list[tuple[list[int], list[int]]],
        pad_id: int,
        batch: int,
        device: Any,
        bf16: bool,
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
    pairs: list[tuple[list[int], list[int]]],
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
    import torch.nn.functional as F

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = th.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    steps = config.epochs * math.ceil(len(pairs) / config.batch_size)
    scheduler = th.optim.lr_scheduler.LambdaLR(optimizer, _warmup_then_decay(steps))
    losses: list[float] = []
    model.train()
    for batch in _progress(_batches(len(pairs), config), steps, progress_bar):
        rows = [pairs[i][0] for i in batch] + [pairs[i][1] for i in batch]
        rewards = _rewards(model, rows, pad_id, device, config.bf16)  # (2b,)
        chosen, rejected = rewards[: len(batch)], rewards[len(batch) :]
        loss = -F.logsigmoid(chosen - rejected).mean()
        if config.length_decorrelation:
            lengths = th.as_tensor(np.concatenate([words[batch, 0], words[batch, 1]]))
            penalty = length_correlation(rewards, lengths.to(rewards.device))
            loss = loss + config.length_decorrelation * penalty
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        th.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    return losses


def _batches(n_pairs: int, config: RMConfig) -> Iterator[np.ndarray]:
    """Indices of each batch: every epoch a fresh permutation, cut into batch_size chunks."""
    rng = np.random.default_rng(config.seed)
    for _ in range(config.epochs):
        order = rng.permutation(n_pairs)
        for lo in range(0, len(order), config.batch_size):
            yield order[lo : lo + config.batch_size]


def _warmup_then_decay(steps: int) -> Callable[[int], float]:
    warmup = max(1, steps // 10)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (steps - step) / max(1, steps - warmup))

    return factor


def _progress(batches: Iterator[Any], total: int, enabled: bool) -> Iterator[Any]:
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


def _check_config(config: RMConfig) -> None:
    positive = {
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "max_length": config.max_length,
        "lora_rank": config.lora_rank,
    }
    for name, value in positive.items():
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name}={value!r} must be a positive integer.")
    if not (isinstance(config.lr, (int, float)) and config.lr > 0):
        raise ConfigError(f"lr={config.lr!r} must be a positive number, e.g. 2e-5.")
    if config.limit is not None and (not isinstance(config.limit, int) or config.limit < 2):
        raise ConfigError(f"limit={config.limit!r} must be an integer >= 2, or None for all.")
    if config.lora and config.train_layers is not None:
        raise ConfigError(
            "lora=True and train_layers are alternatives; set one of them (train_layers=None "
            "with LoRA)."
        )
    if not isinstance(config.split_by, str) or not all(_fields(config)):
        raise ConfigError(
            f"split_by={config.split_by!r} must name field(s) of the pairs file, comma-separated: "
            f"e.g. 'prompt' (default), 'worker' or 'policy_chosen,policy_rejected'."
        )
    weight = config.length_decorrelation
    if not (isinstance(weight, (int, float)) and math.isfinite(weight) and weight >= 0):
        raise ConfigError(
            f"length_decorrelation={weight!r} must be a number >= 0 (0: plain Bradley-Terry; "
            f"e.g. 1.0)."
        )


def _device(spec: str) -> Any:
    import torch as th

    if spec == "auto":
        return th.device("cuda" if th.cuda.is_available() else "cpu")
    return th.device(spec)


def _config_dict(config: RMConfig) -> dict[str, Any]:
    data = asdict(config)
    return {k: str(v) if isinstance(v, os.PathLike) else v for k, v in data.items()}
