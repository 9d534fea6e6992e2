"""The metrics a comparison reports, grouped as the report shows them."""

from __future__ import annotations

from textgym.evaluation import EVAL_METRICS
from textgym.evaluation.scores import BEST_OF_N, SAMPLE_MEAN

# Held-out text metrics of the greedy outputs.
HELD_OUT = (*EVAL_METRICS, "corpus_bleu")
# How the policy behaves: its own reward, drift from the initial model, length, diversity.
BEHAVIOUR = (
    "own_reward",
    "kl_to_init_exact",
    "kl_to_init",
    "ref_nll",
    "perplexity",
    "mean_new_tokens",
    "copy_rate",
    "repetition",
    "distinct_1",
    "distinct_2",
)
# Metrics of greedy outputs that are identical in every run of the initial policy.
SCORED = ("own_reward", *EVAL_METRICS)


def sampled(suffix: str) -> tuple[str, ...]:
    """The sampled metrics with ``suffix`` (``SAMPLE_MEAN`` or ``BEST_OF_N``), own reward first."""
    return tuple(name + suffix for name in SCORED)


def rankable(samples: int) -> tuple[str, ...]:
    """Metrics configurations can be ranked by (higher is better), given the samples per prompt."""
    extra = (*sampled(SAMPLE_MEAN), *sampled(BEST_OF_N)) if samples else ()
    return ("own_reward", *HELD_OUT, *extra)


def is_sampled(metric: str) -> bool:
    """Whether ``metric`` comes from the sampled evaluation (it varies with the seed)."""
    return metric.endswith((SAMPLE_MEAN, BEST_OF_N))
