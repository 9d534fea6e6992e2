"""Token sequences from observations: left-aligning, prefix tests and prefix groups."""

from __future__ import annotations

import torch as th


def left_align(input_ids: th.Tensor, attention_mask: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
    """Move each row's valid tokens to the front, in order.

    Args:
        input_ids: ``(B, L)`` token ids (any float or int dtype holding integers).
        attention_mask: ``(B, L)``, 1 on valid tokens.

    Returns:
        ``(ids, lengths)``: ``ids`` ``(B, L)`` int64, right-padded with 0 after each row's
        ``lengths[b]`` valid tokens.
    """
    valid = attention_mask > 0
    order = th.argsort((~valid).to(th.int8), dim=1, stable=True)  # valid slots first
    ids = th.gather(input_ids.long(), 1, order)
    lengths = valid.sum(dim=1)
    positions = th.arange(ids.shape[1], device=ids.device)
    return ids.masked_fill(positions >= lengths[:, None], 0), lengths


def is_prefix(short: th.Tensor, short_len: th.Tensor, long: th.Tensor) -> th.Tensor:
    """Row-wise: are the first ``short_len[b]`` tokens of ``short[b]`` those of ``long[b]``?

    Shapes: ``short`` ``(B, W)``, ``long`` ``(B, W2 >= max(short_len))``; returns ``(B,)``.
    """
    width = int(short_len.max().item()) if short.shape[0] else 0
    if width == 0:
        return th.ones(short.shape[0], dtype=th.bool, device=short.device)
    positions = th.arange(width, device=short.device)
    equal = short[:, :width] == long[:, :width]
    return (equal | (positions >= short_len[:, None])).all(dim=1)


def group_by_prefix(seqs: th.Tensor, lengths: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
    """Group sequences that are prefixes of a common longest one.

    Args:
        seqs: ``(N, W)`` left-aligned ids, right-padded.
        lengths: ``(N,)`` valid lengths.

    Returns:
        ``(representatives, group)``: indices ``(R,)`` of the sequences to run, longest first,
        and ``group`` ``(N,)`` mapping each sequence to the position of its representative.
        Each sequence is a prefix of (or equal to) its representative.
    """
    group = th.full((seqs.shape[0],), -1, dtype=th.long, device=seqs.device)
    representatives = []
    for index in th.argsort(lengths, descending=True, stable=True).tolist():
        if group[index] >= 0:
            continue
        candidates = group < 0
        rep = seqs[index].expand_as(seqs)
        members = candidates & (lengths <= lengths[index]) & is_prefix(seqs, lengths, rep)
        group[members] = len(representatives)
        representatives.append(index)
    return th.tensor(representatives, dtype=th.long, device=seqs.device), group


def append_actions(seqs: th.Tensor, lengths: th.Tensor, actions: th.Tensor) -> th.Tensor:
    """``(N, W + 1)`` left-aligned ids with ``actions[i]`` written after row ``i``'s tokens."""
    out = th.cat([seqs, seqs.new_zeros(seqs.shape[0], 1)], dim=1)
    out[th.arange(seqs.shape[0], device=seqs.device), lengths] = actions.long()
    return out
