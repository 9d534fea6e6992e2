"""A learned reward: a Hugging Face sequence-classification model with one output logit.

:func:`load_scorer` and :func:`classifier_logits` (load once, score texts in batches) are
shared with :class:`textgym.rewards.ClassifierReward`, which reads any label of a classifier.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from textgym.errors import ConfigError
from textgym.reward_models.encoding import encode_texts, format_pair, right_pad
from textgym.reward_models.length_fit import load_length_coef
from textgym.reward_models.lengths import word_counts
from textgym.rewards.base import Reward
from textgym.rewards.batch_checks import check_lengths
from textgym.rewards.loading import (
    absolute_if_local,
    check_device,
    default_device,
    looks_like_path,
)

_FALLBACK_MAX_LENGTH = 2048
_RM_FIX = (
    "Pass the folder written by `textgym train-rm --out FOLDER` (or by save_pretrained), e.g. "
    "'rm:runs/rm', or a Hugging Face model name such as 'org/name' (needs internet)."
)
# One loaded model per (path, device, folder time stamp) in each process, shared by every
# reward instance; the time stamp makes a folder overwritten by a new training run reload.
_MODELS: dict[tuple[str, str, float], tuple[Any, Any]] = {}


class RewardModel(Reward):
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
        is_spec = isinstance(model, (str, os.PathLike))
        if not is_spec and tokenizer is None:
            raise ConfigError(
                f"RewardModel got a {type(model).__name__} object but no tokenizer; pass "
                f"tokenizer= (an object, name or path), or pass the model as a name or path."
            )
        _check_settings(prompt_template, batch_size, normalize, max_length)
        if is_spec:
            check_model_path(str(model))
        self.model = absolute_if_local(str(model)) if is_spec else model
        self.tokenizer = absolute_if_local(str(tokenizer)) if _is_path(tokenizer) else tokenizer
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

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_loaded"] = None
        return state

    def __repr__(self) -> str:
        extra = f", length_penalty={self.length_penalty!r}" if self.length_penalty else ""
        return f"RewardModel({self.name!r}, normalize={self.normalize!r}{extra})"


def load_scorer(
    model: Any, tokenizer: Any, device: str | None, fix: str = _RM_FIX
) -> tuple[Any, Any]:
    """The ``(model, tokenizer)`` a classifier-based reward scores with, in eval mode.

    A name or path (a ``str``) is loaded with ``AutoModelForSequenceClassification`` once
    per process, device and folder time stamp, and shared; its tokenizer is loaded from it
    unless ``tokenizer`` is given. A model object is moved to ``device`` (if given) and
    put in eval mode. ``fix`` ends the message of a load that fails.
    """
    from textgym.models import load_tokenizer

    if isinstance(model, str):
        where = device or default_device()
        key = (model, where, _stamp(model))
        if key not in _MODELS:
            _MODELS[key] = _load_classifier(model, where, fix)
        loaded, own_tokenizer = _MODELS[key]
        return loaded, load_tokenizer(own_tokenizer if tokenizer is None else tokenizer)
    if device is not None:
        model.to(device)
    model.eval()
    return model, load_tokenizer(tokenizer)


def classifier_logits(
    model: Any, tokenizer: Any, texts: Sequence[str], batch_size: int, max_length: int | None
) -> np.ndarray:
    """All output logits for each text, shape ``(n, num_labels)``, in ``texts`` order.

    Texts are encoded with :func:`~textgym.reward_models.encoding.encode_texts` (cut to
    ``max_length`` tokens, or the tokenizer's or model's limit, keeping the end), sorted by
    length, right-padded with ``model.config.pad_token_id`` and run ``batch_size`` at a
    time under ``torch.no_grad``. A text with no tokens (empty, with a tokenizer that adds
    no special tokens) is read as one pad token.
    """
    import torch as th

    out = np.zeros((len(texts), int(model.config.num_labels)), dtype=np.float64)
    if not texts:
        return out
    pad_id = int(model.config.pad_token_id)
    device = next(model.parameters()).device
    ids = encode_texts(tokenizer, texts, max_length or _model_max_length(tokenizer, model))
    ids = [row or [pad_id] for row in ids]  # a text with no tokens is read as one pad token
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    for lo in range(0, len(order), batch_size):
        chunk = order[lo : lo + batch_size]
        input_ids, mask = right_pad([ids[i] for i in chunk], pad_id)  # (b, t) each
        with th.no_grad():
            logits = model(input_ids=input_ids.to(device), attention_mask=mask.to(device))
        out[chunk] = logits.logits.float().cpu().numpy()
    return out


def _load_classifier(path: str, device: str, fix: str) -> tuple[Any, Any]:
    """Load a classifier and its tokenizer; give the model a pad id if it has none."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from textgym.models import resolve_pretrained

    try:
        tokenizer = AutoTokenizer.from_pretrained(resolve_pretrained(path))
        model = AutoModelForSequenceClassification.from_pretrained(resolve_pretrained(path))
    except (OSError, ValueError) as exc:  # ValueError: not a valid Hugging Face name
        where = "" if os.path.isdir(path) else f"There is no folder {path!r}, and as a name: "
        raise ConfigError(f"Could not load the classifier {path!r}. {where}{exc}\n{fix}") from exc
    if model.config.pad_token_id is None:  # our own copy: safe to set
        pad = tokenizer.pad_token_id
        model.config.pad_token_id = pad if pad is not None else tokenizer.eos_token_id
    return model.to(device).eval(), tokenizer


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


def _model_max_length(tokenizer: Any, model: Any) -> int:
    limits = [
        getattr(tokenizer, "model_max_length", None),
        getattr(model.config, "max_position_embeddings", None),
    ]
    valid = [x for x in limits if isinstance(x, int) and 0 < x <= 1_000_000]
    return min(valid) if valid else _FALLBACK_MAX_LENGTH


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


def _stamp(path: str) -> float:
    """The newest modification time of a local folder's files; 0.0 for a Hub name."""
    folder = Path(path)
    if not folder.is_dir():
        return 0.0
    return max((f.stat().st_mtime for f in folder.iterdir() if f.is_file()), default=0.0)


def _is_path(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike))


def check_model_path(spec: str, fix: str = _RM_FIX) -> None:
    """Reject a path-like ``spec`` that is missing (it would be misread as a Hub name)."""
    if looks_like_path(spec) and not os.path.exists(os.path.expanduser(spec)):
        raise ConfigError(f"The model folder {spec!r} does not exist. {fix}")
