"""The rollout cache of an encoder-decoder policy: encoder once per episode, decoder KV cache.

Rows (the envs of a vector env) reset at different steps, so their decoders hold different
numbers of tokens; T5, BART and Marian compute decoder positions from the cache's length,
one for the whole batch, so rows of different lengths cannot share one cache exactly.
Rows are therefore kept in *cohorts*: the rows prefilled together (their episodes started
at the same step), with one encoder output, one cross-attention cache and one decoder KV
cache. Each step runs one decode step per cohort with a row that extends its generation by
one token. A row whose observation is unchanged (an idle step after EOS) keeps its outputs;
if others of its cohort step, its cache goes stale and it is prefilled again should it ever
extend. Any other row (a reset, anything unexpected) is prefilled into a new cohort:
its source encoded once, its decoder run over the start token and what it has generated.

With ``TextGenEnv(pad_after_eos=True)`` the envs start episodes together: one cohort, one
decoder call per step. Otherwise there is a cohort per distinct episode start among the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch as th
from transformers.modeling_outputs import BaseModelOutput

from textgym.policies.hf_compat import cache_kwargs, cache_layers, output_cache
from textgym.policies.rollout_cache import StepOutput
from textgym.policies.seq2seq import (
    Split,
    decoder_inputs,
    encode_distinct,
    run_decoder,
    split_observation,
    teacher_forced,
)
from textgym.policies.sequences import is_prefix


@dataclass
class Cohort:
    """Rows prefilled together: their env rows, encoder outputs and KV cache."""

    rows: th.Tensor
    encoded: Any
    encoder_mask: th.Tensor
    past: Any


class Seq2SeqRolloutCache:
    """Batched encoder-decoder cache over the rows of a vectorised env (see module docstring).

    ``version`` identifies the weights the cache was built with; a different one rebuilds it.
    """

    def __init__(self, model: th.nn.Module) -> None:
        self.model = model
        self.clear()

    def clear(self) -> None:
        """Forget everything (e.g. after the weights changed)."""
        self.split: Split | None = None
        self.cohorts: dict[int, Cohort] = {}
        self.cohort_of = th.zeros(0, dtype=th.long)  # -1: the row's cache is stale
        self.outputs: StepOutput | None = None
        self.version: object = None
        self.prefill_rows = 0
        self.decode_steps = 0
        self.encoded_rows = 0
        self._next_id = 0

    @th.no_grad()
    def step(self, split: Split, version: object = None) -> StepOutput:
        """Outputs for the last decoder token of every row of ``split``."""
        batch = split.source.shape[0]
        if self.split is None or version != self.version or batch != len(self.cohort_of):
            self.clear()
            self.version = version
            self.cohort_of = th.full((batch,), -1, dtype=th.long, device=split.source.device)
            fresh = th.ones(batch, dtype=th.bool, device=split.source.device)
        else:
            same, extends = self._continuation(split)
            extends &= self.cohort_of >= 0
            self._decode(split, extends)
            fresh = ~(same | extends)
        if fresh.any():
            self._prefill(split, th.nonzero(fresh).squeeze(1))
        self._tidy()
        self.split = Split(*(t.clone() for t in vars(split).values()))
        return StepOutput(self.outputs.logits.clone(), self.outputs.hidden.clone())

    def _continuation(self, split: Split) -> tuple[th.Tensor, th.Tensor]:
        """Per row: same source, and a generation equal to the cached one or one token longer."""
        old = self.split
        source = (split.source_len == old.source_len) & (split.source == old.source).all(dim=1)
        new_len, old_len = split.generated_len, old.generated_len
        same = source & (new_len == old_len) & (split.generated == old.generated).all(dim=1)
        extends = (
            source & (new_len == old_len + 1) & is_prefix(old.generated, old_len, split.generated)
        )
        return same, extends

    def _decode(self, split: Split, extends: th.Tensor) -> None:
        """One decode step per cohort with an extending row; its other rows go stale."""
        last = th.gather(split.generated, 1, (split.generated_len - 1).clamp(min=0)[:, None])
        for cid, cohort in self.cohorts.items():
            live = self.cohort_of[cohort.rows] == cid
            stepping = live & extends[cohort.rows]
            if not stepping.any():
                continue
            tokens = last[cohort.rows] * stepping[:, None]
            out = run_decoder(
                self.model,
                cohort.encoded,
                cohort.encoder_mask,
                tokens,
                use_cache=True,
                **cache_kwargs(self.model, cohort.past),
            )
            cohort.past = output_cache(out)
            self.cohort_of[cohort.rows[live & ~stepping]] = -1
            self._store(cohort.rows[stepping], out, stepping)
            self.decode_steps += 1

    def _prefill(self, split: Split, rows: th.Tensor) -> None:
        """New cohorts for ``rows``: one per generated length (normally one: length 0)."""
        for length in th.unique(split.generated_len[rows]).tolist():
            members = rows[split.generated_len[rows] == length]
            encoded, mask, _ = encode_distinct(
                self.model, split.source[members], split.source_len[members]
            )
            tokens = decoder_inputs(self.model, split.generated[members])
            out = run_decoder(self.model, encoded, mask, tokens[:, : length + 1], use_cache=True)
            cid, self._next_id = self._next_id, self._next_id + 1
            self.cohorts[cid] = Cohort(members, encoded, mask, output_cache(out))
            self.cohort_of[members] = cid
            self._store(members, out, None)
            self.prefill_rows += len(members)

    def _store(self, rows: th.Tensor, out: Any, keep: th.Tensor | None) -> None:
        """Write the last position's logits and decoder hidden state of ``out`` for ``rows``."""
        logits, hidden = out.logits[:, -1], out.decoder_hidden_states[-1][:, -1]
        if keep is not None:
            logits, hidden = logits[keep], hidden[keep]
        if self.outputs is None:
            batch = len(self.cohort_of)
            self.outputs = StepOutput(
                logits.new_zeros(batch, logits.shape[-1]), hidden.new_zeros(batch, hidden.shape[-1])
            )
        self.outputs.logits[rows] = logits.to(self.outputs.logits.dtype)
        self.outputs.hidden[rows] = hidden.to(self.outputs.hidden.dtype)

    def _tidy(self) -> None:
        """Drop cohorts without a live row; shrink those whose rows are mostly stale."""
        for cid in list(self.cohorts):
            cohort = self.cohorts[cid]
            live = self.cohort_of[cohort.rows] == cid
            if not live.any():
                del self.cohorts[cid]
            elif 2 * int(live.sum()) <= len(live) and len(live) > 1:
                self.cohorts[cid] = _select(cohort, th.nonzero(live).squeeze(1))


def _select(cohort: Cohort, keep: th.Tensor) -> Cohort:
    """The cohort reduced to its rows at ``keep`` (caches indexed in place)."""
    for part in (cohort.past.self_attention_cache, cohort.past.cross_attention_cache):
        for layer in cache_layers(part):
            layer.keys = layer.keys.index_select(0, keep)
            layer.values = layer.values.index_select(0, keep)
    encoded = BaseModelOutput(last_hidden_state=cohort.encoded.last_hidden_state[keep])
    return Cohort(cohort.rows[keep], encoded, cohort.encoder_mask[keep], cohort.past)


class Seq2SeqActor:
    """What ``LMPolicy`` runs for an encoder-decoder model, on textgym observations.

    Args:
        model: The encoder-decoder LM.
        prompt_slots: Where the prompt ends in the observation (``input_ids.prompt_slots``).
        kv_cache: Use :class:`Seq2SeqRolloutCache` in rollouts (results are equal).
    """

    def __init__(self, model: th.nn.Module, prompt_slots: int, kv_cache: bool) -> None:
        self.model = model
        self.prompt_slots = prompt_slots
        self.cache = Seq2SeqRolloutCache(model) if kv_cache else None

    def split(self, obs: dict[str, th.Tensor]) -> Split:
        """The observations' sources and generations."""
        return split_observation(obs["input_ids"], obs["attention_mask"], self.prompt_slots)

    def at_last_token(self, obs: dict[str, th.Tensor], version: object) -> tuple[StepOutput, int]:
        """Outputs at each row's last token: from the cache when no gradient is needed.

        Returns the outputs and the tokens run outside the cache.
        """
        if self.cache is not None and not th.is_grad_enabled():
            return self.cache.step(self.split(obs), version), 0
        return self.teacher_forced(obs, grouped=False)

    def teacher_forced(
        self, obs: dict[str, th.Tensor], grouped: bool = True
    ) -> tuple[StepOutput, int]:
        """Outputs at each row's last token, one decoder forward per episode; tokens run."""
        return teacher_forced(self.model, self.split(obs), grouped)

    def clear(self) -> None:
        """Forget the rollout cache (the weights are about to change)."""
        if self.cache is not None:
            self.cache.clear()
