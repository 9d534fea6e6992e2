"""Teacher-forced LM outputs: one forward per prefix group gives every step's hidden state.

Each observation of an episode is a prefix of the episode's last one, so the LM's final
hidden state at position ``p`` of one forward over the longest sequence is the hidden state
of every shorter sequence whose last token sits at ``p`` (causal attention).
"""

from __future__ import annotations

import torch as th

from textgym.policies.sequences import group_by_prefix
from textgym.policies.shared_prefix import Cluster, prefix_clusters, shared_prefix_hidden


def hidden_at(
    lm: th.nn.Module,
    seqs: th.Tensor,
    lengths: th.Tensor,
    positions: th.Tensor,
    grouped: bool = True,
    max_tokens: int | None = None,
) -> tuple[th.Tensor, int]:
    """Final hidden states ``(N, H)`` of row ``i`` of ``seqs`` at ``positions[i]``.

    Args:
        lm: A causal LM.
        seqs: ``(N, W)`` left-aligned ids, right-padded.
        lengths: ``(N,)`` valid lengths.
        positions: ``(N,)`` positions to read, each ``< lengths[i]``.
        grouped: Run one forward per prefix group, and a prompt shared by several groups
            once (:mod:`~textgym.policies.shared_prefix`); else one forward per row. Results
            are equal.
        max_tokens: Bound on the (padded) tokens of one forward (None: no bound).

    Returns:
        The hidden states, and the number of (unpadded) tokens run through the LM.
    """
    if grouped:
        reps, group = group_by_prefix(seqs, lengths)
        clusters = prefix_clusters(seqs[reps], lengths[reps])
    else:
        reps = group = th.arange(seqs.shape[0], device=seqs.device)
        clusters = []
    rep_seqs, rep_lengths = seqs[reps], lengths[reps]
    slot = th.full((len(reps),), -1, dtype=th.long, device=seqs.device)
    parts, members_of, tokens = [], [], 0
    for chunk in _pack(_units(clusters, rep_lengths), rep_lengths, max_tokens):
        for rows, hidden, n in _forward(lm, rep_seqs, rep_lengths, chunk):
            tokens += n
            slot.fill_(-1)
            slot[rows] = th.arange(len(rows), device=seqs.device)
            members = th.nonzero(slot[group] >= 0).squeeze(1)
            parts.append(hidden[slot[group[members]], positions[members]])
            members_of.append(members)
    if len(parts) == 1 and len(members_of[0]) == seqs.shape[0]:  # every row, in order
        return parts[0], tokens
    out = parts[0].new_empty(seqs.shape[0], parts[0].shape[-1])
    out[th.cat(members_of)] = th.cat(parts)
    return out, tokens


def _units(clusters: list[Cluster], lengths: th.Tensor) -> list[Cluster]:
    """The clusters, then every other row alone (``shared=0``)."""
    alone = th.ones(len(lengths), dtype=th.bool, device=lengths.device)
    for cluster in clusters:
        alone[cluster.rows] = False
    return [*clusters, *(Cluster(row[None], 0) for row in th.nonzero(alone).squeeze(1))]


def _pack(units: list[Cluster], lengths: th.Tensor, max_tokens: int | None) -> list[list[Cluster]]:
    """Consecutive units in chunks of at most ``max_tokens`` padded tokens (one unit at least)."""
    chunks: list[list[Cluster]] = [[]]
    total = 0
    for unit in units:
        longest = int(lengths[unit.rows].max())
        cost = unit.shared + len(unit.rows) * (longest - unit.shared)
        if max_tokens is not None and chunks[-1] and total + cost > max_tokens:
            chunks.append([])
            total = 0
        chunks[-1].append(unit)
        total += cost
    return chunks


def _forward(
    lm: th.nn.Module, seqs: th.Tensor, lengths: th.Tensor, units: list[Cluster]
) -> list[tuple[th.Tensor, th.Tensor, int]]:
    """``(rows, hidden (r, W, H), tokens)`` for the shared clusters and for the single rows."""
    results = []
    shared = [unit for unit in units if unit.shared > 0]
    if shared:
        results.append(shared_prefix_hidden(lm, seqs, lengths, shared))
    single = [unit.rows for unit in units if unit.shared == 0]
    if single:
        rows = th.cat(single)
        width = int(lengths[rows].max())
        mask = (th.arange(width, device=seqs.device) < lengths[rows, None]).long()
        out = lm(
            input_ids=seqs[rows, :width],
            attention_mask=mask,
            output_hidden_states=True,
            logits_to_keep=1,
        )
        results.append((rows, out.hidden_states[-1], int(mask.sum())))
    return results


def head_logits(lm: th.nn.Module, hidden: th.Tensor) -> th.Tensor:
    """Apply the LM's output layer (and its logit soft-capping, if any) to hidden states."""
    logits = lm.get_output_embeddings()(hidden)
    cap = getattr(lm.config, "final_logit_softcapping", None)
    return th.tanh(logits / cap) * cap if cap else logits
