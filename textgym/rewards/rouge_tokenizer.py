"""A Unicode-aware ROUGE tokenizer: rouge-score's tokens on English, real tokens elsewhere.

rouge-score's default tokenizer keeps only ``[a-z0-9]``, so Russian, Chinese, Arabic, Hebrew
or emoji text has no tokens at all and even an exact copy scores 0.0.
"""

from __future__ import annotations

import unicodedata
from functools import cache
from itertools import islice
from typing import Any

# Scripts written without spaces between words: each character (grapheme) is a token.
_UNSPACED = "".join(
    rf"\p{{{script}}}"
    for script in ("Han", "Hiragana", "Katakana", "Thai", "Lao", "Khmer", "Myanmar")
)
_SINGLES = rf"{_UNSPACED}\p{{Extended_Pictographic}}"
# A grapheme of an unspaced script or an emoji, else a run of letters, marks and digits.
_TOKEN = rf"(?=[{_SINGLES}])\X|(?:(?![{_SINGLES}])[\p{{L}}\p{{M}}\p{{N}}])+"
_STEM_MIN_LENGTH = 4  # rouge-score stems only words of more than 3 characters


class RougeTokenizer:
    """Lower-case, split into Unicode words, and Porter-stem English words like rouge-score.

    A text is NFKC-normalised and case-folded, then split into tokens: runs of letters,
    combining marks and digits (Unicode categories L, M, N; not ``_``); each character of
    the scripts written without spaces (Chinese, Japanese kana, Thai, Lao, Khmer, Myanmar)
    and each emoji is a token of its own, so Chinese gets character n-grams. Everything
    else (punctuation, spaces, symbols) separates tokens. With ``use_stemmer``, ASCII words
    longer than 3 characters are Porter-stemmed. On ASCII text the tokens are exactly those
    of rouge-score's default tokenizer, so English scores are unchanged.

    Args:
        use_stemmer: Porter-stem ASCII words (rouge-score's ``use_stemmer=True``).
    """

    def __init__(self, use_stemmer: bool = True) -> None:
        self.use_stemmer = use_stemmer
        self._stemmer: Any = None
        if use_stemmer:
            from nltk.stem import porter

            self._stemmer = porter.PorterStemmer()

    def tokenize(self, text: str) -> list[str]:
        """The tokens of ``text``, in order (the method ``RougeScorer`` calls)."""
        tokens = _pattern().findall(normalize(text))
        if self._stemmer is None:
            return tokens
        return [self._stem(token) for token in tokens]

    def _stem(self, token: str) -> str:
        if len(token) < _STEM_MIN_LENGTH or not token.isascii():
            return token
        return self._stemmer.stem(token)


def normalize(text: str) -> str:
    """NFKC-normalise and case-fold ``text``: what :class:`RougeTokenizer` splits."""
    return unicodedata.normalize("NFKC", text).casefold()


def truncate(text: str, max_tokens: int) -> tuple[str, bool]:
    """Cut ``text`` after its first ``max_tokens`` tokens.

    Returns:
        ``(text, False)`` when it has at most ``max_tokens`` tokens; otherwise its
        normalised form (see :func:`normalize`) cut right after token ``max_tokens`` (line
        breaks kept, so ``rougeLsum`` still sees the sentences) and True.
    """
    norm = normalize(text)
    ends = [m.end() for m in islice(_pattern().finditer(norm), max_tokens + 1)]
    if len(ends) <= max_tokens:
        return text, False
    return norm[: ends[max_tokens - 1]], True


@cache
def _pattern() -> Any:
    import regex

    return regex.compile(_TOKEN)
