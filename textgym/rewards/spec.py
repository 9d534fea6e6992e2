"""Reward specs: one text grammar for ``make_reward``, ``textgym train`` and ``textgym compare``.

Grammar (spaces around parts and weights are ignored)::

    spec    := reward | term ("," term)*
    term    := reward ":" WEIGHT
    reward  := NAME | "evaluate:" PATH_OR_NAME | "rm:" PATH_OR_NAME | "perplexity:" MODEL
             | "clf:" PATH_OR_NAME ["[" OPTION ("," OPTION)* "]"]
    OPTION  := "label=" NAME_OR_INDEX | "transform=" prob|not_prob|logprob|logit
             | "text=" response|prompt+response
    WEIGHT  := a number, as Python's float() reads it: 0.5, -0.1, 1e-3

- A spec is one reward without a weight (``rougeL``, ``evaluate:exact_match``,
  ``rm:runs/rm``), or a weighted sum in which **every** part has a weight
  (``rougeL:0.7,chrf:0.3``, ``rm:runs/rm:0.5,rougeL:0.5``). ``rougeL:0.7`` alone is a
  one-part sum, 0.7 times rougeL.
- A part's weight is the text after its **last** ``:``, when that text is a number. So
  paths may contain ``:`` (``rm:C:/models/rm:0.5`` is that folder, weight 0.5), but a path
  ending in ``:NUMBER`` must be passed as an object (``RewardModel(path)``).
- ``perplexity:MODEL`` scores fluency under that LM (``perplexity`` alone: the embedded
  default). As everywhere, a number after the last ``:`` is a weight: ``perplexity:0.1``
  is the default LM with weight 0.1, ``perplexity:gpt2:0.1`` is GPT-2 with weight 0.1.
- ``clf:MODEL[label=toxic,transform=not_prob]`` scores one label of a text classifier
  (:class:`~textgym.rewards.ClassifierReward`); its options sit in brackets at the end of
  the reward, before any weight: ``rougeL:0.8,clf:unitary/toxic-bert[label=toxic,
  transform=not_prob]:0.2``.
- ``,`` separates parts everywhere but inside ``[...]``, so a name or path in a spec
  cannot contain a comma, and a ``[`` must be closed.

``textgym compare --rewards`` takes a list: ``rouge1,rougeL,bleu`` (no weights) is three
rewards, while a text whose parts have weights is one weighted sum (see
:func:`split_reward_list`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from textgym.errors import ConfigError
from textgym.rewards.base import RewardFunction
from textgym.rewards.classifier import FIX as CLASSIFIER_FIX
from textgym.rewards.classifier_spec import (
    CLF_PREFIX,
    EXAMPLE,
    RM_PREFIX,
    parse_classifier_spec,
    parse_rm_spec,
)
from textgym.rewards.registry import PERPLEXITY_PREFIX, PREFIXES, list_rewards, make_single_reward
from textgym.rewards.scoring_model import check_model_path
from textgym.rewards.weighted import WeightedSum

_EXAMPLE_WEIGHT = "0.5"


def make_reward(spec: Any) -> RewardFunction:
    """Build a reward from a spec string, a weight mapping or an object.

    Args:
        spec: One of: a spec string (see :func:`parse_reward_spec`): a registered name
            (``"rougeL"``), ``"evaluate:PATH_OR_NAME"`` (an :class:`EvaluateMetric`),
            ``"rm:PATH_OR_NAME"`` (a :class:`RewardModel`, loaded on first use),
            ``"clf:PATH_OR_NAME[label=...]"`` (a :class:`ClassifierReward`) or a weighted
            sum ``"rougeL:0.7,chrf:0.3"``; a mapping of reward (name or object) to weight
            (a :class:`WeightedSum`); an object with ``__call__`` and ``name`` (returned as
            is); a plain function (a :class:`CallableReward`).

    Raises:
        UnknownNameError: an unregistered name (the message suggests close ones).
        ConfigError: a malformed spec string, or any other kind of ``spec``.
    """
    if isinstance(spec, str):
        spec = parse_reward_spec(spec)
    if isinstance(spec, Mapping):
        return WeightedSum(spec)
    return make_single_reward(spec)


def parse_reward_spec(text: str) -> str | dict[str, float]:
    """Parse a reward spec (grammar in this module's docstring) for :func:`make_reward`.

    ``"rougeL"`` -> ``"rougeL"``; ``"rm:runs/rm"`` -> ``"rm:runs/rm"``;
    ``"rougeL:0.7,chrf:0.3"`` -> ``{"rougeL": 0.7, "chrf": 0.3}``. Names are not looked up
    here (:func:`make_reward` does that).

    Raises:
        ConfigError: an empty spec or part, several parts of which some or all lack a
            weight, an empty weight, a reward given twice, an unclosed ``[``, or bad
            ``clf:`` options.
    """
    parts = _parts(text)
    missing = [reward for reward, weight in parts if weight is None]
    if not missing:
        return _weights([(reward, weight) for reward, weight in parts if weight is not None], text)
    if len(parts) == 1:
        return parts[0][0]
    fixed = ",".join(
        f"{reward}:{_EXAMPLE_WEIGHT if weight is None else f'{weight:g}'}"
        for reward, weight in parts
    )
    which = ", ".join(repr(reward) for reward in missing)
    compare = (
        f" To train one run per reward, use `textgym compare --rewards {text}`."
        if len(missing) == len(parts)
        else ""
    )
    raise ConfigError(
        f"Reward spec {text!r}: {which} {'has' if len(missing) == 1 else 'have'} no weight. "
        f"In a weighted sum every part needs one, as NAME:WEIGHT: write e.g. {fixed!r} "
        f"(any numbers; a negative weight is a penalty).{compare}"
    )


def split_reward_list(text: str) -> tuple[str, ...]:
    """Split a ``textgym compare --rewards`` value into reward specs, one per run.

    A comma-separated list without weights is several rewards; a text whose parts have
    weights is one weighted sum: ``"rouge1,rougeL"`` -> ``("rouge1", "rougeL")``;
    ``"rougeL:0.5,chrf:0.5"`` -> ``("rougeL:0.5,chrf:0.5",)``.

    Raises:
        ConfigError: an empty part, or a weighted sum with a part lacking a weight.
    """
    parts = _parts(text)
    if all(weight is None for _, weight in parts):
        return tuple(reward for reward, _ in parts)
    parse_reward_spec(text)
    return (text.strip(),)


def _parts(text: str) -> list[tuple[str, float | None]]:
    """``(reward, weight or None)`` for each comma-separated part of ``text``."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(
            f"Reward spec {text!r} is empty; write a name such as 'rougeL', or a weighted sum "
            f"such as 'rougeL:0.7,chrf:0.3'."
        )
    parts = [_split_weight(part.strip(), text) for part in _split_parts(text)]
    for reward, _ in parts:
        if reward.startswith(CLF_PREFIX):
            parse_classifier_spec(reward)  # syntax only; the model loads in make_reward
        elif reward.startswith(RM_PREFIX) and reward.endswith("]"):
            parse_rm_spec(reward)
    return parts


def check_model_folders(text: str) -> None:
    """Raise unless each local ``rm:``/``clf:`` folder of spec ``text`` holds a model.

    The command line calls it as it parses ``--reward``, before anything loads.

    Raises:
        ConfigError: a bad spec, a missing folder, or one without a config and weights.
    """
    for reward, _ in _parts(text):
        if reward.startswith(CLF_PREFIX):
            check_model_path(parse_classifier_spec(reward)[0], CLASSIFIER_FIX, "classifier")
        elif reward.startswith(RM_PREFIX) and reward[len(RM_PREFIX) :].strip():
            check_model_path(parse_rm_spec(reward)[0])


def _split_parts(text: str) -> list[str]:
    """Split ``text`` at the commas outside ``[...]`` (the options of a ``clf:`` reward)."""
    parts: list[str] = []
    depth = start = 0
    for i, char in enumerate(text):
        if char == "[":
            depth += 1
        elif char == "]" and depth:
            depth -= 1
        elif char == "," and not depth:
            parts.append(text[start:i])
            start = i + 1
    if depth:
        raise ConfigError(
            f"Reward spec {text!r} opens a '[' it never closes; options go in brackets at "
            f"the end of a reward, before its weight, e.g. 'rougeL:0.8,{EXAMPLE}:0.2'."
        )
    return [*parts, text[start:]]


def _split_weight(part: str, text: str) -> tuple[str, float | None]:
    if not part:
        raise ConfigError(
            f"Reward spec {text!r} has an empty part (a comma too many); separate parts with "
            f"single commas, e.g. 'rougeL:0.7,chrf:0.3'."
        )
    head, sep, tail = part.rpartition(":")
    head = head.strip()
    if not sep or f"{head}:" in PREFIXES:  # "rm:x" is a reward model, not a weight
        return part, None
    if not tail.strip():
        raise ConfigError(
            f"Reward spec {text!r}: {part!r} has an empty weight; write e.g. "
            f"'{head}:{_EXAMPLE_WEIGHT}', or {head!r} alone for the unweighted reward."
        )
    try:
        weight = float(tail)
    except ValueError:  # not a number: the ':' belongs to the name or path ...
        if head in list_rewards() and f"{head}:" != PERPLEXITY_PREFIX:  # perplexity:MODEL
            raise ConfigError(
                f"Reward spec {text!r}: the weight {tail.strip()!r} of {head!r} is not a "
                f"number; write e.g. '{head}:{_EXAMPLE_WEIGHT}', or {head!r} alone."
            ) from None
        return part, None
    if not math.isfinite(weight):
        raise ConfigError(
            f"Reward spec {text!r}: the weight of {head!r} is {tail.strip()!r}; a weight "
            f"must be a finite number, e.g. '{head}:{_EXAMPLE_WEIGHT}'."
        )
    return head, weight


def _weights(parts: list[tuple[str, float]], text: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for reward, weight in parts:
        if not reward:
            raise ConfigError(
                f"Reward spec {text!r} has a weight without a reward; write NAME:WEIGHT, e.g. "
                f"'rougeL:0.7,chrf:0.3'."
            )
        if reward in weights:
            raise ConfigError(
                f"Reward spec {text!r} gives {reward!r} twice; give each reward once, with "
                f"the total weight."
            )
        weights[reward] = weight
    return weights
