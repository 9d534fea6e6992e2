"""Build ``LMPolicy``'s parts from its options: critic, actor for the model's kind, restrictions."""

from __future__ import annotations

from typing import Any

import torch as th
from gymnasium import spaces

from textgym.errors import ConfigError
from textgym.policies.lm_loading import prepare_model
from textgym.policies.policy_options import PolicyOptions
from textgym.policies.restrictions import ActionRestrictions
from textgym.policies.rollout_cache import RolloutCache
from textgym.policies.seq2seq import check_seq2seq_options, prompt_slots_of
from textgym.policies.seq2seq_cache import Seq2SeqActor


def build_value_head(lm: th.nn.Module, opts: PolicyOptions) -> th.nn.Linear | None:
    """A zero-initialised linear head on ``lm``'s last hidden state (None without a critic)."""
    if not opts.value_head:
        return None
    head = th.nn.Linear(lm.get_input_embeddings().embedding_dim, 1)
    th.nn.init.zeros_(head.weight)
    th.nn.init.zeros_(head.bias)
    return head


def build_actor(
    lm: th.nn.Module, opts: PolicyOptions, observation_space: spaces.Dict
) -> tuple[Seq2SeqActor | None, RolloutCache | None]:
    """The actor's forwards for ``lm``'s kind: ``(seq2seq actor, causal rollout cache)``.

    An encoder-decoder model gets a :class:`Seq2SeqActor` (and no causal cache); a causal LM
    gets no seq2seq actor, and a :class:`RolloutCache` when ``kv_cache`` is on.
    """
    seq2seq = build_seq2seq(lm, opts, observation_space)
    causal_cache = opts.kv_cache and seq2seq is None
    return seq2seq, RolloutCache(lm) if causal_cache else None


def build_seq2seq(
    lm: th.nn.Module, opts: PolicyOptions, observation_space: spaces.Dict
) -> Seq2SeqActor | None:
    """The encoder-decoder forwards, for a seq2seq model (None for a causal LM)."""
    if not getattr(lm.config, "is_encoder_decoder", False):
        return None
    check_seq2seq_options(opts.value_model, opts.restrictions.nlpo_top_p)
    return Seq2SeqActor(lm, prompt_slots_of(observation_space), opts.kv_cache)


def build_value_model(opts: PolicyOptions) -> tuple[Any, RolloutCache | None]:
    """The critic's own LM and its rollout cache (``(None, None)`` when it is shared)."""
    if opts.value_model == "shared":
        return None, None
    if opts.value_model != "separate":
        raise ConfigError(
            f"value_model={opts.value_model!r} is not supported; use 'shared' or 'separate'."
        )
    if not opts.value_head:
        raise ConfigError(
            "value_model='separate' puts the value head on a second LM, but "
            "value_head=False has no value head; drop one of the two."
        )
    value_lm = prepare_model(opts.model, **opts.load_kwargs)
    return value_lm, RolloutCache(value_lm) if opts.kv_cache else None


def build_restrictions(
    opts: PolicyOptions, tokenizer: Any, n_actions: int, lm: th.nn.Module
) -> ActionRestrictions | None:
    """The restrictions on generated tokens (None when no restriction option is set)."""
    if not opts.restrictions.active:
        return None
    return ActionRestrictions(opts.restrictions, tokenizer, n_actions, lm, opts.kv_cache)
