"""Classifier rewards: the probability of one label of a text classifier (toxicity, sentiment).

:class:`ClassifierReward` turns any Hugging Face ``AutoModelForSequenceClassification``
with one or more labels into a reward, e.g. ``1 - p(toxic)`` from a toxicity classifier.
As a spec (see :mod:`textgym.rewards.spec`) it is ``clf:PATH_OR_NAME[OPTIONS]``, with the
options ``label=``, ``transform=`` and ``text=``
(:func:`~textgym.rewards.classifier_spec.parse_classifier_spec`)::

    clf:unitary/toxic-bert[label=toxic,transform=not_prob]
    rougeL:0.8,clf:runs/sentiment[label=pos]:0.2
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from textgym.devices import check_device
from textgym.errors import ConfigError, did_you_mean
from textgym.reward_models.encoding import format_pair
from textgym.rewards.base import Reward
from textgym.rewards.batch_checks import check_lengths
from textgym.rewards.classifier_spec import CLF_PREFIX, EXAMPLE, TEXTS, TRANSFORMS
from textgym.rewards.scoring_model import (
    WithoutLoadedModel,
    classifier_logits,
    is_model_spec,
    load_scorer,
    model_and_tokenizer,
)

FIX = (
    f"Pass a folder saved by save_pretrained, or a Hugging Face name (needs internet), "
    f"e.g. '{EXAMPLE}'."
)


class ClassifierReward(WithoutLoadedModel, Reward):
    """Score each generation with one label of a sequence classifier.

    The classifier reads the generation alone (``text="response"``, for toxicity or
    sentiment classifiers) or ``format_pair(source, generation)`` (``text="prompt+response"``,
    the layout :class:`~textgym.rewards.RewardModel` reads). The label's logit becomes the
    reward through ``transform``:

    - ``"prob"``: ``p(label)``, in [0, 1];
    - ``"not_prob"``: ``1 - p(label)``, in [0, 1] (e.g. "not toxic"; for a penalty
      ``-p(label)`` instead, give ``"prob"`` a negative weight in a weighted sum);
    - ``"logprob"``: ``log p(label)``, at most 0;
    - ``"logit"``: the raw logit.

    ``p`` is a softmax over the labels, or a sigmoid of the label's own logit when the
    model has one label or ``config.problem_type == "multi_label_classification"`` (as
    Hugging Face's text-classification pipeline does); a ``"regression"`` model allows
    ``"logit"`` only. Loading, batching, truncation (keep the end of the text) and device
    handling are :class:`~textgym.rewards.RewardModel`'s. References are not read.

    Args:
        model: A local folder, a Hugging Face name (``org/name``, needs internet) or an
            ``AutoModelForSequenceClassification`` object (then ``tokenizer`` is required).
        label: A label name from ``config.id2label`` (exact, else case-insensitive) or an
            index; None only for a one-label model.
        transform: One of ``"prob"``, ``"not_prob"``, ``"logprob"``, ``"logit"``.
        text: ``"response"`` or ``"prompt+response"``.
        tokenizer: A tokenizer, name or path; None: loaded from ``model``.
        batch_size: Texts per forward pass.
        device: A torch device; None or ``"auto"``: CUDA if available, else CPU.
        max_length: Token limit per text; None: the tokenizer's or the model's limit.
        name: The reward's name (default: the spec, e.g. ``"clf:toxic-bert[label=toxic]"``).

    Raises:
        ConfigError: a bad transform, text or setting; a missing local folder; a model
            without a classification head; a label the model does not have (the message
            lists its labels). Local folders and objects are checked here, Hub names on
            first use.
    """

    needs_references = False

    def __init__(
        self,
        model: Any,
        label: str | int | None = None,
        transform: str = "prob",
        text: str = "response",
        tokenizer: Any = None,
        batch_size: int = 16,
        device: str | None = None,
        max_length: int | None = None,
        name: str | None = None,
    ) -> None:
        is_spec = is_model_spec(model)
        self.model, self.tokenizer = model_and_tokenizer(
            "ClassifierReward", model, tokenizer, FIX, "classifier"
        )
        _check_settings(transform, text, batch_size, max_length)
        self.label, self.transform, self.text = label, transform, text
        self.batch_size, self.max_length = batch_size, max_length
        self.device = check_device(device, "ClassifierReward")
        self.name = name or _default_name(model if is_spec else None, label, transform, text)
        self._loaded: tuple[Any, Any, int, bool] | None = None
        config = _local_config(self.model)
        if config is not None:  # fail now, not at the first rollout
            _resolve(config, _architectures(self.model, config), label, transform, self.name)

    def __call__(
        self,
        generations: Sequence[str],
        references: Sequence[Sequence[str]],
        sources: Sequence[str],
    ) -> np.ndarray:
        """Return the transformed score of ``label`` for each generation, shape ``(n,)``."""
        check_lengths(self.name, generations, references, sources)
        if not generations:
            return np.zeros(0, dtype=np.float64)
        texts = list(generations)
        if self.text == "prompt+response":
            texts = [format_pair(src, gen) for gen, src in zip(generations, sources, strict=True)]
        model, tokenizer, index, sigmoid = self._get_model()
        logits = classifier_logits(model, tokenizer, texts, self.batch_size, self.max_length)
        return transform_logits(logits, index, self.transform, sigmoid)

    def labels(self) -> dict[int, str]:
        """The model's labels, ``{index: name}`` (loads the model)."""
        return _id2label(self._get_model()[0].config)

    def _get_model(self) -> tuple[Any, Any, int, bool]:
        if self._loaded is None:
            model, tokenizer = load_scorer(
                self.model, self.tokenizer, self.device, FIX, "classifier"
            )
            kinds = _architectures(self.model, model.config)
            index, sigmoid = _resolve(model.config, kinds, self.label, self.transform, self.name)
            _check_pad(model.config, self.name)
            self._loaded = (model, tokenizer, index, sigmoid)
        return self._loaded

    def __repr__(self) -> str:
        return f"ClassifierReward({self.name!r})"


def transform_logits(logits: np.ndarray, index: int, transform: str, sigmoid: bool) -> np.ndarray:
    """Score column ``index`` of ``logits`` (shape ``(n, labels)``) as ``transform`` says.

    ``sigmoid``: read the label's logit alone (one-label and multi-label models); else a
    softmax over all labels.
    """
    x = logits[:, index]
    if transform == "logit":
        return x
    if sigmoid:
        logp = -np.logaddexp(0.0, -x)
    else:
        top = logits.max(axis=1)
        logp = x - top - np.log(np.exp(logits - top[:, None]).sum(axis=1))
    if transform == "logprob":
        return logp
    return np.exp(logp) if transform == "prob" else -np.expm1(logp)


def _check_settings(transform: Any, text: Any, batch_size: Any, max_length: Any) -> None:
    if transform not in TRANSFORMS:
        raise ConfigError(
            f"transform={transform!r} is not one of {TRANSFORMS}: 'prob' is p(label), "
            f"'not_prob' 1 - p(label), 'logprob' log p(label), 'logit' the raw logit."
        )
    if text not in TEXTS:
        raise ConfigError(
            f"text={text!r} is not one of {TEXTS}: what the classifier reads (the generation "
            f"alone, or format_pair(source, generation))."
        )
    for key, value in (("batch_size", batch_size), ("max_length", max_length)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ConfigError(f"{key}={value!r} must be a positive integer.")


def _default_name(model: Any, label: Any, transform: str, text: str) -> str:
    given = {"label": label, "transform": transform, "text": text}
    defaults = {"label": None, "transform": "prob", "text": "response"}
    shown = ",".join(f"{k}={v}" for k, v in given.items() if v != defaults[k])
    base = "clf" if model is None else f"{CLF_PREFIX}{Path(str(model)).name}"
    return f"{base}[{shown}]" if shown else base


def _local_config(model: Any) -> Any:
    """The config of a model object or local folder; None for a Hub name (read on load)."""
    if not isinstance(model, str):
        return getattr(model, "config", None)
    if not os.path.isfile(os.path.join(model, "config.json")):
        return None
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(model)
    except (OSError, ValueError):  # the load on first use reports it
        return None


def _architectures(model: Any, config: Any) -> list[str]:
    """What the model is: its class for an object, else the config's ``architectures``."""
    if isinstance(model, str):
        return list(getattr(config, "architectures", None) or [])
    return [type(model).__name__]


def _resolve(
    config: Any, architectures: list[str], label: Any, transform: str, name: str
) -> tuple[int, bool]:
    """Check the model and return ``(label index, use sigmoid)``."""
    if architectures and not any("SequenceClassification" in a for a in architectures):
        raise ConfigError(
            f"Classifier {name!r} is a {', '.join(architectures)}, not a sequence classifier, "
            f"so it has no trained classification head. Pass a model saved from "
            f"AutoModelForSequenceClassification (a *ForSequenceClassification on the Hub)."
        )
    sigmoid = _uses_sigmoid(config, transform, name)
    return _label_index(config, label, name), sigmoid


def _uses_sigmoid(config: Any, transform: str, name: str) -> bool:
    problem = getattr(config, "problem_type", None)
    if problem == "regression" and transform != "logit":
        raise ConfigError(
            f"Classifier {name!r} is a regression model (config.problem_type='regression'): "
            f"its output is a score, not a probability. Use transform='logit'."
        )
    return problem == "multi_label_classification" or int(config.num_labels) == 1


def _id2label(config: Any) -> dict[int, str]:
    labels = getattr(config, "id2label", None) or {}
    found = {int(i): str(v) for i, v in labels.items()}
    return {i: found.get(i, f"LABEL_{i}") for i in range(int(config.num_labels))}


def _label_index(config: Any, label: Any, name: str) -> int:
    """The index of ``label`` (a name, a case-insensitive name, or an index) in ``config``."""
    labels = _id2label(config)
    if label is None and len(labels) == 1:
        return 0
    if isinstance(label, int) and not isinstance(label, bool) and label in labels:
        return label
    if isinstance(label, str):
        for matches in (
            [i for i, v in labels.items() if v == label],
            [i for i, v in labels.items() if v.lower() == label.lower()],
        ):
            if len(matches) == 1:
                return matches[0]
        if label.isdigit() and int(label) in labels:
            return int(label)
    raise _label_error(labels, label, name)


def _label_error(labels: dict[int, str], label: Any, name: str) -> ConfigError:
    listed = ", ".join(f"{i}={v!r}" for i, v in labels.items())
    problem = (
        f"has {len(labels)} labels; pick one."
        if label is None
        else f"has no label {label!r}.{did_you_mean(str(label), labels.values())}"
    )
    example = labels[max(labels)]
    return ConfigError(
        f"Classifier {name!r} {problem} Its labels (config.id2label): {listed}. Pass a name or "
        f"an index: label={example!r}, or in a spec 'clf:PATH[label={example}]'."
    )


def _check_pad(config: Any, name: str) -> None:
    if getattr(config, "pad_token_id", None) is None:
        raise ConfigError(
            f"Classifier {name!r} has no config.pad_token_id, so batches cannot be padded. "
            f"Set model.config.pad_token_id = tokenizer.pad_token_id (or eos_token_id)."
        )
