"""How far a trained LM moved from its initial model, measured on its own generations.

For each generated token ``y_t`` (EOS included) after the prefix ``x, y_<t``:

- ``log_ratio``: the mean over all generated tokens of
  ``log π_trained(y_t | x, y_<t) − log π_init(y_t | x, y_<t)``; on samples from
  ``π_trained`` this is the usual single-sample estimate of ``KL(π_trained ‖ π_init)`` per token.
- ``exact``: the mean over the same positions of the full-vocabulary
  ``KL(π_trained(· | x, y_<t) ‖ π_init(· | x, y_<t))``, which needs no sampling and is never
  negative; it is the better number when the generations are greedy.
- ``nll``: the mean of ``−log π_init(y_t | x, y_<t)``, the log-perplexity of the outputs
  under the initial model: a fluency guard (text the initial model finds unlikely, such as
  repeated or broken phrases, scores high).

All come from one forward pass per batch of sequences of each model, at temperature 1, over the
first ``vocab_size`` logits (the env's action space, as in the policy). Each is also given
per sequence (the mean over that sequence's tokens), for paired statistics.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

import torch as th

from textgym.env import TextGenEnv
from textgym.evaluation.generation import generate_sequences

# (prompt token ids, generated token ids)
Sequences = Sequence[tuple[Sequence[int], Sequence[int]]]
PER_SEQUENCE = ("log_ratio", "exact", "nll")


@dataclass(frozen=True)
class KLToInitial:
    """Per-token divergence of a trained LM from its initial model on a set of generations.

    ``log_ratio``, ``exact`` and ``nll`` pool all generated tokens (longer generations weigh
    more); ``per_sequence`` maps each of those names to one value per sequence, the mean
    over its tokens (NaN for a sequence without prompt or generated tokens).
    """

    log_ratio: float
    exact: float
    n_tokens: int
    nll: float = float("nan")
    per_sequence: dict[str, list[float]] = field(default_factory=dict)


def continuation_log_probs(
    lm: th.nn.Module, prompt: Sequence[int], new: Sequence[int], vocab_size: int | None = None
) -> th.Tensor:
    """Log-probabilities of every next token at each generated position, shape ``(len(new), V)``.

    One forward pass on ``prompt + new``; row ``t`` is the distribution ``new[t]`` was drawn
    from (after ``prompt`` and ``new[:t]``).
    """
    device = next(lm.parameters()).device
    ids = th.tensor([list(prompt) + list(new)], device=device)  # (1, P + N)
    logits = lm(input_ids=ids).logits[0, len(prompt) - 1 : -1]  # (N, V_model)
    return th.log_softmax(logits[:, :vocab_size].double(), dim=-1)  # (N, V)


@th.no_grad()
def kl_to_initial(
    trained: th.nn.Module,
    initial: th.nn.Module | None,
    sequences: Sequences,
    vocab_size: int | None = None,
    initial_mode: Callable[[], AbstractContextManager] = nullcontext,
    batch_size: int = 16,
) -> KLToInitial:
    """Mean per-token log-ratio, exact KL and initial-model NLL of ``sequences``.

    Args:
        trained: The fine-tuned causal LM.
        initial: The model it started from (same tokenizer); None: ``trained`` is its own
            initial model (the divergences are 0 and only the NLL is computed).
        sequences: ``(prompt_ids, generated_ids)`` pairs, e.g. from :func:`greedy_sequences`.
        vocab_size: Use only the first ``vocab_size`` logits (None: all).
        initial_mode: Context ``initial`` runs in (e.g. a LoRA model's ``disable_adapter``).
        batch_size: Sequences per forward pass (see :func:`batch_log_probs`).

    Returns:
        Means over all generated tokens pooled; NaN when there are no generated tokens.
    """
    sums: dict[int, dict[str, float]] = {}
    usable = [i for i, (prompt, new) in enumerate(sequences) if prompt and new]
    for start in range(0, len(usable), batch_size):
        indices = usable[start : start + batch_size]
        batch = [sequences[i] for i in indices]
        lp_trained = batch_log_probs(trained, batch, vocab_size)
        values = batch_drift(lp_trained, initial, batch, vocab_size, initial_mode)
        sums.update(zip(indices, values, strict=True))
    return pooled_drift(sequences, sums)


@th.no_grad()
def batch_drift(
    lp_trained: Sequence[th.Tensor],
    initial: th.nn.Module | None,
    batch: Sequences,
    vocab_size: int | None = None,
    initial_mode: Callable[[], AbstractContextManager] = nullcontext,
) -> list[dict[str, float]]:
    """Per pair of ``batch``: the sums over its generated tokens of each :data:`PER_SEQUENCE`.

    ``lp_trained`` holds each pair's trained log-probabilities (as
    :func:`continuation_log_probs` gives them, from any pass that computed them, e.g. the
    generation's own logits); ``initial`` runs one forward pass over the batch (None: the
    trained model is its own initial model). Every pair needs a prompt and generated tokens.
    """
    lp_initial = lp_trained
    if initial is not None:
        with initial_mode():
            lp_initial = batch_log_probs(initial, batch, vocab_size)
    return [
        _sums(a, b.to(a.device), new)
        for (_, new), a, b in zip(batch, lp_trained, lp_initial, strict=True)
    ]


def pooled_drift(sequences: Sequences, sums: dict[int, dict[str, float]]) -> KLToInitial:
    """The :class:`KLToInitial` of ``sequences`` from :func:`batch_drift`'s sums by index.

    Sequences without an entry (no prompt or no generated tokens) are NaN and not pooled.
    """
    per_sequence = {key: [float("nan")] * len(sequences) for key in PER_SEQUENCE}
    for i, values in sums.items():
        for key, value in values.items():
            per_sequence[key][i] = value / len(sequences[i][1])
    n_tokens = sum(len(sequences[i][1]) for i in sums)
    means = {
        key: sum(values[key] for values in sums.values()) / n_tokens if n_tokens else math.nan
        for key in PER_SEQUENCE
    }
    return KLToInitial(
        means["log_ratio"], means["exact"], n_tokens, means["nll"], per_sequence=per_sequence
    )


def batch_log_probs(lm: th.nn.Module, batch: Sequences, vocab_size: int | None) -> list[th.Tensor]:
    """:func:`continuation_log_probs` of every pair in ``batch``, in one forward pass.

    The rows are left-padded with an attention mask and position ids counted from each
    row's first real token, so every row sees exactly its own tokens; with
    ``logits_to_keep`` only the generated positions' logits are computed. A model whose
    ``forward`` takes no ``attention_mask`` and ``position_ids`` runs one pair at a time.
    """
    if getattr(getattr(lm, "config", None), "is_encoder_decoder", False):
        return seq2seq_log_probs(lm, batch, vocab_size)
    params = inspect.signature(lm.forward).parameters
    if "attention_mask" not in params or "position_ids" not in params:
        return [continuation_log_probs(lm, prompt, new, vocab_size) for prompt, new in batch]
    device = next(lm.parameters()).device
    rows = [list(prompt) + list(new) for prompt, new in batch]
    width, keep = max(map(len, rows)), max(len(new) for _, new in batch) + 1
    ids = th.tensor([[0] * (width - len(row)) + row for row in rows], device=device)
    mask = th.tensor([[0] * (width - len(row)) + [1] * len(row) for row in rows], device=device)
    extra = {"logits_to_keep": keep} if "logits_to_keep" in params else {}
    positions = (mask.cumsum(1) - 1).clamp(min=0)
    logits = lm(input_ids=ids, attention_mask=mask, position_ids=positions, **extra).logits
    kept = logits[:, -keep:]  # position width - keep + j at index j
    return [
        th.log_softmax(kept[i, keep - 1 - len(new) : keep - 1, :vocab_size].double(), dim=-1)
        for i, (_, new) in enumerate(batch)
    ]


def seq2seq_log_probs(
    lm: th.nn.Module, batch: Sequences, vocab_size: int | None
) -> list[th.Tensor]:
    """:func:`batch_log_probs` of an encoder-decoder LM: prompts encoded, generations decoded.

    The decoder reads ``[decoder_start_token_id] + new``, right-padded; row ``t`` of each
    result is the distribution ``new[t]`` was drawn from.
    """
    device = next(lm.parameters()).device
    start = int(lm.config.decoder_start_token_id)
    width = max(len(prompt) for prompt, _ in batch)
    steps = max(len(new) for _, new in batch)
    ids = th.tensor([list(p) + [0] * (width - len(p)) for p, _ in batch], device=device)
    mask = th.tensor([[1] * len(p) + [0] * (width - len(p)) for p, _ in batch], device=device)
    dec = th.tensor([[start, *n] + [0] * (steps - len(n)) for _, n in batch], device=device)
    dec_mask = th.tensor([[1] * (len(n) + 1) + [0] * (steps - len(n)) for _, n in batch])
    logits = lm(
        input_ids=ids,
        attention_mask=mask,
        decoder_input_ids=dec,
        decoder_attention_mask=dec_mask.to(device),
    ).logits
    return [
        th.log_softmax(logits[i, : len(new), :vocab_size].double(), dim=-1)
        for i, (_, new) in enumerate(batch)
    ]


def _sums(lp_trained: th.Tensor, lp_initial: th.Tensor, new: Sequence[int]) -> dict[str, float]:
    """Sums over one sequence's generated tokens of the log-ratio, exact KL and NLL."""
    tokens = th.tensor(list(new), device=lp_trained.device)[:, None]  # (N, 1)
    diff = lp_trained - lp_initial  # (N, V)
    return {
        "log_ratio": diff.gather(1, tokens).sum().item(),
        "exact": (lp_trained.exp() * diff).sum().item(),
        "nll": -lp_initial.gather(1, tokens).sum().item(),
    }


def greedy_sequences(
    lm: th.nn.Module, env: TextGenEnv, n_examples: int | None = None, batch_size: int = 16
) -> list[tuple[list[int], list[int]]]:
    """Greedy generations for the env's first ``n_examples`` examples, as token ids.

    Exactly what :func:`textgym.evaluation.evaluate_lm` scores, before decoding.
    """
    indices = list(range(min(n_examples or len(env.examples), len(env.examples))))
    return generate_sequences(lm, env, indices, batch_size, greedy=True)
