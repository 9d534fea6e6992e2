"""A learned reward: a Hugging Face sequence-classification model with one output logit.

Loading the model once and scoring texts in batches (:mod:`~textgym.rewards.scoring_model`)
are shared with :class:`textgym.rewards.ClassifierReward`, which reads any label of a classifier.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from textgym.devices import check_device
from textgym.errors import ConfigError
from textgym.reward_models.encoding import format_pair
from textgym.reward_models.length_fit import load_length_coef
from textgym.reward_models.lengths import word_counts
from textgym.rewards.base import Reward
from textgym.rewards.batch_checks import check_lengths
from textgym.rewards.scoring_model import (
    WithoutLoadedModel,
    classifier_logits,
    is_model_spec,
    load_scorer,
    model_and_tokenizer,
)


class RewardModel(WithoutLoadedModel, Reward):
    """Score each (source, generation) pair with a single-logit classifier.

    The text ``format_pair(prompt, generation)`` is tokenised as one sequence (not a
    tokenizer text pair), right-padded with the model's ``pad_token_id`` and run through
    ``model(...).logits[:, 0]`` in batches under ``torch.no_grad``; the reward is that raw
    logit, or ``(logit - mean) / std`` with ``normalize=(mean, std)``. With
    ``length_penalty=c`` the logit first loses ``c`` per word of the generation
    (``logit - c * len(generation.split())``), so a model that learned "longer is better"
    stops paying for length. ``prompt`` is the source, or
    ``prompt_template.format(source=source)``. References are not used. A text
    longer than ``max_length`` tokens loses tokens from the start (after any leading special
    token such as ``[CLS]``), so the response at the end is always read. Lone UTF-16
    surrogates, which tokenizers reject, are read as U+FFFD.

    A model given by name or path is loaded on first use, once per process and device (and
    again if the folder's files change), shared by instances and never pickled
    (``SubprocVecEnv`` workers load their own). A model object is used as is (pickled with
    the reward) and put in eval mode on first use.

    Args:
        model: A local folder (e.g. written by ``textgym train-rm``), a Hugging Face name
            (``org/name``, needs internet), or a model object with ``config.num_labels == 1``
            (e.g. ``AutoModelForSequenceClassification``).
        tokenizer: A tokenizer, name or path; None: loaded from ``model`` (a name or path).
        prompt_template: A ``str.format`` template with a ``{source}`` field; None: the source.
        batch_size: Texts per forward pass.
        device: A torch device; None or ``"auto"``: the model object's device, else CUDA if
            available, else CPU.
        normalize: ``(mean, std)`` to standardise the logit; None: the raw logit.
        max_length: Token limit per text; None: the tokenizer's or the model's limit.
        name: The reward's name (default ``"rm:<folder name>"``, or ``"rm"`` for an object).
        length_penalty: None (no correction), a number ``c`` (score lost per word), or
            ``"fit"``: the ``c`` that ``textgym train-rm`` fitted on its training texts and
            saved in the model folder's ``metrics.json`` (see
            :mod:`textgym.reward_models.length_fit`); read here, so a folder without a fit
            fails at once.

    Raises:
        ConfigError: bad settings, a model object without a tokenizer, a missing folder
            whose spec cannot be a Hugging Face name (absolute, starting with ``.`` or ``~``,
            or holding two ``/``), a device that is not present here, ``length_penalty="fit"``
            for a model that is not a folder with a saved fit, or (on first use) a
            model that cannot be loaded, has more than one output, or lacks a pad token id.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        prompt_template: str | None = None,
        batch_size: int = 16,
        device: str | None = None,
        normalize: tuple[float, float] | None = None,
        max_length: int | None = None,
        name: str | None = None,
        length_penalty: float | str | None = None,
    ) -> None:
        is_spec = is_model_spec(model)
        self.model, self.tokenizer = model_and_tokenizer("RewardModel", model, tokenizer)
        _check_settings(prompt_template, batch_size, normalize, max_length)
        self.prompt_template = prompt_template
        self.batch_size, self.max_length = batch_size, max_length
        self.device = check_device(device, "RewardModel")
        self.normalize = None if normalize is None else (float(normalize[0]), float(normalize[1]))
        self.length_penalty = _length_coef(length_penalty, self.model)
        self.name = name or (f"rm:{Path(str(model)).name}" if is_spec else "rm")
        self._loaded: tuple[Any, Any] | None = None

    def __call__(
        self,
        generations: Sequence[str],
        references: Sequence[Sequence[str]],
        sources: Sequence[str],
    ) -> np.ndarray:
        """Return the (normalised) logit of each pair, shape ``(n,)``."""
        check_lengths(self.name, generations, references, sources)
        pairs = zip(generations, sources, strict=True)
        texts = [format_pair(self._prompt(src), gen) for gen, src in pairs]
        logits = self.logits(texts)
        if self.length_penalty:
            logits = logits - self.length_penalty * word_counts(generations)
        if self.normalize is not None:
            mean, std = self.normalize
            logits = (logits - mean) / std
        return logits

    def _prompt(self, source: str) -> str:
        return (
            source if self.prompt_template is None else self.prompt_template.format(source=source)
        )

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Return the model's logit for each already formatted text, shape ``(n,)``."""
        if not texts:
            return np.zeros(0, dtype=np.float64)
        model, tokenizer = self._get_model()
        return classifier_logits(model, tokenizer, texts, self.batch_size, self.max_length)[:, 0]

    def _get_model(self) -> tuple[Any, Any]:
        if self._loaded is None:
            self._loaded = self._load()
        return self._loaded

    def _load(self) -> tuple[Any, Any]:
        model, tokenizer = load_scorer(self.model, self.tokenizer, self.device)
        _check_model(model, self.name)
        return model, tokenizer

    def __repr__(self) -> str:
        extra = f", length_penalty={self.length_penalty!r}" if self.length_penalty else ""
        return f"RewardModel({self.name!r}, normalize={self.normalize!r}{extra})"


def _check_model(model: Any, name: str) -> None:
    config = getattr(model, "config", None)
    labels = getattr(config, "num_labels", None)
    if labels != 1:
        raise ConfigError(
            f"Reward model {name!r} has num_labels={labels}; a reward model needs exactly one "
            f"output logit. Train or load it with AutoModelForSequenceClassification(..., "
            f"num_labels=1)."
        )
    if getattr(config, "pad_token_id", None) is None:
        raise ConfigError(
            f"Reward model {name!r} has no config.pad_token_id, so batches cannot be padded. "
            f"Set model.config.pad_token_id = tokenizer.pad_token_id (or eos_token_id)."
        )


def _check_settings(
    template: str | None,
    batch_size: int,
    normalize: tuple[float, float] | None,
    max_length: int | None,
) -> None:
    if template is not None and not _formats_source(template):
        raise ConfigError(
            f"prompt_template={template!r} must be a string whose only field is '{{source}}', "
            f"e.g. 'POST: {{source}}' (write literal braces as '{{{{' and '}}}}')."
        )
    for label, value in (("batch_size", batch_size), ("max_length", max_length)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ConfigError(f"{label}={value!r} must be a positive integer.")
    if normalize is not None and not _is_mean_std(normalize):
        raise ConfigError(
            f"normalize={normalize!r} must be a (mean, std) pair of numbers with std > 0, or "
            f"None for the raw logit."
        )


def _formats_source(template: Any) -> bool:
    """Whether ``template`` is a format string whose fields are all ``{source}``."""
    import string

    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except (TypeError, ValueError):
        return False
    return fields == {"source"}


def _is_mean_std(value: Any) -> bool:
    try:
        mean, std = (float(v) for v in value)
    except (TypeError, ValueError):
        return False
    return bool(np.isfinite(mean) and np.isfinite(std) and std > 0)


def _length_coef(setting: float | str | None, model: Any) -> float:
    """The per-word penalty: 0.0, the number given, or the fit saved in a local folder."""
    if setting is None:
        return 0.0
    if setting == "fit":
        if not (isinstance(model, str) and os.path.isdir(model)):
            raise ConfigError(
                f"length_penalty='fit' reads the coefficient saved by `textgym train-rm` in a "
                f"local model folder, but the model is {model!r}; pass a train-rm folder, or "
                f"the coefficient as a number (e.g. length_penalty=0.02)."
            )
        return load_length_coef(model)
    is_number = isinstance(setting, (int, float)) and not isinstance(setting, bool)
    if not (is_number and np.isfinite(setting)):
        raise ConfigError(
            f"length_penalty={setting!r} must be None, 'fit' or a finite number (score lost "
            f"per word, e.g. 0.02)."
        )
    return float(setting)
