"""METEOR (nltk's implementation), computed offline: English only, WordNet when installed.

METEOR aligns the generation's words with a reference's in three stages (exact forms,
Porter stems, WordNet synonyms), then scores the harmonic mean of precision and recall
(recall weighted 9:1) times a fragmentation penalty. The synonym stage needs nltk's
``wordnet`` corpus. textgym never downloads it: when it is not installed (see
:func:`wordnet_available`) METEOR runs with exact and stem matches only, and warns once per
process. Install it once with ``python -m nltk.downloader wordnet`` for the full metric.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np

from textgym.errors import ConfigError
from textgym.rewards.base import Reward
from textgym.rewards.batch_checks import check_batch
from textgym.rewards.multi_reference import MULTI_REFERENCE_RULES, check_rule, combine

LANGUAGES = ("en",)
# Words (letters, digits, underscore) and single punctuation marks, as nltk's word_tokenize
# splits English closely enough for METEOR, without its "punkt" data.
_TOKEN = re.compile(r"\w+|[^\w\s]")


class Meteor(Reward):
    """Sentence METEOR of each generation against its references, in [0, 1].

    Both texts are lower-cased and split into words and punctuation marks; nltk's
    ``single_meteor_score`` aligns and scores them (``alpha=0.9``, ``beta=3``,
    ``gamma=0.5``, the defaults of nltk and of Hugging Face ``evaluate``). With several
    references a sample scores the best one (``multi_reference="max"``, as nltk's
    ``meteor_score`` does) or their mean (``"mean"``). An empty generation scores 0.0.

    Synonyms come from WordNet when nltk's ``wordnet`` corpus is installed; without it
    (textgym downloads nothing) the score uses exact and stemmed matches only, so synonyms
    count as misses and scores are lower or equal; a warning says so once per process.
    :attr:`uses_wordnet` tells which applies.

    METEOR's stemmer (Porter) and WordNet are English: ``language`` must be ``"en"``. For
    other target languages use ``chrf`` or ``bleu``, which compare characters or tokens.

    Args:
        language: The language of generations and references; only ``"en"``.
        multi_reference: ``"max"`` or ``"mean"`` over the references.

    Raises:
        ConfigError: another ``language``, or an unknown ``multi_reference``; on first use,
            nltk not installed.
    """

    name = "meteor"
    MULTI_REFERENCE_RULES = MULTI_REFERENCE_RULES

    def __init__(self, language: str = "en", multi_reference: str = "max") -> None:
        if language not in LANGUAGES:
            raise ConfigError(
                f"METEOR language={language!r} is not supported: nltk's METEOR stems with the "
                f"English Porter stemmer and finds synonyms in the English WordNet, so it "
                f"scores English only (language='en'). For {language!r} use 'chrf' or 'bleu', "
                f"which need no language resources."
            )
        self.language = language
        self.multi_reference = check_rule(multi_reference, "Meteor")

    @property
    def uses_wordnet(self) -> bool:
        """Whether synonyms are matched (nltk's ``wordnet`` corpus is installed)."""
        return wordnet_available()

    def __call__(
        self,
        generations: Sequence[str],
        references: Sequence[Sequence[str]],
        sources: Sequence[str],
    ) -> np.ndarray:
        """Return one score in [0, 1] per sample, shape ``(n,)``."""
        check_batch(self.name, generations, references, sources)
        scorer = _scorer()
        out = np.zeros(len(generations), dtype=np.float64)
        for i, (gen, refs) in enumerate(zip(generations, references, strict=True)):
            words = tokenize(gen)
            if words:
                scores = [scorer(tokenize(ref), words) for ref in refs]
                out[i] = combine(scores, self.multi_reference)
        return out

    def __repr__(self) -> str:
        return f"Meteor(language={self.language!r}, multi_reference={self.multi_reference!r})"


def tokenize(text: str) -> list[str]:
    """Lower-cased words and punctuation marks of ``text``."""
    return _TOKEN.findall(text.lower())


@cache
def wordnet_available() -> bool:
    """Whether nltk's ``wordnet`` corpus is installed (looked up once; never downloaded)."""
    from nltk.corpus import wordnet

    try:
        wordnet.ensure_loaded()
    except LookupError:
        return False
    return True


class _NoSynonyms:
    """Stands in for nltk's WordNet reader when the corpus is missing: no word has synonyms."""

    def synsets(self, word: str) -> list[Any]:
        """No synsets, so METEOR's synonym stage matches nothing new."""
        return []


@cache
def _scorer() -> Any:
    """``single_meteor_score(reference_words, generation_words)`` with WordNet or without."""
    try:
        from nltk.translate.meteor_score import single_meteor_score
    except ImportError as exc:
        raise ConfigError(
            "The 'meteor' reward needs nltk; install it with `pip install textgym[meteor]` "
            "(or `pip install nltk`)."
        ) from exc
    if wordnet_available():
        from nltk.corpus import wordnet
    else:
        wordnet = _NoSynonyms()
        warnings.warn(
            "nltk's WordNet corpus is not installed, so METEOR matches exact words and Porter "
            "stems only (no synonyms; scores are lower or equal to full METEOR). textgym "
            "never downloads data; install it once with `python -m nltk.downloader wordnet`.",
            stacklevel=3,
        )

    def score(reference: list[str], hypothesis: list[str]) -> float:
        return single_meteor_score(reference, hypothesis, preprocess=str, wordnet=wordnet)

    return score
