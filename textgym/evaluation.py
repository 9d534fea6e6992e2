"""Evaluate a policy's LM on held-out examples with every built-in metric."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch as th

from textgym.env import TextGenEnv
from textgym.errors import ConfigError
from textgym.rewards import make_reward, score

EVAL_METRICS = ("rouge1", "rouge2", "rougeL", "rougeLsum", "bleu", "chrf")


@dataclass
class EvalResult:
    """Per-metric means over the evaluated examples, and the generations themselves."""

    metrics: dict[str, float]
    generations: list[str]
    mean_new_tokens: float


@th.no_grad()
def generate_sequences(
    lm: th.nn.Module,
    env: TextGenEnv,
    indices: Sequence[int],
    batch_size: int = 16,
    greedy: bool = True,
) -> list[tuple[list[int], list[int]]]:
    """Generate for the env's examples at ``indices`` with the env's prompts and limits.

    Returns ``(prompt_ids, generated_ids)`` pairs; each generation is cut after its first EOS
    (kept).
    """
    sequences = []
    device = next(lm.parameters()).device
    for start in range(0, len(indices), batch_size):
        prompts = [
            env.prompts.build(env.examples[i])[0] for i in indices[start : start + batch_size]
        ]
        width = max(map(len, prompts))
        ids = th.tensor([[env.pad_token_id] * (width - len(p)) + p for p in prompts], device=device)
        mask = th.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
        out = lm.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=env.max_new_tokens,
            do_sample=not greedy,
            eos_token_id=sorted(env.eos_token_ids),
            pad_token_id=env.pad_token_id,
        )
        for prompt, row in zip(prompts, out[:, width:].tolist(), strict=True):
            cut = next((i + 1 for i, t in enumerate(row) if t in env.eos_token_ids), len(row))
            sequences.append((prompt, row[:cut]))
    return sequences


def generate_texts(
    lm: th.nn.Module,
    env: TextGenEnv,
    indices: Sequence[int],
    batch_size: int = 16,
    greedy: bool = True,
) -> tuple[list[str], list[int]]:
    """Decoded generations (see :func:`generate_sequences`) and their token counts."""
    sequences = generate_sequences(lm, env, indices, batch_size, greedy)
    texts = [env.tokenizer.decode(new, skip_special_tokens=True) for _, new in sequences]
    return texts, [len(new) for _, new in sequences]


def evaluate_lm(
    lm: th.nn.Module,
    env: TextGenEnv,
    n_examples: int | None = None,
    metrics: Sequence[str] = EVAL_METRICS,
    greedy: bool = True,
) -> EvalResult:
    """Generate for the first ``n_examples`` of ``env``'s data and score every metric.

    Args:
        lm: The causal LM to generate with.
        env: Its prompts, limits and examples are used.
        n_examples: How many examples (an int >= 1; more than the data has means all);
            None: all.
        metrics: Reward names to score with.
        greedy: Greedy decoding (else sampling).

    Raises:
        ConfigError: ``n_examples`` is not None nor an int >= 1.
    """
    if n_examples is not None and (
        isinstance(n_examples, bool)
        or not isinstance(n_examples, (int, np.integer))
        or n_examples < 1
    ):
        raise ConfigError(f"n_examples={n_examples!r} must be an integer >= 1, or None for all.")
    rewards = {name: make_reward(name) for name in metrics}
    indices = list(range(min(n_examples or len(env.examples), len(env.examples))))
    texts, lengths = generate_texts(lm, env, indices, greedy=greedy)
    refs = [env.examples[i].references for i in indices]
    sources = [env.examples[i].source for i in indices]
    results = {
        name: float(np.mean(score(fn, texts, refs, sources)[0])) for name, fn in rewards.items()
    }
    return EvalResult(results, texts, float(np.mean(lengths)))
