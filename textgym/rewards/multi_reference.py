"""How a reward combines its scores against several references: their max or their mean.

``max`` (the default of ROUGE and chrF) credits a generation for matching any one valid
reference; ``mean`` asks it to match all of them on average, which rewards the content the
references share. BLEU by default counts n-grams against all references at once
(``native``, as sacrebleu does), and also accepts ``max`` and ``mean`` of per-reference
sentence BLEU.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

from textgym.errors import ConfigError

MULTI_REFERENCE_RULES = ("max", "mean")


def check_rule(rule: Any, owner: str, rules: Sequence[str] = MULTI_REFERENCE_RULES) -> str:
    """Return ``rule`` if it is one of ``rules``, else raise naming ``owner`` and the options.

    Raises:
        ConfigError: ``rule`` is not one of ``rules``.
    """
    if rule not in rules:
        raise ConfigError(
            f"{owner} multi_reference={rule!r} is unknown; use "
            f"{' or '.join(repr(r) for r in rules)} (how scores against several references "
            "combine: 'max' credits the best match, 'mean' averages over references)."
        )
    return rule


def combine(scores: Sequence[float], rule: str) -> float:
    """The ``max`` or ``mean`` of one generation's scores against each of its references."""
    return float(np.max(scores)) if rule == "max" else float(np.mean(scores))


def with_multi_reference(reward: Any, rule: str | None) -> Any:
    """A copy of ``reward`` combining references by ``rule`` (None: ``reward`` unchanged).

    Raises:
        ConfigError: ``reward`` has no multi-reference rule (only ROUGE, BLEU and chrF
            have one), or ``rule`` is unknown to it.
    """
    if rule is None:
        return reward
    name = getattr(reward, "name", type(reward).__name__)
    if not hasattr(reward, "multi_reference"):
        raise ConfigError(
            f"Reward {name!r} has no multi-reference rule; multi_reference (--multi-reference) "
            "applies to rouge1, rouge2, rougeL, rougeLsum, bleu and chrf. Leave it unset for "
            f"{name!r}, or score it in a separate call."
        )
    changed = copy.copy(reward)
    changed.multi_reference = check_rule(rule, name, type(reward).MULTI_REFERENCE_RULES)
    return changed
