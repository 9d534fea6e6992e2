"""A batched prefix KV cache that turns SB3's per-step forward calls into decode steps.

SB3 calls the policy once per env step with whole observations. Each row's observation
normally extends the row's previous one by the token just sampled; then one decode step
(one new token per row, attending to the cached keys/values) gives the next logits. Rows
whose observation does not extend the cached sequence (a reset, or anything unexpected)
are prefilled on their full sequence and their slots appended to the batch cache.

Layout: one physical time axis for the whole batch and a per-row mask over the physical
slots; a row's valid slots stay in order (holes are masked). Positions are passed per row.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch as th
from transformers import DynamicCache

from textgym.policies.hf_compat import (
    cache_kwargs,
    cache_layers,
    output_cache,
    unsupported_layers,
)
from textgym.policies.sequences import is_prefix


@dataclass
class StepOutput:
    """What the LM gives for the last token of each row: ``(B, V)`` logits, ``(B, H)`` hidden."""

    logits: th.Tensor
    hidden: th.Tensor


def weights_version(model: th.nn.Module) -> tuple[int, ...]:
    """Changes whenever any weight of ``model`` is modified in place (optimizer steps, loading).

    The caches' ``version``: outputs cached under other weights are stale.
    """
    return tuple(p._version for p in model.parameters())


def run_lm(
    model: th.nn.Module,
    input_ids: th.Tensor,
    attention_mask: th.Tensor,
    position_ids: th.Tensor,
    past: DynamicCache | None = None,
) -> tuple[StepOutput, DynamicCache]:
    """One forward; returns the last slot's logits and final hidden state, and the cache."""
    out = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        **cache_kwargs(model, past if past is not None else DynamicCache()),
        use_cache=True,
        output_hidden_states=True,
        logits_to_keep=1,
    )
    return StepOutput(out.logits[:, -1], out.hidden_states[-1][:, -1]), output_cache(out)


class RolloutCache:
    """Batched KV cache of one model over the rows of a vectorised env.

    Call :meth:`step` with the left-aligned observation of every row; it returns the LM's
    outputs for each row's last token, reusing the cache wherever a row's sequence extends
    the cached one (or equals it). ``version`` identifies the weights
    the cache was built with; a different version rebuilds it.
    """

    def __init__(self, model: th.nn.Module, compact_factor: float = 2.0) -> None:
        self.model = model
        self.compact_factor = compact_factor
        self.clear()

    def clear(self) -> None:
        """Forget everything (e.g. after the weights changed)."""
        self.past: DynamicCache | None = None
        self.slot_mask = th.zeros(0, 0, dtype=th.long)
        self.seqs = th.zeros(0, 0, dtype=th.long)
        self.lengths = th.zeros(0, dtype=th.long)
        self.outputs: StepOutput | None = None
        self.version: object = None
        self.prefill_rows = 0
        self.decode_steps = 0
        self.extended_tokens = 0  # tokens run on top of the cache (decode steps included)

    @th.no_grad()
    def step(self, seqs: th.Tensor, lengths: th.Tensor, version: object = None) -> StepOutput:
        """Outputs for the last token of each row of left-aligned ``seqs`` ``(B, W)``."""
        self._advance(seqs, lengths, version)
        return StepOutput(self.outputs.logits.clone(), self.outputs.hidden.clone())

    def _advance(self, seqs: th.Tensor, lengths: th.Tensor, version: object) -> None:
        """Bring the cache (and ``self.outputs``) to ``seqs``, reusing what it can."""
        if self.past is None or version != self.version or seqs.shape[0] != self.seqs.shape[0]:
            self.clear()
            self.version = version
            return self._prefill_all(seqs, lengths)
        same, extends = self._continuation(seqs, lengths)
        fresh = ~(same | extends)
        if fresh.all():  # e.g. every env was reset at once: start a new cache
            return self._prefill_all(seqs, lengths)
        if fresh.any():
            self._prefill_rows(seqs, lengths, fresh)
        if extends.any():
            self._extend(seqs, lengths, extends)
        self.seqs, self.lengths = seqs.clone(), lengths.clone()
        if self.slot_mask.shape[1] > self.compact_factor * int(lengths.max()) + 8:
            self._compact()

    def _continuation(self, seqs: th.Tensor, lengths: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        """Per row: does ``seqs`` equal the cached sequence, or extend it (by any tokens)?

        One token is a decode step; several (a partner's reply in a conversation) are
        prefilled on top of the cache, so the conversation so far is never run again.
        """
        same = (lengths == self.lengths) & is_prefix(seqs, lengths, self._padded(seqs.shape[1]))
        extends = (lengths > self.lengths) & is_prefix(self.seqs, self.lengths, seqs)
        return same, extends

    def keep_fresh_rows(
        self, seqs: th.Tensor, lengths: th.Tensor
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """Replace rows that would need a prefill by their cached sequences.

        Returns ``(seqs, lengths, fresh)``: :meth:`step` on the returned sequences runs no
        prefill (``fresh`` rows are unchanged, the others decode as usual). With no cache
        for this batch yet, every row is returned as it is and ``fresh`` is all False.
        """
        fresh = th.zeros(seqs.shape[0], dtype=th.bool, device=seqs.device)
        if self.past is None or seqs.shape[0] != self.seqs.shape[0]:
            return seqs, lengths, fresh
        same, extends = self._continuation(seqs, lengths)
        fresh = ~(same | extends)
        width = max(seqs.shape[1], self.seqs.shape[1])
        kept = th.where(fresh[:, None], self._padded(width), _pad_to(seqs, width))
        return kept, th.where(fresh, self.lengths, lengths), fresh

    def _padded(self, width: int) -> th.Tensor:
        out = self.seqs.new_zeros(self.seqs.shape[0], max(width, self.seqs.shape[1]))
        out[:, : self.seqs.shape[1]] = self.seqs
        return out

    def _prefill(
        self, seqs: th.Tensor, lengths: th.Tensor
    ) -> tuple[StepOutput, DynamicCache, th.Tensor]:
        """Prefill rows; identical rows (the k samples of a group) run once, then are copied."""
        width = int(lengths.max())
        keys = th.cat([seqs[:, :width], lengths[:, None]], dim=1)
        unique, inverse = th.unique(keys, dim=0, return_inverse=True)
        if len(unique) == len(keys):
            return self._prefill_distinct(seqs, lengths)
        out, past, mask = self._prefill_distinct(unique[:, :width], unique[:, width])
        for layer in cache_layers(past):
            layer.keys = layer.keys.index_select(0, inverse)
            layer.values = layer.values.index_select(0, inverse)
        return StepOutput(out.logits[inverse], out.hidden[inverse]), past, mask[inverse]

    def _prefill_distinct(
        self, seqs: th.Tensor, lengths: th.Tensor
    ) -> tuple[StepOutput, DynamicCache, th.Tensor]:
        """Prefill rows, left-padded so every row's last token sits in the last slot."""
        width = int(lengths.max())
        positions = th.arange(width, device=seqs.device)
        shift = (width - lengths)[:, None]
        mask = (positions >= shift).long()
        source = (positions - shift).clamp(min=0)
        ids = th.gather(seqs[:, :width], 1, source) * mask
        pos_ids = (positions - shift).clamp(min=0)
        out, past = run_lm(self.model, ids, mask, pos_ids)
        self.prefill_rows += seqs.shape[0]
        return out, past, mask

    def _prefill_all(self, seqs: th.Tensor, lengths: th.Tensor) -> None:
        self.outputs, self.past, self.slot_mask = self._prefill(seqs, lengths)
        _check_layers(self.past)
        self.seqs, self.lengths = seqs.clone(), lengths.clone()

    def _prefill_rows(self, seqs: th.Tensor, lengths: th.Tensor, rows: th.Tensor) -> None:
        out, past, mask = self._prefill(seqs[rows], lengths[rows])
        batch, new = seqs.shape[0], mask.shape[1]
        for layer, fresh in zip(cache_layers(self.past), cache_layers(past), strict=True):
            layer.keys = _append_rows(layer.keys, fresh.keys, rows, batch)
            layer.values = _append_rows(layer.values, fresh.values, rows, batch)
        new_mask = self.slot_mask.new_zeros(batch, new)
        new_mask[rows] = mask
        self.slot_mask = th.cat([self.slot_mask.masked_fill(rows[:, None], 0), new_mask], dim=1)
        self.outputs.logits[rows] = out.logits.to(self.outputs.logits.dtype)
        self.outputs.hidden[rows] = out.hidden.to(self.outputs.hidden.dtype)

    def _extend(self, seqs: th.Tensor, lengths: th.Tensor, rows: th.Tensor) -> None:
        """Append ``n`` slots for every row, ``n`` the longest extension among ``rows``.

        Each of ``rows`` gets its new tokens right-aligned in the new slots (its last token
        in the last slot, whose outputs are kept); other slots are masked. ``n`` is 1 for a
        decode step.
        """
        new = th.where(rows, lengths - self.lengths, 0)  # (B,) new tokens per row
        n = int(new.max())
        offsets = th.arange(n, device=seqs.device)
        first = n - new  # the slot of each row's first new token
        real = offsets[None, :] >= first[:, None]  # (B, n)
        positions = (self.lengths[:, None] + offsets[None, :] - first[:, None]).clamp(min=0)
        source = positions.clamp(max=seqs.shape[1] - 1)
        ids = th.gather(seqs, 1, source) * real
        self.slot_mask = th.cat([self.slot_mask, real.long()], dim=1)
        pos_ids = positions * real
        out, self.past = run_lm(self.model, ids, self.slot_mask, pos_ids, self.past)
        self.outputs.logits[rows] = out.logits[rows].to(self.outputs.logits.dtype)
        self.outputs.hidden[rows] = out.hidden[rows].to(self.outputs.hidden.dtype)
        self.decode_steps += 1
        self.extended_tokens += int(new.sum())

    def _compact(self) -> None:
        """Gather each row's valid slots to the front; drop the all-masked tail."""
        valid = self.slot_mask > 0
        width = int(valid.sum(dim=1).max())
        order = th.argsort((~valid).to(th.int8), dim=1, stable=True)[:, :width]
        for layer in cache_layers(self.past):
            index = order[:, None, :, None].expand(
                -1, layer.keys.shape[1], -1, layer.keys.shape[-1]
            )
            layer.keys = th.gather(layer.keys, 2, index)
            layer.values = th.gather(layer.values, 2, index)
        self.slot_mask = th.gather(self.slot_mask, 1, order)


def _pad_to(seqs: th.Tensor, width: int) -> th.Tensor:
    """``seqs`` right-padded with 0 to ``width`` columns."""
    return th.nn.functional.pad(seqs, (0, width - seqs.shape[1]))


def _append_rows(old: th.Tensor, fresh: th.Tensor, rows: th.Tensor, batch: int) -> th.Tensor:
    """Append ``fresh`` slots ``(r, H, T2, D)`` for ``rows`` after ``old`` ``(B, H, T, D)``."""
    block = old.new_zeros(batch, old.shape[1], fresh.shape[2], old.shape[3])
    block[rows] = fresh.to(old.dtype)
    return th.cat([old, block], dim=2)


def _check_layers(past: DynamicCache) -> None:
    kinds = unsupported_layers(past)
    if kinds:
        raise NotImplementedError(
            f"The rollout KV cache supports full-attention layers only, not {sorted(kinds)}; "
            f"pass policy_kwargs={{'kv_cache': False}} to run without it."
        )
