"""Sentence-level BLEU and chrF rewards via ``sacrebleu``, scaled to [0, 1]."""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from textgym.errors import ConfigError, unknown_name
from textgym.rewards.base import Reward
from textgym.rewards.batch_checks import check_batch
from textgym.rewards.multi_reference import MULTI_REFERENCE_RULES, check_rule, combine


class _SacreBleuReward(Reward):
    """Shared loop: sacrebleu's ``sentence_score`` per sample, divided by 100 and clipped.

    ``NATIVE_RULE`` is the multi-reference rule sacrebleu applies itself when given all the
    references at once; any other rule scores each reference alone and combines the scores.
    """

    NATIVE_RULE = "max"
    MULTI_REFERENCE_RULES = MULTI_REFERENCE_RULES

    def __init__(self, multi_reference: str) -> None:
        self._metric: Any = None
        self.multi_reference = check_rule(
            multi_reference, type(self).__name__, self.MULTI_REFERENCE_RULES
        )

    def _build(self) -> Any:
        raise NotImplementedError

    def __call__(
        self,
        generations: Sequence[str],
        references: Sequence[Sequence[str]],
        sources: Sequence[str],
    ) -> np.ndarray:
        """Return one score in [0, 1] per sample, shape ``(n,)``; empty generations score 0."""
        check_batch(self.name, generations, references, sources)
        if self._metric is None:
            self._metric = self._build()
        out = np.zeros(len(generations), dtype=np.float64)
        for i, (gen, refs) in enumerate(zip(generations, references, strict=True)):
            if gen.strip():
                out[i] = self._sentence_score(gen, list(refs)) / 100.0
        # sacrebleu can return 100.00000000000004 for a perfect match
        return np.clip(out, 0.0, 1.0)

    def _sentence_score(self, generation: str, references: list[str]) -> float:
        """The sacrebleu sentence score (0-100), references combined by the rule."""
        if self.multi_reference == self.NATIVE_RULE:
            return self._metric.sentence_score(generation, references).score
        scores = [self._metric.sentence_score(generation, [ref]).score for ref in references]
        return combine(scores, self.multi_reference)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_metric"] = None
        return state


class Bleu(_SacreBleuReward):
    """Sentence BLEU (sacrebleu) divided by 100, in [0, 1].

    Uses ``effective_order=True`` (n-gram orders longer than the generation are left out of
    the geometric mean, so a short exact match still scores 1.0) and ``exp`` smoothing, the
    settings sacrebleu recommends for single sentences. Multiple references are used
    natively by default (clipped n-gram counts over all references, closest reference
    length); ``multi_reference="max"`` or ``"mean"`` scores each reference alone instead.

    Args:
        smooth_method: sacrebleu smoothing: ``"exp"``, ``"floor"``, ``"add-k"`` or ``"none"``.
        tokenize: sacrebleu tokenizer name (``None``: sacrebleu's default, ``"13a"``).
        lowercase: Compare lower-cased text.
        multi_reference: ``"native"``, ``"max"`` or ``"mean"`` (see above).

    Raises:
        UnknownNameError: on first use, a ``smooth_method`` or ``tokenize`` sacrebleu lacks.
        ConfigError: an unknown ``multi_reference``.
    """

    name = "bleu"
    NATIVE_RULE = "native"
    MULTI_REFERENCE_RULES = ("native", *MULTI_REFERENCE_RULES)

    def __init__(
        self,
        smooth_method: str = "exp",
        tokenize: str | None = None,
        lowercase: bool = False,
        multi_reference: str = "native",
    ) -> None:
        super().__init__(multi_reference)
        self.smooth_method = smooth_method
        self.tokenize = tokenize
        self.lowercase = lowercase

    def _build(self) -> Any:
        from sacrebleu.metrics import BLEU

        _check_option("BLEU smooth_method", self.smooth_method, BLEU.SMOOTH_DEFAULTS)
        if self.tokenize is not None:
            _check_option("BLEU tokenize", self.tokenize, BLEU.TOKENIZERS)
        return BLEU(
            effective_order=True,
            smooth_method=self.smooth_method,
            tokenize=self.tokenize,
            lowercase=self.lowercase,
        )


class Chrf(_SacreBleuReward):
    """Sentence chrF (sacrebleu) divided by 100, in [0, 1].

    Character n-gram F-score (``char_order`` 6, ``beta`` 2 by default); ``word_order=2``
    gives chrF++. With several references a sample scores its best-matching reference
    (``multi_reference="max"``, what sacrebleu does) or the mean over them (``"mean"``).

    Args:
        char_order: Longest character n-gram.
        word_order: Longest word n-gram (0 for chrF, 2 for chrF++).
        beta: Weight of recall relative to precision.
        multi_reference: ``"max"`` or ``"mean"``.

    Raises:
        ConfigError: an order or ``beta`` that is not an integer >= 0, both orders 0, or
            an unknown ``multi_reference``.
    """

    name = "chrf"

    def __init__(
        self, char_order: int = 6, word_order: int = 0, beta: int = 2, multi_reference: str = "max"
    ) -> None:
        for label, value in (
            ("char_order", char_order),
            ("word_order", word_order),
            ("beta", beta),
        ):
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"Chrf {label}={value!r} must be an integer >= 0.")
        if char_order + word_order == 0:
            raise ConfigError(
                "Chrf char_order=0 and word_order=0 count no n-grams; use char_order=6 (chrF) "
                "and word_order=2 for chrF++."
            )
        super().__init__(multi_reference)
        self.char_order = char_order
        self.word_order = word_order
        self.beta = beta
        self.name = "chrf" if word_order == 0 else "chrf++"

    def _build(self) -> Any:
        from sacrebleu.metrics import CHRF

        return CHRF(char_order=self.char_order, word_order=self.word_order, beta=self.beta)


def _check_option(label: str, value: str, options: Iterable[str]) -> None:
    if value not in options:
        raise unknown_name(label, value, options, fix="Pass one of them.")
