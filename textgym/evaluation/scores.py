"""Score generations: per example for every reward, corpus BLEU, and n samples per prompt."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from textgym.rewards import RewardFunction, score

# per-example keys of the sampled evaluation: "<metric>_sample_mean", "<metric>_best_of_n"
SAMPLE_MEAN, BEST_OF_N = "_sample_mean", "_best_of_n"


def per_example_scores(
    rewards: Mapping[str, RewardFunction],
    texts: Sequence[str],
    references: Sequence[Sequence[str]],
    sources: Sequence[str],
) -> dict[str, np.ndarray]:
    """Each reward's score of each text, ``name -> (n,)``."""
    return {name: score(fn, texts, references, sources)[0] for name, fn in rewards.items()}


def sampled_scores(
    rewards: Mapping[str, RewardFunction],
    texts: Sequence[str],
    references: Sequence[Sequence[str]],
    sources: Sequence[str],
    samples: int,
) -> dict[str, np.ndarray]:
    """Per example, the mean and the best of its ``samples`` samples' scores.

    Args:
        rewards: Name -> reward.
        texts: ``samples`` consecutive generations per example (example-major).
        references: One reference list per example.
        sources: One source per example.
        samples: Samples per example.

    Returns:
        ``"<name>_sample_mean"`` and ``"<name>_best_of_n"`` -> ``(n_examples,)`` arrays.
    """
    repeat = [item for item in references for _ in range(samples)]
    repeat_sources = [item for item in sources for _ in range(samples)]
    out = {}
    for name, values in per_example_scores(rewards, texts, repeat, repeat_sources).items():
        table = values.reshape(len(references), samples)  # (examples, samples)
        out[name + SAMPLE_MEAN] = table.mean(axis=1)
        out[name + BEST_OF_N] = table.max(axis=1)
    return out


def corpus_bleu(
    texts: Sequence[str], references: Sequence[Sequence[str]]
) -> tuple[float, list[list[float]]]:
    """Corpus BLEU (sacrebleu's ``corpus_score``) / 100, and each example's statistics.

    Default corpus settings (``13a`` tokens, ``exp`` smoothing, order 4). An example's
    statistics are ``[sys_len, ref_len, matches_1..4, totals_1..4]``; corpus BLEU is
    computed from their sums (:func:`bleu_from_stats`), which the bootstrap resamples.
    Examples may have different numbers of references.
    """
    from sacrebleu.metrics import BLEU

    bleu = BLEU()
    width = max(len(refs) for refs in references)
    streams = [[refs[k] if k < len(refs) else None for refs in references] for k in range(width)]
    corpus = bleu.corpus_score(list(texts), streams).score / 100.0
    stats = []
    for text, refs in zip(texts, references, strict=True):
        one = bleu.corpus_score([text], [[ref] for ref in refs])
        stats.append([one.sys_len, one.ref_len, *one.counts, *one.totals])
    return corpus, stats


def bleu_from_stats(stats: np.ndarray) -> float:
    """Corpus BLEU / 100 from summed sufficient statistics (see :func:`corpus_bleu`)."""
    from sacrebleu.metrics import BLEU

    s = [int(v) for v in stats]
    return BLEU.compute_bleu(s[2:6], s[6:10], s[0], s[1], smooth_method="exp").score / 100.0
