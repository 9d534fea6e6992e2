"""Text clean-up that tokenizers and Arrow need: no lone UTF-16 surrogates.

A neutral module (standard library only), shared by the rewards and by reward-model encoding.
"""

from __future__ import annotations


def clean_text(text: str) -> str:
    r"""``text`` with lone surrogates (e.g. ``"\ud800"``) replaced by U+FFFD.

    Python strings may hold lone UTF-16 surrogates (from ``surrogateescape`` decoding or
    JSON ``"\ud800"`` escapes), which cannot be encoded as UTF-8, so Rust tokenizers and
    Arrow reject them. A surrogate pair split over two code points is joined into its
    character; every other text is returned unchanged.
    """
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
