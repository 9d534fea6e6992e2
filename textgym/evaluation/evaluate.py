"""Evaluate a policy's LM on held-out examples: text metrics, drift from the reference, samples."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch as th

from textgym.env import TextGenEnv
from textgym.errors import ConfigError
from textgym.evaluation.generation import (
    Restriction,
    Sequences,
    decode,
    generate_batches,
    generate_sequences,
)
from textgym.evaluation.kl_to_initial import batch_drift, pooled_drift
from textgym.evaluation.scores import corpus_bleu, per_example_scores, sampled_scores
from textgym.evaluation.text_signals import copy_rate, repetition
from textgym.rewards import RewardFunction, make_reward, needs_references

if TYPE_CHECKING:
    from textgym.policies.sampling import SamplingConfig

#: Prompts per ``generate`` call of an evaluation (see benchmarks/bench_eval.py).
EVAL_BATCH_SIZE = 16
EVAL_METRICS = ("rouge1", "rouge2", "rougeL", "rougeLsum", "bleu", "chrf")
# A reference model and the context it runs in (see textgym.policies.kl_penalty.frozen_reference).
Reference = tuple[th.nn.Module, Callable[[], AbstractContextManager]]


@dataclass
class EvalResult:
    """One evaluation of an LM on held-out examples.

    Attributes:
        metrics: The mean over examples of every ``per_example`` entry, plus the
            corpus-level ``corpus_bleu`` and ``perplexity`` (of the greedy outputs under the
            reference model: ``exp`` of the token-pooled NLL).
        generations: The greedy outputs, in example order.
        mean_new_tokens: Mean generated tokens per example (EOS included).
        per_example: Metric -> one value per example (NaN: undefined there): each reward
            on the greedy output; ``own_reward`` (the training reward); ``mean_new_tokens``;
            ``copy_rate`` and ``repetition`` (see :mod:`textgym.evaluation.text_signals`);
            ``kl_to_init`` and ``kl_to_init_exact`` (per-token log-ratio and exact KL to the
            reference, nats); ``ref_nll`` (per-token NLL under the reference, the
            log-perplexity); with samples, ``<metric>_sample_mean`` and
            ``<metric>_best_of_n`` over the ``samples`` samples of each prompt.
        bleu_stats: Each example's BLEU sufficient statistics (see
            :func:`~textgym.evaluation.scores.corpus_bleu`), for a corpus BLEU bootstrap.
        example_ids: The evaluated examples' ids (to pair evaluations).
        samples: Samples per prompt of the sampled evaluation (0: greedy only).
    """

    metrics: dict[str, float]
    generations: list[str]
    mean_new_tokens: float
    per_example: dict[str, list[float]] = field(default_factory=dict)
    bleu_stats: list[list[float]] = field(default_factory=list)
    example_ids: list[str] = field(default_factory=list)
    samples: int = 0


def evaluate_lm(
    lm: th.nn.Module,
    env: TextGenEnv,
    n_examples: int | None = None,
    metrics: Sequence[str] = EVAL_METRICS,
    *,
    reference: Reference | th.nn.Module | None = None,
    own_reward: RewardFunction | str | None = None,
    samples: int = 0,
    sampling: SamplingConfig | None = None,
    seed: int = 0,
    restrict: Restriction | None = None,
    batch_size: int = EVAL_BATCH_SIZE,
) -> EvalResult:
    """Generate greedily for the first ``n_examples`` of ``env``'s data and score them.

    Args:
        lm: The causal LM to generate with.
        env: Its prompts, limits and examples are used.
        n_examples: How many examples (an int >= 1; more than the data has means all);
            None: all.
        metrics: Reward names scored per example. On examples without references (a
            prompt-only dataset) those that read references, and ``corpus_bleu``, are NaN.
        reference: The initial model the KL and the perplexity are measured against (a
            model, or a ``(model, context)`` pair); None: ``lm`` is its own reference.
        own_reward: The reward trained on, scored as ``own_reward`` (None: not scored).
        samples: Also sample this many outputs per prompt and score their mean and best.
        sampling: Temperature, top-k and top-p of those samples (None: the LM's own).
        seed: Seeds the samples; the caller's random state is left as it was.
        restrict: The trained policy's token restriction
            (``policy.generation_restriction()``: its ``bad_words`` and ``allowed_tokens``),
            applied to the greedy outputs and the samples; None: unrestricted.
        batch_size: Prompts per ``generate`` call (length-sorted); the LM's log-probs for the
            KL and the perplexity come from the same pass.

    Raises:
        ConfigError: ``n_examples`` is not None nor an int >= 1, or ``samples`` is not an
            int >= 0.
    """
    _check_count("n_examples", n_examples, 1, none_ok=True)
    _check_count("samples", samples, 0)
    _check_count("batch_size", batch_size, 1)
    rewards = {name: make_reward(name) for name in metrics}
    if own_reward is not None:
        rewards["own_reward"] = make_reward(own_reward)
    indices = list(range(min(n_examples or len(env.examples), len(env.examples))))
    examples = [env.examples[i] for i in indices]
    refs, sources = [ex.references for ex in examples], [ex.source for ex in examples]
    sequences, drift, nll = _generate_and_drift(lm, env, indices, reference, restrict, batch_size)
    texts = decode(env, sequences)
    if not all(refs):  # prompt-only data: the metrics that read references are NaN
        rewards = {name: fn for name, fn in rewards.items() if not needs_references(fn)}
    per_example = per_example_scores(rewards, texts, refs, sources)
    for name in metrics:
        per_example.setdefault(name, np.full(len(texts), np.nan))
    per_example["mean_new_tokens"] = np.array([len(new) for _, new in sequences], float)
    per_example["copy_rate"] = np.array(
        [copy_rate(t, s) for t, s in zip(texts, sources, strict=True)]
    )
    per_example["repetition"] = np.array([repetition(t) for t in texts])
    per_example.update(drift)
    if samples:
        drawn = _sample(lm, env, indices, samples, sampling, seed, restrict, batch_size)
        per_example.update(sampled_scores(rewards, drawn, refs, sources, samples))
    bleu, stats = corpus_bleu(texts, refs) if all(refs) else (math.nan, [])
    means = {name: _nanmean(values) for name, values in per_example.items()}
    means.update(corpus_bleu=bleu, perplexity=math.exp(nll))
    return EvalResult(
        metrics=means,
        generations=texts,
        mean_new_tokens=means["mean_new_tokens"],
        per_example={name: [float(v) for v in values] for name, values in per_example.items()},
        bleu_stats=stats,
        example_ids=[ex.id for ex in examples],
        samples=samples,
    )


def _generate_and_drift(
    lm: th.nn.Module,
    env: TextGenEnv,
    indices: Sequence[int],
    reference: Reference | th.nn.Module | None,
    restrict: Restriction | None,
    batch_size: int,
) -> tuple[Sequences, dict[str, np.ndarray], float]:
    """Greedy generations; per example the KL (log-ratio, exact) and NLL under ``reference``.

    The trained model's log-probs come from the generation pass itself, so only the
    reference runs a second forward pass (none when ``reference`` is None). Also returns the
    token-pooled NLL.
    """
    model, mode = reference if isinstance(reference, tuple) else (reference, nullcontext)
    sequences: Sequences = [([], [])] * len(indices)
    sums: dict[int, dict[str, float]] = {}
    for batch in generate_batches(lm, env, indices, batch_size, restrict=restrict, log_probs=True):
        usable = [j for j, (prompt, new) in enumerate(batch.sequences) if prompt and new]
        pairs = [batch.sequences[j] for j in usable]
        lps = [batch.log_probs[j] for j in usable]
        values = batch_drift(lps, model, pairs, env.vocab_size, mode) if pairs else []
        sums.update(zip((batch.positions[j] for j in usable), values, strict=True))
        for i, pair in zip(batch.positions, batch.sequences, strict=True):
            sequences[i] = pair
    drift = pooled_drift(sequences, sums)
    names = {"kl_to_init": "log_ratio", "kl_to_init_exact": "exact", "ref_nll": "nll"}
    per_example = {key: np.array(drift.per_sequence[name]) for key, name in names.items()}
    return sequences, per_example, drift.nll


def _sample(
    lm: th.nn.Module,
    env: TextGenEnv,
    indices: Sequence[int],
    samples: int,
    sampling: SamplingConfig | None,
    seed: int,
    restrict: Restriction | None,
    batch_size: int,
) -> list[str]:
    """``samples`` sampled outputs for each example at ``indices``, example-major."""
    with _seeded(lm, seed):
        repeated = [i for i in indices for _ in range(samples)]
        drawn = generate_sequences(
            lm, env, repeated, batch_size, greedy=False, sampling=sampling, restrict=restrict
        )
        return decode(env, drawn)


def _check_count(name: str, value: Any, minimum: int, none_ok: bool = False) -> None:
    """Raise a :class:`ConfigError` unless ``value`` is an int >= ``minimum`` (or None)."""
    if value is None and none_ok:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        rest = ", or None for all" if none_ok else ""
        raise ConfigError(f"{name}={value!r} must be an integer >= {minimum}{rest}.")


@contextmanager
def _seeded(lm: th.nn.Module, seed: int) -> Iterator[None]:
    """Run the block with torch's random state seeded by ``seed``, restored on exit."""
    device = next(lm.parameters()).device
    with th.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        th.manual_seed(seed)
        yield


def _nanmean(values: np.ndarray) -> float:
    """The mean of the finite-or-inf values; NaN (no warning) when every value is NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.nanmean(values))
