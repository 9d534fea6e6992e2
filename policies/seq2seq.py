"""Encoder-decoder (T5, BART, Marian) forwards for ``LMPolicy``.

The env's observation has one layout for both kinds of model: the first ``prompt_slots``
slots hold the prompt (left-padded), the rest the generation so far. An encoder-decoder
policy sends the prompt to the encoder and ``[decoder_start_token_id] + generation`` to the
decoder; the decoder's outputs at its last token give the next token's logits and the value
head's hidden state (the decoder's last hidden state).

In updates (:func:`teacher_forced`), the states of one episode share the source and each is
a prefix of the episode's last one: one decoder forward per episode reads them all, and one
encoder forward per distinct source (the k samples of a group share it), with gradients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch as th
from transformers.modeling_outputs import BaseModelOutput

from textgym.errors import ConfigError
from textgym.policies.rollout_cache import StepOutput
from textgym.policies.sequences import group_by_prefix, left_align


@dataclass
class Split:
    """Observations split into the encoder's source and the decoder's generated tokens.

    ``source`` ``(B, S)`` and ``generated`` ``(B, G)`` are left-aligned and right-padded
    with 0 after ``source_len`` / ``generated_len`` valid tokens.
    """

    source: th.Tensor
    source_len: th.Tensor
    generated: th.Tensor
    generated_len: th.Tensor


def split_observation(input_ids: th.Tensor, attention_mask: th.Tensor, prompt_slots: int) -> Split:
    """Split textgym observations ``(B, L)`` at ``prompt_slots`` (see the module docstring)."""
    source, source_len = left_align(input_ids[:, :prompt_slots], attention_mask[:, :prompt_slots])
    generated, generated_len = left_align(
        input_ids[:, prompt_slots:], attention_mask[:, prompt_slots:]
    )
    return Split(source, source_len, generated, generated_len)


def prompt_slots_of(observation_space: Any) -> int:
    """The prompt's slot count the env's observation space carries.

    A clear error without it, or for a conversation (multi-turn) env.
    """
    if getattr(observation_space["input_ids"], "conversation", False):
        raise ConfigError(
            "An encoder-decoder policy cannot play a multi-turn env: its decoder would have to "
            "hold the partner's replies. Use a causal LM (e.g. smollm2-135m-instruct)."
        )
    slots = getattr(observation_space["input_ids"], "prompt_slots", None)
    if slots is None:
        raise ConfigError(
            "An encoder-decoder policy sends the prompt to the encoder, so it must know where "
            "the prompt ends in the observation; this observation space does not say "
            "(input_ids.prompt_slots). Build the env with textgym's TextGenEnv."
        )
    return int(slots)


# The oldest transformers the encoder-decoder cache was tested with (its cache classes changed).
SEQ2SEQ_TRANSFORMERS = 5


def check_seq2seq_options(value_model: str, nlpo_top_p: float | None) -> None:
    """Raise, naming the fix, for the options an encoder-decoder policy does not support yet."""
    import transformers

    major = int(transformers.__version__.split(".")[0])
    if major < SEQ2SEQ_TRANSFORMERS:
        raise ConfigError(
            f"Encoder-decoder policies need transformers>={SEQ2SEQ_TRANSFORMERS} (found "
            f"{transformers.__version__}); upgrade it: pip install 'transformers>=5'."
        )
    if value_model != "shared":
        raise ConfigError(
            f"value_model={value_model!r} with an encoder-decoder model is not supported yet; "
            "use value_model='shared' (the value head on the decoder's last hidden state)."
        )
    if nlpo_top_p is not None:
        raise ConfigError(
            "nlpo_top_p (NLPO's masking model) with an encoder-decoder model is not supported "
            "yet; drop nlpo_top_p (bad_words and allowed_tokens work)."
        )


def decoder_start(lm: th.nn.Module) -> int:
    """The model's ``decoder_start_token_id`` (a clear error if its config has none)."""
    start = getattr(lm.config, "decoder_start_token_id", None)
    if start is None:
        raise ConfigError(
            "This encoder-decoder model's config has no decoder_start_token_id; set "
            "model.config.decoder_start_token_id (T5: the pad id; BART: the EOS id)."
        )
    return int(start)


def decoder_inputs(lm: th.nn.Module, generated: th.Tensor) -> th.Tensor:
    """``(B, G + 1)``: the decoder start token, then each row's generated tokens."""
    start = generated.new_full((generated.shape[0], 1), decoder_start(lm))
    return th.cat([start, generated], dim=1)


def encode(lm: th.nn.Module, source: th.Tensor, lengths: th.Tensor) -> tuple[Any, th.Tensor]:
    """The encoder's outputs on right-padded ``source`` rows, and their attention mask."""
    width = max(int(lengths.max()), 1)
    mask = (th.arange(width, device=source.device) < lengths[:, None]).long()
    hidden = lm.get_encoder()(input_ids=source[:, :width] * mask, attention_mask=mask)
    return BaseModelOutput(last_hidden_state=hidden.last_hidden_state), mask


def encode_distinct(
    lm: th.nn.Module, source: th.Tensor, lengths: th.Tensor
) -> tuple[Any, th.Tensor, int]:
    """:func:`encode`, running each distinct source once (the k samples of a group share it).

    Returns the per-row outputs and mask, and the number of source tokens encoded.
    """
    keys = th.cat([lengths[:, None], source], dim=1)
    unique, owner = th.unique(keys, dim=0, return_inverse=True)
    encoded, mask = encode(lm, unique[:, 1:], unique[:, 0])
    rows = BaseModelOutput(last_hidden_state=encoded.last_hidden_state[owner])
    return rows, mask[owner], int(unique[:, 0].sum())


def run_decoder(
    lm: th.nn.Module,
    encoded: Any,
    encoder_mask: th.Tensor,
    tokens: th.Tensor,
    mask: th.Tensor | None = None,
    **extra: Any,
) -> Any:
    """One seq2seq forward over decoder ``tokens`` given the encoder's outputs."""
    return lm(
        encoder_outputs=encoded,
        attention_mask=encoder_mask,
        decoder_input_ids=tokens,
        decoder_attention_mask=mask,
        output_hidden_states=True,
        **extra,
    )


def teacher_forced(lm: th.nn.Module, split: Split, grouped: bool = True) -> tuple[StepOutput, int]:
    """Outputs at each row's last decoder token; one forward per episode (see module).

    Returns the outputs and the number of (unpadded) encoder and decoder tokens run.
    """
    keys = _group_keys(split)
    if grouped:
        reps, group = group_by_prefix(keys, 1 + split.source.shape[1] + split.generated_len)
    else:
        reps = group = th.arange(keys.shape[0], device=keys.device)
    encoded, encoder_mask, source_tokens = encode_distinct(
        lm, split.source[reps], split.source_len[reps]
    )
    dec_len = split.generated_len[reps] + 1
    width = int(dec_len.max())
    tokens = decoder_inputs(lm, split.generated[reps])[:, :width]
    mask = (th.arange(width, device=tokens.device) < dec_len[:, None]).long()
    out = run_decoder(lm, encoded, encoder_mask, tokens * mask, mask)
    logits = out.logits[group, split.generated_len]
    hidden = out.decoder_hidden_states[-1][group, split.generated_len]
    return StepOutput(logits, hidden), source_tokens + int(mask.sum())


def _group_keys(split: Split) -> th.Tensor:
    """``[source_len, source..., generated...]`` per row: prefixes share source and history."""
    return th.cat([split.source_len[:, None], split.source, split.generated], dim=1).contiguous()
