"""The minimum detectable effect of a test at a given standard error."""

from __future__ import annotations

import math

from textgym.stats.intervals import check_confidence

DEFAULT_POWER = 0.8


def minimum_detectable_effect(
    se: float, confidence: float = 0.95, power: float = DEFAULT_POWER
) -> float:
    """The smallest true effect a two-sided test at ``1 − confidence`` finds with ``power``.

    ``(z_{(1+c)/2} + z_{power}) · se``: about ``2.80 · se`` at 95 % confidence and 80 %
    power (normal approximation). NaN when ``se`` is NaN.

    Raises:
        ValueError: ``confidence`` or ``power`` is not in (0, 1).
    """
    check_confidence(confidence)
    if not 0 < power < 1:
        raise ValueError(f"power={power} must be in (0, 1), e.g. 0.8.")
    from scipy.stats import norm

    if math.isnan(se):
        return math.nan
    return float((norm.ppf((1 + confidence) / 2) + norm.ppf(power)) * se)
