"""Logits processing shared by sampling and log-prob evaluation, so PPO's ratios are exact."""

from __future__ import annotations

from dataclasses import dataclass

import torch as th

from textgym.errors import ConfigError


@dataclass(frozen=True)
class SamplingConfig:
    """How actions are sampled from the LM's logits.

    Attributes:
        temperature: Divides the logits (> 0).
        top_k: Keep only the ``top_k`` most likely tokens (0: all).
        top_p: Keep the smallest set of tokens whose probability reaches ``top_p`` (1.0: all).
    """

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ConfigError(f"temperature={self.temperature} must be > 0.")
        if self.top_k < 0:
            raise ConfigError(f"top_k={self.top_k} must be >= 0 (0 keeps every token).")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p={self.top_p} must be in (0, 1].")


def process_logits(
    logits: th.Tensor, config: SamplingConfig, allowed: th.Tensor | None = None
) -> th.Tensor:
    """Return float32 logits of the distribution actions are sampled from.

    Tokens outside ``allowed`` (a ``(B, V)`` bool mask from
    :class:`~textgym.policies.restrictions.ActionRestrictions`), then those removed by
    top-k/top-p among the rest, get the lowest finite float, so their probability is 0 and
    entropies stay finite. PPO never stores such a token: it is never sampled.
    """
    logits = logits.float()
    if config.temperature != 1.0:
        logits = logits / config.temperature
    floor = th.finfo(logits.dtype).min
    if allowed is not None:
        logits = logits.masked_fill(~allowed, floor)
    if 0 < config.top_k < logits.shape[-1]:
        kth = th.topk(logits, config.top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, floor)
    if config.top_p < 1.0:
        logits = logits.masked_fill(outside_top_p(logits, config.top_p), floor)
    return logits


def outside_top_p(logits: th.Tensor, top_p: float) -> th.Tensor:
    """``(B, V)`` bool: the tokens outside the smallest set whose probability reaches ``top_p``.

    The most likely token is always kept.
    """
    sorted_logits, order = th.sort(logits, dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    remove = probs.cumsum(dim=-1) - probs >= top_p  # keeps the first
    return remove.scatter(-1, order, remove)
