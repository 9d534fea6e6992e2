"""Input checks shared by the built-in rewards."""

from __future__ import annotations

from collections.abc import Sequence


def check_batch(
    name: str,
    generations: Sequence[str],
    references: Sequence[Sequence[str]],
    sources: Sequence[str],
) -> None:
    """Check that a reward's inputs line up: one non-empty reference list per generation.

    Args:
        name: The reward's name, for the error message.
        generations: The texts to score.
        references: One sequence of reference strings per generation.
        sources: One source text per generation.

    Raises:
        ValueError: the lengths differ, or a reference entry is a bare string or empty.
    """
    n = len(generations)
    if not (len(references) == len(sources) == n):
        raise ValueError(
            f"Reward {name!r} needs one reference list and one source per generation; got "
            f"{n} generations, {len(references)} reference lists, {len(sources)} sources."
        )
    for i, refs in enumerate(references):
        if isinstance(refs, str):
            raise ValueError(
                f"Reward {name!r}: references[{i}] is a string, not a list of references. "
                f"Wrap it in a list: references=[[ref] for ref in refs]."
            )
        if len(refs) == 0:
            raise ValueError(
                f"Reward {name!r}: references[{i}] is empty. Give every sample at least one "
                f"reference string (drop samples without one before scoring)."
            )
