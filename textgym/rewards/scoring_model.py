"""The sequence classifier a model-based reward scores with: loaded once, run in batches.

Shared by :class:`~textgym.rewards.RewardModel` (one output logit) and
:class:`~textgym.rewards.ClassifierReward` (any label of a classifier): :func:`load_scorer`
loads a model by name or path once per process, :func:`classifier_logits` scores texts in
length-sorted batches, and :func:`check_model_path` rejects a missing local folder early.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from textgym.devices import default_device
from textgym.errors import ConfigError
from textgym.reward_models.encoding import encode_texts, right_pad
from textgym.rewards.loading import absolute_if_local, looks_like_path

_FALLBACK_MAX_LENGTH = 2048
# The fix a failed load or a missing folder names by default: a reward model's.
RM_FIX = (
    "Pass the folder written by `textgym train-rm --out FOLDER` (or by save_pretrained), e.g. "
    "'rm:runs/rm', or a Hugging Face model name such as 'org/name' (needs internet)."
)
# One loaded model per (path, device, folder time stamp) in each process, shared by every
# reward instance; the time stamp makes a folder overwritten by a new training run reload.
_MODELS: dict[tuple[str, str, float], tuple[Any, Any]] = {}


def load_scorer(
    model: Any, tokenizer: Any, device: str | None, fix: str = RM_FIX, kind: str = "reward model"
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
            _MODELS[key] = _load_classifier(model, where, fix, kind)
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


def _load_classifier(path: str, device: str, fix: str, kind: str) -> tuple[Any, Any]:
    """Load a classifier and its tokenizer; give the model a pad id if it has none."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from textgym.models import resolve_pretrained

    try:
        tokenizer = AutoTokenizer.from_pretrained(resolve_pretrained(path))
        model = AutoModelForSequenceClassification.from_pretrained(resolve_pretrained(path))
    except (OSError, ValueError) as exc:  # ValueError: not a valid Hugging Face name
        where = "" if os.path.isdir(path) else f"There is no folder {path!r}, and as a name: "
        raise ConfigError(f"Could not load the {kind} {path!r}. {where}{exc}\n{fix}") from exc
    if model.config.pad_token_id is None:  # our own copy: safe to set
        pad = tokenizer.pad_token_id
        model.config.pad_token_id = pad if pad is not None else tokenizer.eos_token_id
    return model.to(device).eval(), tokenizer


def _model_max_length(tokenizer: Any, model: Any) -> int:
    limits = [
        getattr(tokenizer, "model_max_length", None),
        getattr(model.config, "max_position_embeddings", None),
    ]
    valid = [x for x in limits if isinstance(x, int) and 0 < x <= 1_000_000]
    return min(valid) if valid else _FALLBACK_MAX_LENGTH


def _stamp(path: str) -> float:
    """The newest modification time of a local folder's files; 0.0 for a Hub name."""
    folder = Path(path)
    if not folder.is_dir():
        return 0.0
    return max((f.stat().st_mtime for f in folder.iterdir() if f.is_file()), default=0.0)


WEIGHT_FILES = (
    "model.safetensors",
    "pytorch_model.bin",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
    "adapter_model.safetensors",
    "adapter_model.bin",
    "tf_model.h5",
    "flax_model.msgpack",
)
CONFIG_FILES = ("config.json", "adapter_config.json")


def check_model_path(spec: str, fix: str = RM_FIX, kind: str = "reward model") -> None:
    """Reject a missing path-like ``spec`` or a folder lacking a model's config or weights.

    A missing path would be misread as a Hub name; call it before anything loads.
    """
    path = os.path.expanduser(spec)
    local = looks_like_path(spec) or os.path.isdir(spec.split("/")[0])  # runs/rm, with runs/
    if local and not os.path.exists(path):
        raise ConfigError(f"The {kind} folder {spec!r} does not exist. {fix}")
    if os.path.isdir(path):
        has = set(os.listdir(path))
        missing = [] if has & set(CONFIG_FILES) else ["config.json"]
        if not has & set(WEIGHT_FILES):
            missing.append(f"weights ({' or '.join(WEIGHT_FILES[:2])})")
        if missing:
            raise ConfigError(
                f"The folder {spec!r} holds no {kind}: it lacks {' and '.join(missing)}. {fix}"
            )


def is_model_spec(value: Any) -> bool:
    """Whether ``value`` names a model to load (a name or path), rather than being one."""
    return isinstance(value, (str, os.PathLike))


def model_and_tokenizer(
    owner: str, model: Any, tokenizer: Any, fix: str = RM_FIX, kind: str = "reward model"
) -> tuple:
    """A reward's ``model`` and ``tokenizer`` as kept: local paths made absolute, objects as is.

    Raises:
        ConfigError: a model object without a tokenizer, or a path-like model that is missing
            (``fix`` says what to pass instead).
    """
    if not is_model_spec(model) and tokenizer is None:
        raise ConfigError(
            f"{owner} got a {type(model).__name__} object but no tokenizer; pass "
            f"tokenizer= (an object, name or path), or pass the model as a name or path."
        )
    if is_model_spec(model):
        check_model_path(str(model), fix, kind)
        model = absolute_if_local(str(model))
    if is_model_spec(tokenizer):
        tokenizer = absolute_if_local(str(tokenizer))
    return model, tokenizer


class WithoutLoadedModel:
    """Mixin: pickled (e.g. for SubprocVecEnv workers) without ``_loaded``, the loaded model.

    Each process loads it again on first use, from the name or path the reward keeps.
    """

    _loaded: Any

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_loaded"] = None
        return state
