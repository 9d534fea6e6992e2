"""The policy LM's outputs at chosen tokens, for a causal or an encoder-decoder model.

In rollouts a sequence's last token is read from a KV cache when no gradient is needed
(:class:`~textgym.policies.rollout_cache.RolloutCache`, or the seq2seq actor's own); in
updates it is read teacher-forced, one forward per prefix group. Every function returns the
outputs and the number of tokens run through an LM outside the caches.
"""

from __future__ import annotations

import torch as th

from textgym.policies.rollout_cache import RolloutCache, StepOutput, weights_version
from textgym.policies.seq2seq_cache import Seq2SeqActor
from textgym.policies.teacher_forcing import head_logits, hidden_at


def outputs_at(
    lm: th.nn.Module, seqs: th.Tensor, lengths: th.Tensor, positions: th.Tensor, grouped: bool
) -> tuple[StepOutput, int]:
    """Causal LM outputs of row ``i`` at ``positions[i]``, one forward per prefix group."""
    hidden, tokens = hidden_at(lm, seqs, lengths, positions, grouped)
    return StepOutput(head_logits(lm, hidden), hidden), tokens


def at_actions(
    lm: th.nn.Module, seqs: th.Tensor, lengths: th.Tensor, grouped: bool
) -> tuple[StepOutput, int]:
    """Causal ``lm``'s outputs at each state's last token, teacher-forced.

    ``seqs`` hold the left-aligned states of ``lengths`` tokens, each followed by its action
    (:func:`~textgym.policies.sequences.append_actions`): one forward per prefix group reads
    every state of an episode.
    """
    return outputs_at(lm, seqs, lengths + 1, lengths - 1, grouped)


def at_last_token(
    lm: th.nn.Module,
    cache: RolloutCache | None,
    seqs: th.Tensor,
    lengths: th.Tensor,
    grouped: bool,
) -> tuple[StepOutput, int]:
    """Causal ``lm``'s outputs at each sequence's last token (from ``cache`` without grad)."""
    if cache is not None and not th.is_grad_enabled():
        return cache.step(seqs, lengths, weights_version(lm)), 0
    return outputs_at(lm, seqs, lengths, lengths - 1, grouped)


def actor_at_last_token(
    lm: th.nn.Module,
    seq2seq: Seq2SeqActor | None,
    cache: RolloutCache | None,
    obs: dict[str, th.Tensor],
    seqs: th.Tensor,
    lengths: th.Tensor,
    grouped: bool,
) -> tuple[StepOutput, int]:
    """The actor's outputs at each observation's last token: the seq2seq actor's, or ``lm``'s.

    ``seqs`` and ``lengths`` are the observations left-aligned (read by a causal ``lm``).
    """
    if seq2seq is not None:
        return seq2seq.at_last_token(obs, weights_version(lm))
    return at_last_token(lm, cache, seqs, lengths, grouped)


def actor_teacher_forced(
    lm: th.nn.Module,
    seq2seq: Seq2SeqActor | None,
    obs: dict[str, th.Tensor],
    seqs: th.Tensor,
    lengths: th.Tensor,
    grouped: bool,
) -> tuple[StepOutput, int]:
    """The actor's outputs at each state's last token, teacher-forced, in an update.

    ``seqs`` and ``lengths`` are as for :func:`at_actions` (read by a causal ``lm``).
    """
    if seq2seq is not None:
        return seq2seq.teacher_forced(obs, grouped)
    return at_actions(lm, seqs, lengths, grouped)
