"""The KL-to-reference penalty, importable from its former home.

It lives in :mod:`textgym.policies.kl_penalty`, beside its controller
(:mod:`textgym.policies.kl_controller`), since it plugs into the stock PPO:
``from textgym.policies import add_kl_penalty``.
"""

from textgym.policies.kl_controller import INITIAL_BETA, check_kl_settings
from textgym.policies.kl_penalty import (
    KLComponents,
    KLPenalty,
    add_kl_penalty,
    frozen_reference,
    policy_reference,
)

__all__ = [
    "INITIAL_BETA",
    "KLComponents",
    "KLPenalty",
    "add_kl_penalty",
    "check_kl_settings",
    "frozen_reference",
    "policy_reference",
]
