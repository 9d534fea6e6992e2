"""Repeated and conflicting judgments of one comparison: collapse them by majority vote.

Rule: a comparison is a prompt with an unordered pair of responses. Each line judging it
is one vote for the response it calls ``chosen``. A comparison judged several times is kept
once, in the direction most of its votes took; a comparison whose votes tie (e.g. one line
each way) is dropped. The kept pair is the first line (in file order) that voted for the
winner, with that line's other fields (so ``--split-by worker`` puts it in that worker's
group), at the place where the comparison first appears. Collapsing before the split means
no comparison is ever on both sides of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from textgym.reward_models.pairs import PreferencePair


@dataclass(frozen=True)
class DuplicateCounts:
    """What :func:`resolve_duplicates` did.

    Attributes:
        lines: Pairs read.
        comparisons: Distinct comparisons among them.
        repeated_lines: Lines judging a comparison an earlier line already judged
            (``lines - comparisons``).
        conflicting: Comparisons judged both ways.
        dropped_ties: Conflicting comparisons without a majority, dropped.
        kept: Pairs left (``comparisons - dropped_ties``).
    """

    lines: int
    comparisons: int
    repeated_lines: int
    conflicting: int
    dropped_ties: int
    kept: int


def resolve_duplicates(
    pairs: Sequence[PreferencePair],
) -> tuple[list[PreferencePair], DuplicateCounts]:
    """One pair per comparison, by majority vote; ties dropped (rule in the module docstring).

    Args:
        pairs: Pairs in file order.

    Returns:
        The kept pairs, in order of each comparison's first appearance, and the counts.
    """
    votes: dict[tuple[str, frozenset[str]], dict[str, list[PreferencePair]]] = {}
    for pair in pairs:
        key = (pair.prompt, frozenset((pair.chosen, pair.rejected)))
        votes.setdefault(key, {}).setdefault(pair.chosen, []).append(pair)
    kept, conflicting, ties = [], 0, 0
    for by_winner in votes.values():
        sizes = sorted((len(lines) for lines in by_winner.values()), reverse=True)
        conflicting += len(sizes) > 1
        if len(sizes) > 1 and sizes[0] == sizes[1]:
            ties += 1
            continue
        kept.append(max(by_winner.values(), key=len)[0])
    counts = DuplicateCounts(
        lines=len(pairs),
        comparisons=len(votes),
        repeated_lines=len(pairs) - len(votes),
        conflicting=conflicting,
        dropped_ties=ties,
        kept=len(kept),
    )
    return kept, counts
