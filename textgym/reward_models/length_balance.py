"""Length-balanced training pairs: as many where the chosen response is longer as shorter."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from textgym.errors import ConfigError
from textgym.reward_models.lengths import word_counts
from textgym.reward_models.pairs import PreferencePair


@dataclass(frozen=True)
class LengthBalance:
    """Pairs kept where the chosen response is longer, shorter or as long; pairs dropped."""

    longer: int
    shorter: int
    equal: int
    dropped: int

    def to_dict(self) -> dict[str, int]:
        """The counts as a JSON-ready dict."""
        return asdict(self)


def balance_by_length(
    pairs: Sequence[PreferencePair], seed: int
) -> tuple[list[PreferencePair], LengthBalance]:
    """Keep a random subset of ``pairs`` where "longer wins" is right exactly half the time.

    Pairs whose chosen response has more words than the rejected one and pairs where it has
    fewer are counted; the larger side is subsampled (``numpy.random.default_rng(seed)``)
    down to the size of the smaller. Pairs of equal word counts are all kept. The kept pairs
    keep their input order. Training on them removes the label's dependence on the sign of
    the length difference, at the cost of the dropped pairs.

    Warns when one side is empty (every unequal pair then goes), and

    Raises:
        ConfigError: fewer than 2 pairs would be left.
    """
    words = word_counts([p.chosen for p in pairs]) - word_counts([p.rejected for p in pairs])
    longer, shorter = np.flatnonzero(words > 0), np.flatnonzero(words < 0)
    size = min(len(longer), len(shorter))
    rng = np.random.default_rng(seed)
    keep = np.concatenate(
        [
            rng.choice(longer, size, replace=False),
            rng.choice(shorter, size, replace=False),
            np.flatnonzero(words == 0),
        ]
    )
    if len(keep) < 2:
        raise ConfigError(
            f"Length balancing leaves {len(keep)} of {len(pairs)} training pairs (the chosen "
            f"response is longer in {len(longer)}, shorter in {len(shorter)}); train without "
            f"length_balanced (--length-balanced) or on more varied pairs."
        )
    if size == 0 and len(longer) + len(shorter):
        warnings.warn(
            f"Length balancing drops all {len(longer) + len(shorter)} pairs of unequal lengths: "
            f"the chosen response is never {'shorter' if len(longer) else 'longer'}; only "
            f"{len(keep)} equal-length pairs train.",
            stacklevel=2,
        )
    counts = LengthBalance(size, size, int(np.sum(words == 0)), len(pairs) - len(keep))
    return [pairs[i] for i in sorted(keep)], counts
