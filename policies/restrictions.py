"""Restricted outputs: the tokens ``LMPolicy`` may generate after each sequence.

Three restrictions combine (a token must pass all that are set):

- ``bad_words``: tokens and phrases never generated (:mod:`~textgym.policies.token_bans`);
- ``allowed_tokens``: the only tokens generated, plus EOS;
- ``nlpo_top_p``: NLPO's mask, the top-p set of a frozen masking model over the tokens the
  two above allow (:mod:`~textgym.policies.nlpo_mask`).

The mask depends on the token history, so it is computed from the sequences themselves, and
applied identically when sampling (rollouts, through the KV caches), in ``evaluate_actions``
(PPO's ratio) and in the KL penalty (the reference renormalised over the same set): the
stored and recomputed log-probabilities agree, and a banned token has probability 0.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import torch as th

from textgym.errors import ConfigError
from textgym.policies.nlpo_mask import Autocast, NLPOMask
from textgym.policies.token_bans import TokenBans, TokenLists


@dataclass(frozen=True)
class RestrictionConfig:
    """The restriction options of :class:`~textgym.policies.LMPolicy`.

    Attributes:
        bad_words: Strings or token-id lists never to generate; a phrase bans its last
            token after its first ones (Hugging Face's ``bad_words_ids``).
        allowed_tokens: Strings or token ids: the only tokens generated (EOS always is).
        nlpo_top_p: NLPO: allow only the top-p set of a frozen copy of the initial policy
            (in (0, 1]; None: off).
        nlpo_update_every: Refresh that copy with the policy's weights every N PPO
            updates (None: never).
    """

    bad_words: TokenLists | None = None
    allowed_tokens: TokenLists | None = None
    nlpo_top_p: float | None = None
    nlpo_update_every: int | None = None

    def __post_init__(self) -> None:
        top_p, every = self.nlpo_top_p, self.nlpo_update_every
        if top_p is not None and not (_real(top_p) and 0 < top_p <= 1):
            raise ConfigError(
                f"nlpo_top_p={top_p!r} must be a number in (0, 1] (RL4LMs' NLPO uses 0.9), "
                f"or None for no NLPO mask."
            )
        bad_every = isinstance(every, bool) or not isinstance(every, int) or every < 1
        if every is not None and bad_every:
            raise ConfigError(f"nlpo_update_every={every!r} must be an integer >= 1, or None.")
        if every is not None and top_p is None:
            raise ConfigError(
                f"nlpo_update_every={every} refreshes NLPO's masking model, but nlpo_top_p "
                f"is unset; set nlpo_top_p (e.g. 0.9) or drop nlpo_update_every."
            )

    @property
    def active(self) -> bool:
        """Whether any restriction is set."""
        return (
            self.bad_words is not None
            or self.allowed_tokens is not None
            or (self.nlpo_top_p is not None)
        )


class ActionRestrictions:
    """Compute the ``(B, V)`` mask of allowed next tokens for :class:`LMPolicy`.

    Args:
        config: What to restrict.
        tokenizer: The policy's tokenizer (for strings in ``bad_words``/``allowed_tokens``).
        n_actions: The vocabulary size.
        lm: The policy's LM (copied as NLPO's masking model).
        kv_cache: Give the masking model a rollout KV cache.
    """

    def __init__(
        self,
        config: RestrictionConfig,
        tokenizer: Any,
        n_actions: int,
        lm: th.nn.Module,
        kv_cache: bool,
    ) -> None:
        self.bans = TokenBans(config.bad_words, config.allowed_tokens, tokenizer, n_actions)
        self.nlpo = (
            None
            if config.nlpo_top_p is None
            else NLPOMask(lm, float(config.nlpo_top_p), config.nlpo_update_every, kv_cache)
        )

    def at_last_token(self, seqs: th.Tensor, lengths: th.Tensor, autocast: Autocast) -> th.Tensor:
        """Allowed tokens after each row of a rollout step (left-aligned ``seqs``)."""
        allowed = self.bans.allowed(seqs, lengths)
        if self.nlpo is None:
            return allowed
        return self.nlpo.at_last_token(seqs, lengths, allowed, autocast)

    def teacher_forced(
        self,
        seqs: th.Tensor,
        lengths: th.Tensor,
        actions: th.Tensor,
        autocast: Autocast,
        grouped: bool = True,
    ) -> th.Tensor:
        """Allowed tokens after each state; ``seqs`` hold the state, then ``actions[i]``."""
        allowed = self.bans.allowed(seqs, lengths)
        if self.nlpo is None:
            return allowed
        return self.nlpo.teacher_forced(seqs, lengths, actions, allowed, autocast, grouped)

    def on_training_mode(self, mode: bool, lm: th.nn.Module) -> None:
        """Let NLPO count PPO updates and refresh its masking model."""
        if self.nlpo is not None:
            self.nlpo.on_training_mode(mode, lm)


def _real(value: Any) -> bool:
    """Whether ``value`` is a finite real number (not a bool)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
