"""Teacher-forced LM outputs: one forward per prefix group gives every step's hidden state.

Each observation of an episode is a prefix of the episode's last one, so the LM's final
hidden state at position ``p`` of one forward over the longest sequence is the hidden state
of every shorter sequence whose last token sits at ``p`` (causal attention).
"""

from __future__ import annotations

import torch as th

from textgym.policies.sequences import group_by_prefix


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
        grouped: Run one forward per prefix group (else one per row; results are equal).
        max_tokens: Bound on the padded tokens of one forward (None: a single forward).

    Returns:
        The hidden states, and the number of (unpadded) tokens run through the LM.
    """
    if grouped:
        reps, group = group_by_prefix(seqs, lengths)
    else:
        reps = group = th.arange(seqs.shape[0], device=seqs.device)
    parts, members_of, tokens = [], [], 0
    for lo, hi in _chunks(lengths[reps], max_tokens):
        rows = reps[lo:hi]
        width = int(lengths[rows].max())
        mask = (th.arange(width, device=seqs.device) < lengths[rows, None]).long()
        tokens += int(mask.sum())
        out = lm(
            input_ids=seqs[rows, :width],
            attention_mask=mask,
            output_hidden_states=True,
            logits_to_keep=1,
        )
        members = th.nonzero((group >= lo) & (group < hi)).squeeze(1)
        parts.append(out.hidden_states[-1][group[members] - lo, positions[members]])
        members_of.append(members)
    if len(parts) == 1:  # every row, in order
        return parts[0], tokens
    hidden = parts[0].new_empty(seqs.shape[0], parts[0].shape[-1])
    hidden[th.cat(members_of)] = th.cat(parts)
    return hidden, tokens


def _chunks(lengths: th.Tensor, max_tokens: int | None) -> list[tuple[int, int]]:
    """``[lo, hi)`` ranges of consecutive rows whose padded size stays within ``max_tokens``."""
    if max_tokens is None:
        return [(0, len(lengths))]
    bounds, lo, width = [], 0, 0
    for hi, length in enumerate(lengths.tolist(), start=1):
        width = max(width, length)
        if hi - lo > 1 and (hi - lo) * width > max_tokens:
            bounds.append((lo, hi - 1))
            lo, width = hi - 1, length
    return [*bounds, (lo, len(lengths))]


def head_logits(lm: th.nn.Module, hidden: th.Tensor) -> th.Tensor:
    """Apply the LM's output layer (and its logit soft-capping, if any) to hidden states."""
    logits = lm.get_output_embeddings()(hidden)
    cap = getattr(lm.config, "final_logit_softcapping", None)
    return th.tanh(logits / cap) * cap if cap else logits
