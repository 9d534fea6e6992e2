"""How much of a reward model's score is length: a line fitted on training texts.

``textgym train-rm`` scores every training response (chosen and rejected) with the trained
model and fits ``score = intercept + coef * words`` by least squares (``words`` =
``len(response.split())``, the response only, not the prompt). ``coef`` is saved under
``length_fit`` in the output folder's ``metrics.json``. A length-corrected reward subtracts
``coef * words`` (``RewardModel(folder, length_penalty="fit")``, or the spec
``rm:FOLDER:1,word_count:-COEF``), which leaves the score's part that length does not
explain linearly: on the training texts it is uncorrelated with length.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from textgym.errors import ConfigError
from textgym.reward_models.lengths import word_counts

METRICS_FILE = "metrics.json"
KEY = "length_fit"


@dataclass(frozen=True)
class LengthFit:
    """``score ≈ intercept + coef * words`` over ``n_texts`` responses.

    Attributes:
        coef: Score per word (0.0 when every text has the same length).
        intercept: Score at zero words.
        r2: Share of the score's variance the line explains.
        n_texts: Responses the line was fitted on.
        unit: What length counts: ``"words"`` (``len(response.split())``).
    """

    coef: float
    intercept: float
    r2: float
    n_texts: int
    unit: str = "words"

    def reward_spec(self, folder: str | os.PathLike[str]) -> str:
        """The reward spec of the length-corrected reward model in ``folder``."""
        return f"rm:{folder}:1,word_count:{-self.coef:.6g}"

    def to_dict(self, folder: str | os.PathLike[str]) -> dict[str, Any]:
        """JSON-ready fields plus ``reward_spec`` for ``folder``."""
        return {**asdict(self), "reward_spec": self.reward_spec(folder)}


def fit_length(scores: np.ndarray, responses: Sequence[str]) -> LengthFit:
    """Least-squares line of ``scores`` on the responses' word counts.

    Raises:
        ValueError: ``scores`` and ``responses`` differ in length or are empty.
    """
    y = np.asarray(scores, dtype=np.float64)
    x = word_counts(responses)
    if y.shape != x.shape or y.size == 0:
        raise ValueError(f"fit_length needs one score per response; got {y.size} and {x.size}.")
    dx, dy = x - x.mean(), y - y.mean()
    sxx = float(dx @ dx)
    coef = float(dx @ dy) / sxx if sxx > 0 else 0.0
    syy = float(dy @ dy)
    r2 = coef * float(dx @ dy) / syy if syy > 0 else 0.0
    return LengthFit(coef, float(y.mean() - coef * x.mean()), r2, int(y.size))


def load_length_coef(folder: str | os.PathLike[str]) -> float:
    """The ``coef`` that ``textgym train-rm`` saved in ``folder/metrics.json``.

    Raises:
        ConfigError: the folder has no ``metrics.json`` or the file has no length fit.
    """
    path = Path(folder) / METRICS_FILE
    fix = (
        "Retrain it with `textgym train-rm` (which saves the fit), or pass the coefficient "
        "as a number: length_penalty=0.02 subtracts 0.02 per word."
    )
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
        return float(metrics[KEY]["coef"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"length_penalty='fit' reads the length fit from {str(path)!r}, which "
            f"{'does not exist' if not path.is_file() else 'has no ' + KEY + '.coef'}. {fix}"
        ) from exc
