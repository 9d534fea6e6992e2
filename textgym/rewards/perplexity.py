"""Fluency under a language model: the negative log-perplexity of each generation."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from textgym.devices import check_device, default_device
from textgym.errors import ConfigError
from textgym.models import DEFAULT_MODEL
from textgym.rewards.base import Reward
from textgym.rewards.batch_checks import check_lengths
from textgym.rewards.loading import absolute_if_local, looks_like_path
from textgym.unicode_text import clean_text

# One loaded LM per (model, device) in each process, shared by every reward instance.
_MODELS: dict[tuple[str, str], tuple[Any, Any]] = {}


class Perplexity(Reward):
    """``-log perplexity`` of each generation under a causal LM: the mean token log-prob.

    Each generation is tokenised without special tokens and preceded by the LM's start
    token (its BOS, else its EOS, which GPT-2-style models use as the text separator), so
    every token of the text is predicted; the reward is the mean over those tokens of
    ``log p(token | start, earlier tokens)``, i.e. ``-log(perplexity)``: 0 is a perfectly
    predicted text, and typical fluent English scores about -2 to -5 under a small LM.
    References and sources are not read: the text is scored alone, as fluency.

    An empty (whitespace-only) generation has no perplexity; it scores ``-log(V)`` (``V``
    the LM's vocabulary size), the value of a text the LM knows nothing about (a uniform
    guess), so saying nothing is never better than fluent text. Texts over ``max_length``
    tokens are scored on their first ``max_length`` tokens.

    The LM (a name or folder; default the embedded ``smollm2-135m-instruct``, the
    reference of textgym's training runs) is loaded on first use, once per process and
    device, and never pickled, so the reward can go to ``SubprocVecEnv`` workers. Texts are
    deduplicated, sorted by length and run in batches under ``torch.no_grad``.

    Args:
        model: An embedded model name, a Hugging Face name or a local folder; None: the
            embedded default model.
        batch_size: Texts per forward pass.
        max_length: Tokens scored per text (the start token included).
        device: A torch device; None or ``"auto"``: CUDA if available, else CPU.
        name: The reward's name (default ``"perplexity"``, or ``"perplexity:MODEL"`` when a
            model is given).

    Raises:
        ConfigError: a bad ``batch_size``, ``max_length`` or device, a model path that does
            not exist; on first use, a model that cannot be loaded or whose tokenizer has
            neither a BOS nor an EOS token.
    """

    needs_references = False

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        batch_size: int = 16,
        max_length: int = 1024,
        device: str | None = None,
        name: str | None = None,
    ) -> None:
        for label, value in (("batch_size", batch_size), ("max_length", max_length)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 2:
                raise ConfigError(f"Perplexity {label}={value!r} must be an integer >= 2.")
        if model is not None and not str(model).strip():
            raise ConfigError(
                "Perplexity model='' names no model; pass a name or folder, or None for the "
                "embedded default."
            )
        if model is not None and looks_like_path(str(model)) and not os.path.exists(model):
            raise ConfigError(
                f"Perplexity model {str(model)!r} is a path that does not exist; pass a folder "
                f"saved with save_pretrained, an embedded or Hugging Face model name, or None "
                f"for the embedded default."
            )
        self.model = DEFAULT_MODEL if model is None else absolute_if_local(str(model))
        self.batch_size, self.max_length = batch_size, max_length
        self.device = check_device(device, "Perplexity")
        self.name = name or ("perplexity" if model is None else f"perplexity:{model}")

    def __call__(
        self,
        generations: Sequence[str],
        references: Sequence[Sequence[str]],
        sources: Sequence[str],
    ) -> np.ndarray:
        """Return the mean token log-probability of each generation, shape ``(n,)``."""
        check_lengths(self.name, generations, references, sources)
        vocab = self._lm()[0].get_output_embeddings().weight.shape[0]
        out = np.full(len(generations), -math.log(vocab))
        live = sorted({g for g in generations if g.strip()}, key=len)
        scores = self.log_probs(live)
        for i, gen in enumerate(generations):
            if gen in scores:
                out[i] = scores[gen]
        return out

    def log_probs(self, texts: Sequence[str]) -> dict[str, float]:
        """``{text: mean token log-probability}`` for non-empty ``texts``."""
        import torch as th

        lm, tokenizer = self._lm()
        start = _start_token(tokenizer, self.model)
        device = next(lm.parameters()).device
        out: dict[str, float] = {}
        for lo in range(0, len(texts), self.batch_size):
            chunk = texts[lo : lo + self.batch_size]
            rows = tokenizer([clean_text(t) for t in chunk], add_special_tokens=False)["input_ids"]
            rows = [[start, *row][: self.max_length] for row in rows]
            width = max(len(row) for row in rows)
            ids = th.tensor([row + [start] * (width - len(row)) for row in rows], device=device)
            mask = th.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], device=device)
            with th.no_grad():
                logits = lm(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
            token_lp = logits.log_softmax(-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
            scored = mask[:, 1:].float()  # (b, t-1): the text's tokens, not the padding
            mean = (token_lp * scored).sum(1) / scored.sum(1).clamp(min=1)
            out.update(zip(chunk, mean.double().cpu().tolist(), strict=True))
        return out

    def _lm(self) -> tuple[Any, Any]:
        device = self.device or default_device()
        key = (self.model, device)
        if key not in _MODELS:
            _MODELS[key] = _load(self.model, device)
        return _MODELS[key]

    def __repr__(self) -> str:
        return f"Perplexity(model={self.model!r})"


def _load(model: str, device: str) -> tuple[Any, Any]:
    """The causal LM (eval mode, on ``device``) and its tokenizer."""
    from textgym.models import load_causal_lm, load_tokenizer

    try:
        return load_causal_lm(model).to(device).eval(), load_tokenizer(model)
    except ConfigError:
        raise
    except ValueError as exc:  # e.g. a folder without a model's config
        raise ConfigError(
            f"Could not load {model!r} as the Perplexity LM: {exc}\nPass a folder saved with "
            f"save_pretrained, an embedded or Hugging Face model name, or None for the "
            f"embedded default."
        ) from exc


def _start_token(tokenizer: Any, model: str) -> int:
    """The token every text is scored after: the BOS, else the EOS."""
    for token in (tokenizer.bos_token_id, tokenizer.eos_token_id):
        if token is not None:
            return int(token)
    raise ConfigError(
        f"Perplexity model {model!r}: its tokenizer has neither a BOS nor an EOS token, so the "
        f"first token of a text cannot be scored. Use a causal LM whose tokenizer has one."
    )
