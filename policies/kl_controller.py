"""The KL coefficient β: fixed, or adapted toward a target KL per episode."""

from __future__ import annotations

import math
import numbers

import torch as th

from textgym.errors import ConfigError


class KLController(th.nn.Module):
    """β of the KL penalty, kept as buffers so ``PPO.save``/``PPO.load`` carry it.

    Fixed when ``target`` is NaN. Otherwise the proportional controller of Ziegler et al.
    (2019): after each finished episode with summed KL ``kl``,
    ``β ← β · (1 + clip(kl / target − 1, −0.2, 0.2) / horizon)``, so β rises while episodes
    drift further than ``target`` nats from the reference and falls while they stay closer.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("beta", th.tensor(0.0, dtype=th.float64))
        self.register_buffer("target", th.tensor(math.nan, dtype=th.float64))
        self.register_buffer("horizon", th.tensor(10_000.0, dtype=th.float64))

    def configure(self, kl_coef: float, target_kl: float | None, horizon: float) -> None:
        """Set the initial β, the target KL per episode (None: fixed β) and the horizon."""
        finite = math.isfinite
        if (
            not (finite(kl_coef) and kl_coef >= 0)
            or (target_kl is not None and not (finite(target_kl) and target_kl > 0))
            or not (finite(horizon) and horizon > 0)
        ):
            raise ConfigError(
                f"KL settings kl_coef={kl_coef}, target_kl={target_kl}, horizon={horizon} are "
                f"invalid: kl_coef must be a finite number >= 0, target_kl a finite number > 0 "
                f"(or None for a fixed β), horizon a finite number > 0."
            )
        self.beta.fill_(kl_coef)
        self.target.fill_(math.nan if target_kl is None else target_kl)
        self.horizon.fill_(horizon)

    @property
    def adaptive(self) -> bool:
        """Whether β follows a target KL."""
        return not math.isnan(float(self.target))

    def update(self, episode_kl: float) -> None:
        """Adapt β after one finished episode whose summed per-token KL is ``episode_kl``."""
        if self.adaptive:
            error = min(max(episode_kl / float(self.target) - 1.0, -0.2), 0.2)
            self.beta.mul_(1.0 + error / float(self.horizon))


# The initial β of an adaptive KL penalty when none is given (Ziegler et al. 2019 use 0.1).
INITIAL_BETA = 0.1


def check_kl_settings(kl_coef: float | None, target_kl: float | None, horizon: float) -> None:
    """Raise unless the KL settings are usable; the message names the bad value and the fix.

    ``kl_coef`` (the initial β) must be a finite number >= 0, or None; ``target_kl`` a finite
    number > 0, or None (fixed β); ``horizon`` a finite number > 0. An adaptive β scales
    itself, so it cannot start at ``kl_coef=0``. :func:`add_kl_penalty` and
    :class:`~textgym.training.TrainConfig` (so ``textgym train``) share these checks.

    Raises:
        ConfigError: a setting is negative, zero where it must not be, infinite, NaN or
            not a number.
    """
    if kl_coef is not None and not (_finite(kl_coef) and kl_coef >= 0):
        raise ConfigError(
            f"kl_coef={kl_coef!r} (--kl-coef) must be a finite number >= 0: the β of the KL "
            "penalty (0: no penalty)."
        )
    if target_kl is not None and not (_finite(target_kl) and target_kl > 0):
        raise ConfigError(
            f"target_kl={target_kl!r} (--target-kl) must be a finite number > 0: the KL per "
            "episode (nats) the adaptive β aims for. Leave it unset for a fixed β."
        )
    if target_kl is not None and kl_coef == 0:
        raise ConfigError(
            f"kl_coef=0 with target_kl={target_kl!r}: an adaptive β scales itself, so from 0 "
            f"it stays 0. Give an initial kl_coef > 0 (--kl-coef), or leave it unset to start "
            f"at {INITIAL_BETA}."
        )
    if not (_finite(horizon) and horizon > 0):
        raise ConfigError(
            f"kl_horizon={horizon!r} (--kl-horizon) must be a finite number > 0: the episodes "
            "over which the adaptive β responds, e.g. 10000."
        )


def _finite(value: object) -> bool:
    """Whether ``value`` is a real number (not a bool) that is neither infinite nor NaN."""
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )
