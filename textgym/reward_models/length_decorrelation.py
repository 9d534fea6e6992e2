"""A length-decorrelation loss term for reward-model training (after ODIN, Chen et al. 2024).

ODIN ("ODIN: Disentangled Reward Mitigates Hacking in RLHF", Chen, Zhu, Soselia et al.,
ICML 2024) trains a quality head and a length head and adds a loss that decorrelates the
quality head's rewards from response length: ``|rho(r_quality, length)|``, the absolute
Pearson correlation over the batch. textgym keeps one head and adds that term alone, with
weight ``lambda`` (``--length-decorrelation``)::

    loss = -mean(log sigmoid(r(chosen) - r(rejected))) + lambda * |rho(r, words)|

over the batch's ``2b`` responses, ``words`` being each response's word count. ODIN's length
head and its weight-orthogonality term are not implemented: with one head, length that truly
predicts preference is given up rather than moved to a separate head.
"""

from __future__ import annotations

from typing import Any

_EPS = 1e-12


def length_correlation(rewards: Any, words: Any) -> Any:
    """``|Pearson correlation|`` between ``rewards`` and ``words`` (1-D tensors), differentiable.

    0 when either is constant (no length signal in the batch, or a constant model).
    """
    r = rewards - rewards.mean()
    w = words.to(rewards.dtype) - words.to(rewards.dtype).mean()
    return (r * w).sum().abs() / ((r * r).sum() * (w * w).sum() + _EPS).sqrt()
