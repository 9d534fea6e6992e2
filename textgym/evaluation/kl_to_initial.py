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

All come from one forward pass per sequence of each model, at temperature 1, over the
first ``vocab_size`` logits (the env's action space, as in the policy). Each is also given
per sequence (the mean over that sequence's tokens), for paired statistics.
"""

from __future__ import annotations

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
) -> KLToInitial:
    """Mean per-token log-ratio, exact KL and initial-model NLL of ``sequences``.

    Args:
        trained: The fine-tuned causal LM.
        initial: The model it started from (same tokenizer); None: ``trained`` is its own
            initial model (the divergences are 0 and only the NLL is computed).
        sequences: ``(prompt_ids, generated_ids)`` pairs, e.g. from :func:`greedy_sequences`.
        vocab_size: Use only the first ``vocab_size`` logits (None: all).
        initial_mode: Context ``initial`` runs in (e.g. a LoRA model's ``disable_adapter``).

    Returns:
        Means over all generated tokens pooled; NaN when there are no generated tokens.
    """
    sums = dict.fromkeys(PER_SEQUENCE, 0.0)
    per_sequence: dict[str, list[float]] = {key: [] for key in PER_SEQUENCE}
    n_tokens = 0
    for prompt, new in sequences:
        if not prompt or not new:
            for key in PER_SEQUENCE:
                per_sequence[key].append(float("nan"))
            continue
        values = _sequence_sums(trained, initial, initial_mode, prompt, new, vocab_size)
        for key, value in values.items():
            sums[key] += value
            per_sequence[key].append(value / len(new))
        n_tokens += len(new)
    means = {key: (total / n_tokens if n_tokens else float("nan")) for key, total in sums.items()}
    return KLToInitial(
        means["log_ratio"], means["exact"], n_tokens, means["nll"], per_sequence=per_sequence
    )


def _sequence_sums(
    trained: th.nn.Module,
    initial: th.nn.Module | None,
    initial_mode: Callable[[], AbstractContextManager],
    prompt: Sequence[int],
    new: Sequence[int],
    vocab_size: int | None,
) -> dict[str, float]:
    """Sums over one sequence's generated tokens of the log-ratio, exact KL and NLL."""
    lp_trained = continuation_log_probs(trained, prompt, new, vocab_size)  # (N, V)
    if initial is None:
        lp_initial = lp_trained
    else:
        with initial_mode():
            lp_initial = continuation_log_probs(initial, prompt, new, vocab_size)
        lp_initial = lp_initial.to(lp_trained.device)  # (N, V)
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
