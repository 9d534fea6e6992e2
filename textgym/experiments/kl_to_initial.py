"""How far a trained LM moved from its initial model, measured on its own generations.

For each generated token ``y_t`` (EOS included) after the prefix ``x, y_<t``:

- ``log_ratio``: the mean over all generated tokens of
  ``log π_trained(y_t | x, y_<t) − log π_init(y_t | x, y_<t)``; on samples from
  ``π_trained`` this is the usual single-sample estimate of ``KL(π_trained ‖ π_init)`` per token.
- ``exact``: the mean over the same positions of the full-vocabulary
  ``KL(π_trained(· | x, y_<t) ‖ π_init(· | x, y_<t))``, which needs no sampling and is never
  negative; it is the better number when the generations are greedy.

Both come from one forward pass per sequence of each model, at temperature 1, over the
first ``vocab_size`` logits (the env's action space, as in the policy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch as th

from textgym.env import TextGenEnv
from textgym.evaluation import generate_sequences

# (prompt token ids, generated token ids)
Sequences = Sequence[tuple[Sequence[int], Sequence[int]]]


@dataclass(frozen=True)
class KLToInitial:
    """Per-token divergence of a trained LM from its initial model on a set of generations."""

    log_ratio: float
    exact: float
    n_tokens: int


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
    initial: th.nn.Module,
    sequences: Sequences,
    vocab_size: int | None = None,
) -> KLToInitial:
    """Mean per-token log-ratio and exact KL of ``trained`` to ``initial`` on ``sequences``.

    Args:
        trained: The fine-tuned causal LM.
        initial: The model it started from (same tokenizer).
        sequences: ``(prompt_ids, generated_ids)`` pairs, e.g. from :func:`greedy_sequences`.
        vocab_size: Use only the first ``vocab_size`` logits (None: all).

    Returns:
        Means over all generated tokens pooled (longer generations weigh more); NaN when
        there are no generated tokens.
    """
    log_ratio = exact = 0.0
    n_tokens = 0
    for prompt, new in sequences:
        if not prompt or not new:
            continue
        lp_trained = continuation_log_probs(trained, prompt, new, vocab_size)  # (N, V)
        lp_initial = continuation_log_probs(initial, prompt, new, vocab_size)  # (N, V)
        tokens = th.tensor(list(new), device=lp_trained.device)[:, None]  # (N, 1)
        diff = lp_trained - lp_initial.to(lp_trained.device)  # (N, V)
        log_ratio += diff.gather(1, tokens).sum().item()
        exact += (lp_trained.exp() * diff).sum().item()
        n_tokens += len(new)
    if n_tokens == 0:
        return KLToInitial(float("nan"), float("nan"), 0)
    return KLToInitial(log_ratio / n_tokens, exact / n_tokens, n_tokens)


def greedy_sequences(
    lm: th.nn.Module, env: TextGenEnv, n_examples: int | None = None, batch_size: int = 16
) -> list[tuple[list[int], list[int]]]:
    """Greedy generations for the env's first ``n_examples`` examples, as token ids.

    Exactly what :func:`textgym.evaluation.evaluate_lm` scores, before decoding.
    """
    indices = list(range(min(n_examples or len(env.examples), len(env.examples))))
    return generate_sequences(lm, env, indices, batch_size, greedy=True)
