"""Reward names: register factories, list them, and build one (unweighted) reward."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from textgym.errors import ConfigError, unknown_name
from textgym.rewards.base import RewardFunction
from textgym.rewards.canaries import LENGTH_CAP, CopyCanary, KeywordCanary, LengthCanary
from textgym.rewards.classifier import ClassifierReward
from textgym.rewards.classifier_spec import (
    CLF_PREFIX,
    RM_PREFIX,
    parse_classifier_spec,
    parse_rm_spec,
)
from textgym.rewards.embedding import EmbeddingSimilarity
from textgym.rewards.evaluate_metric import EvaluateMetric
from textgym.rewards.length import LengthPenalty
from textgym.rewards.meteor import Meteor
from textgym.rewards.perplexity import Perplexity
from textgym.rewards.reward_model import RewardModel
from textgym.rewards.rouge import ROUGE_VARIANTS, Rouge
from textgym.rewards.sacrebleu_metrics import Bleu, Chrf
from textgym.rewards.user import CallableReward
from textgym.rewards.word_count import WordCount
from textgym.rewards.zero import ZeroReward

EVALUATE_PREFIX = "evaluate:"
PREFIXES = (EVALUATE_PREFIX, RM_PREFIX, CLF_PREFIX)
# "perplexity:MODEL" names the LM; unlike the prefixes above, "perplexity:0.5" is a weight.
PERPLEXITY_PREFIX = "perplexity:"
_FACTORIES: dict[str, Callable[[], RewardFunction]] = {}

_ACCEPTED = (
    "a registered name (see list_rewards()), 'evaluate:PATH_OR_NAME', 'rm:PATH_OR_NAME', "
    "'clf:PATH_OR_NAME[label=NAME]', 'perplexity:MODEL', a "
    "weighted sum such as 'rougeL:0.7,chrf:0.3' or {'rougeL': 0.7, 'chrf': 0.3}, a reward "
    "object with a `name`, or a function(generations, references, sources)"
)


def register_reward(
    name: str, factory: Callable[[], RewardFunction], *, overwrite: bool = False
) -> None:
    """Register ``factory`` (a zero-argument callable returning a reward) under ``name``.

    Args:
        name: The name :func:`make_reward` will accept.
        factory: Builds a fresh reward; called on every :func:`make_reward`. Import heavy
            libraries inside it (or inside the reward) so registering stays cheap.
        overwrite: Replace an existing entry instead of raising.

    Raises:
        ConfigError: empty name, a name starting with ``'evaluate:'``, ``'rm:'``, ``'clf:'``
            or ``'perplexity:'`` or holding a comma (the separator of weighted sums,
            ``rougeL:0.7,chrf:0.3``), a factory that is not callable, or a name already
            registered without ``overwrite=True``.
    """
    reserved = (*PREFIXES, PERPLEXITY_PREFIX)
    if not isinstance(name, str) or not name.strip() or name.startswith(reserved) or "," in name:
        raise ConfigError(
            f"Reward name {name!r} is invalid: use a non-empty string without commas, not "
            f"starting with {EVALUATE_PREFIX!r}, {RM_PREFIX!r}, {CLF_PREFIX!r} or "
            f"{PERPLEXITY_PREFIX!r} (they load an evaluate module, a reward model, a classifier "
            f"and a language model)."
        )
    if not callable(factory):
        raise ConfigError(
            f"The factory for reward {name!r} is a {type(factory).__name__}, not callable; pass "
            f"a zero-argument callable returning the reward, e.g. functools.partial(MyReward, ...)."
        )
    if name in _FACTORIES and not overwrite:
        raise ConfigError(
            f"Reward {name!r} is already registered; pick another name or pass overwrite=True."
        )
    _FACTORIES[name] = factory


def list_rewards() -> list[str]:
    """Return the registered reward names, sorted."""
    return sorted(_FACTORIES)


def make_single_reward(spec: Any) -> RewardFunction:
    """Build one reward from a name, a prefixed string (``'rm:...'``, ...) or an object.

    Strings are not parsed for weights (that is :func:`textgym.rewards.make_reward`'s job);
    this is how :class:`~textgym.rewards.WeightedSum` resolves its parts.

    Args:
        spec: A registered name (``"rougeL"``, ``"bleu"``, ...); ``"evaluate:PATH_OR_NAME"``
            (an :class:`EvaluateMetric`); ``"rm:PATH_OR_NAME"`` (a :class:`RewardModel`,
            loaded on first use); ``"clf:PATH_OR_NAME[label=...,transform=...]"`` (a
            :class:`ClassifierReward`); ``"perplexity:MODEL"`` (a :class:`Perplexity` under that
            LM); an object with ``__call__`` and ``name`` (returned as is);
            a plain function (a :class:`CallableReward`).

    Raises:
        UnknownNameError: an unregistered name (the message suggests close ones).
        ConfigError: any other kind of ``spec``.
    """
    if isinstance(spec, str):
        return _from_name(spec)
    if isinstance(spec, type):
        raise ConfigError(
            f"make_reward got the class {spec.__name__}, not an instance; pass "
            f"{spec.__name__}(...) instead."
        )
    if callable(spec):
        return spec if isinstance(getattr(spec, "name", None), str) else CallableReward(spec)
    raise ConfigError(f"Cannot make a reward from a {type(spec).__name__}; pass {_ACCEPTED}.")


def _from_name(name: str) -> RewardFunction:
    if name.startswith(EVALUATE_PREFIX):
        path = name[len(EVALUATE_PREFIX) :]
        if not path.strip():
            raise ConfigError(
                f"{name!r} names no module; write 'evaluate:exact_match' or "
                f"'evaluate:path/to/metric.py'."
            )
        return EvaluateMetric(path)
    if name.startswith(RM_PREFIX):
        if not name[len(RM_PREFIX) :].strip():
            raise ConfigError(
                f"{name!r} names no model; write 'rm:path/to/reward_model' (a folder saved "
                f"by `textgym train-rm` or save_pretrained) or 'rm:HF_NAME'."
            )
        path, options = parse_rm_spec(name)
        return RewardModel(path, **options)
    if name.startswith(CLF_PREFIX):
        model, options = parse_classifier_spec(name)
        return ClassifierReward(model, **options)
    if name.startswith(PERPLEXITY_PREFIX):
        model = name[len(PERPLEXITY_PREFIX) :]
        if not model.strip():
            raise ConfigError(
                f"{name!r} names no model; write 'perplexity' for the embedded default LM, or "
                f"'perplexity:MODEL' with an embedded name, a Hugging Face name or a folder."
            )
        return Perplexity(model.strip())
    if name not in _FACTORIES:
        raise unknown_name(
            "reward",
            name,
            list_rewards(),
            fix=f"Register it with textgym.rewards.register_reward(name, factory), or use "
            f"'{EVALUATE_PREFIX}PATH_OR_NAME' for a Hugging Face evaluate metric.",
        )
    reward = _FACTORIES[name]()
    if not callable(reward):
        raise ConfigError(
            f"The factory registered as {name!r} returned a {type(reward).__name__}, not a "
            f"callable reward; make it return one (see textgym.rewards.RewardFunction)."
        )
    return reward


for _variant in ROUGE_VARIANTS:
    register_reward(_variant, partial(Rouge, _variant))
register_reward("bleu", Bleu)
register_reward("chrf", Chrf)
register_reward("length", LengthPenalty)
register_reward("meteor", Meteor)
register_reward("perplexity", Perplexity)
register_reward("embedding", EmbeddingSimilarity)
register_reward("none", ZeroReward)
register_reward("word_count", WordCount)
register_reward("canary_length", LengthCanary)
register_reward("canary_length_capped", partial(LengthCanary, LENGTH_CAP, LENGTH_CAP))
register_reward("canary_copy", CopyCanary)
register_reward("canary_keyword", KeywordCanary)
