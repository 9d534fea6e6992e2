"""Input checks shared by the built-in rewards (text clean-up: :mod:`textgym.unicode_text`)."""

from __future__ import annotations

from collections.abc import Sequence

from textgym.errors import RewardError


def check_lengths(
    name: str,
    generations: Sequence[str],
    references: Sequence[Sequence[str]],
    sources: Sequence[str],
) -> None:
    """Check that there is one reference list and one source per generation.

    Raises:
        RewardError: the lengths differ.
    """
    n = len(generations)
    if not (len(references) == len(sources) == n):
        raise RewardError(
            f"Reward {name!r} needs one reference list and one source per generation; got "
            f"{n} generations, {len(references)} reference lists, {len(sources)} sources."
        )


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
        RewardError: the lengths differ, or a reference entry is a bare string or empty.
    """
    check_lengths(name, generations, references, sources)
    for i, refs in enumerate(references):
        if isinstance(refs, str):
            raise RewardError(
                f"Reward {name!r}: references[{i}] is a string, not a list of references. "
                f"Wrap it in a list: references=[[ref] for ref in refs]."
            )
        if len(refs) == 0:
            raise RewardError(
                f"Reward {name!r}: references[{i}] is empty. Give every sample at least one "
                f"reference string (drop samples without one before scoring)."
            )
