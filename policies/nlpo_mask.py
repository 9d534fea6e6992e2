"""NLPO's action mask: only tokens in the top-p of a frozen masking model may be generated.

Natural Language Policy Optimization (Ramamurthy et al. 2023, RL4LMs) restricts each step
to the smallest set of tokens whose probability under a *masking model* reaches ``top_p``.
The masking model is a frozen copy of the initial policy, optionally refreshed to the
current policy every ``update_every`` PPO updates. It is a plain attribute, not a
submodule: it is not among the policy's parameters, in its optimizer or in its saved
weights (after ``PPO.load`` it is the initial model again until its next refresh).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from contextlib import AbstractContextManager

import torch as th

from textgym.policies.rollout_cache import RolloutCache
from textgym.policies.sampling import outside_top_p
from textgym.policies.teacher_forcing import head_logits, hidden_at

Autocast = Callable[[], AbstractContextManager]


class NLPOMask:
    """The top-p set of a frozen masking model, at rollout steps and teacher-forced.

    Args:
        lm: The policy's LM at construction (copied; the copy is the masking model).
        top_p: Probability mass of the allowed set, in (0, 1].
        update_every: Copy the policy's weights into the masking model after every this
            many PPO updates; None: never (the masking model stays the initial policy).
        kv_cache: Run rollout steps through a KV cache of the masking model.
    """

    def __init__(
        self, lm: th.nn.Module, top_p: float, update_every: int | None, kv_cache: bool
    ) -> None:
        self.masker = copy.deepcopy(lm).eval().requires_grad_(False)
        self.top_p, self.update_every = top_p, update_every
        self.cache = RolloutCache(self.masker) if kv_cache else None
        self.updates = 0  # PPO updates finished
        self.refreshes = 0  # times the masking model took the policy's weights
        self._updating = False

    def at_last_token(
        self, seqs: th.Tensor, lengths: th.Tensor, allowed: th.Tensor, autocast: Autocast
    ) -> th.Tensor:
        """``allowed`` narrowed to the top-p set after each row's last token (rollouts)."""
        self._place(seqs.device)
        with th.no_grad(), autocast():
            if self.cache is not None:
                logits = self.cache.step(seqs, lengths, self.refreshes).logits
            else:
                hidden, _ = hidden_at(self.masker, seqs, lengths, lengths - 1, grouped=False)
                logits = head_logits(self.masker, hidden)
        return self._narrow(logits, allowed)

    def teacher_forced(
        self,
        seqs: th.Tensor,
        lengths: th.Tensor,
        actions: th.Tensor,
        allowed: th.Tensor,
        autocast: Autocast,
        grouped: bool = True,
    ) -> th.Tensor:
        """``allowed`` narrowed to the top-p set after each state, the taken action kept.

        ``seqs`` hold each state's ``lengths[i]`` tokens followed by ``actions[i]`` (as in
        ``evaluate_actions``). An action sampled from this set stays in it even if the
        teacher-forced logits differ from the cached ones by rounding at the set's edge,
        so its recomputed probability is never 0.
        """
        self._place(seqs.device)
        with th.no_grad(), autocast():
            hidden, _ = hidden_at(self.masker, seqs, lengths + 1, lengths - 1, grouped)
            logits = head_logits(self.masker, hidden)
        keep = self._narrow(logits, allowed)
        keep[th.arange(len(actions), device=keep.device), actions] = True
        return keep

    def on_training_mode(self, mode: bool, lm: th.nn.Module) -> None:
        """Count PPO updates (train mode, then back); refresh every ``update_every``."""
        if mode:
            self._updating = True
            return
        if not self._updating:
            return
        self._updating = False
        self.updates += 1
        if self.update_every is not None and self.updates % self.update_every == 0:
            self.masker.load_state_dict(lm.state_dict())
            self.refreshes += 1

    def _narrow(self, logits: th.Tensor, allowed: th.Tensor) -> th.Tensor:
        """``allowed`` and the top-p set of the masking model's distribution over it."""
        logits = logits[:, : allowed.shape[1]].float()
        logits = logits.masked_fill(~allowed, th.finfo(logits.dtype).min)
        return allowed & ~outside_top_p(logits, self.top_p)

    def _place(self, device: th.device) -> None:
        """Move the masking model to the policy's device (SB3 moves the policy after build)."""
        if next(self.masker.parameters()).device != device:
            self.masker.to(device)
            if self.cache is not None:
                self.cache.clear()
