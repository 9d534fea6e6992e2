"""The one parser of comma-separated lists on the command line: strict about empty items."""

from __future__ import annotations

from textgym.errors import ConfigError


def split_commas(text: str, option: str, example: str) -> list[str]:
    """``"a, b"`` -> ``["a", "b"]``; an empty text or item is an error.

    Args:
        text: The value as typed.
        option: The option it was given to (``--seeds``; ``""``: argparse names it).
        example: A valid value, shown in the error (``0,1,2``).

    Raises:
        ConfigError: the text or one of its items is empty (``0,,1``, ``0,``  is allowed
            only where the caller strips a trailing comma itself).
    """
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or "" in items:
        where = "is empty" if not text.strip() else "has an empty item (a comma too many)"
        prefix = f"{option} " if option else ""
        raise ConfigError(
            f"{prefix}{text!r} {where}; separate items with single commas, e.g. {prefix}{example}."
        )
    return items
