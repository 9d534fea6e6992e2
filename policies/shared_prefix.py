"""A prompt shared by several sequences, run once: prefix forward, then k continuations.

When k sequences start with the same prompt (the k samples of a group), a forward over each
whole sequence pays for the prompt k times. Here the prompt runs once, its keys/values are
repeated for the k continuations, and the continuations attend to them. Repeating the
cache is differentiable, so under autograd every continuation's gradient flows back into the
one prompt forward. Shapes: ``C`` clusters (distinct prompts), ``M`` member sequences.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch as th
from transformers import DynamicCache

from textgym.policies.hf_compat import cache_kwargs, cache_layers, output_cache

MIN_SHARED = 8  # shorter common prefixes are not worth a cluster


@dataclass
class Cluster:
    """Rows (indices into the sequences given) that share their first ``shared`` tokens."""

    rows: th.Tensor
    shared: int


def prefix_clusters(
    seqs: th.Tensor, lengths: th.Tensor, min_shared: int = MIN_SHARED
) -> list[Cluster]:
    """Clusters of >= 2 rows sharing a prefix of >= ``min_shared`` tokens, saving the most.

    ``n`` rows sharing ``s`` tokens save ``(n - 1) * s`` tokens. The rows' common prefixes
    form a tree (a trie); at each node the best is either one cluster of all its rows or the
    best of its branches, so groups of k samples of long prompts cluster on their prompts,
    not on the short system prompt every chat-templated prompt starts with. Each member
    keeps at least one token after the shared prefix; rows in no cluster are left out.
    ``seqs`` ``(R, W)`` left-aligned, ``lengths`` ``(R,)``.
    """
    equal = (seqs[:, None, :] == seqs[None, :, :]).long()  # (R, R, W)
    common = equal.cumprod(dim=-1).sum(dim=-1)  # longest common prefix of each pair
    limit = lengths - 1
    common = th.minimum(common, th.minimum(limit[:, None], limit[None, :]))
    rows = th.arange(seqs.shape[0], device=seqs.device)
    return _best_clusters(rows, common, min_shared)[1]


def _best_clusters(
    rows: th.Tensor, common: th.Tensor, min_shared: int
) -> tuple[int, list[Cluster]]:
    """``(tokens saved, clusters)`` of the best clustering of ``rows`` (a node of the trie)."""
    if len(rows) < 2:
        return 0, []
    shared = int(common[rows][:, rows].min())
    whole = (len(rows) - 1) * shared if shared >= min_shared else 0
    branches = _branches(rows, common, shared)
    if len(branches) == 1:
        return whole, [Cluster(rows, shared)] if whole else []
    results = [_best_clusters(branch, common, min_shared) for branch in branches]
    split = sum(saved for saved, _ in results)
    if whole and whole >= split:
        return whole, [Cluster(rows, shared)]
    return split, [c for _, clusters in results for c in clusters]


def _branches(rows: th.Tensor, common: th.Tensor, shared: int) -> list[th.Tensor]:
    """``rows`` split into the groups that share more than ``shared`` tokens."""
    left, branches = rows, []
    while len(left):
        together = common[left[0], left] > shared
        together[0] = True
        branches.append(left[together])
        left = left[~together]
    return branches


def shared_prefix_hidden(
    lm: th.nn.Module, seqs: th.Tensor, lengths: th.Tensor, clusters: list[Cluster]
) -> tuple[th.Tensor, th.Tensor, int]:
    """Final hidden states of every clustered row, with each shared prefix run once.

    Returns ``(rows, hidden, tokens)``: the row indices ``(M,)``, their hidden states
    ``(M, W, H)`` at every position (padding after each row's length), and the number of
    tokens run through the LM.
    """
    shared = th.tensor([c.shared for c in clusters], device=seqs.device)
    rows = th.cat([c.rows for c in clusters])
    owner = th.repeat_interleave(
        th.arange(len(clusters), device=seqs.device), th.tensor([len(c.rows) for c in clusters])
    )
    width = int(shared.max())
    prefix_mask = (th.arange(width, device=seqs.device) < shared[:, None]).long()
    first = th.stack([c.rows[0] for c in clusters])
    prefix = lm(
        input_ids=seqs[first, :width] * prefix_mask,
        attention_mask=prefix_mask,
        use_cache=True,
        output_hidden_states=True,
        logits_to_keep=1,
    )
    past = _repeat_rows(output_cache(prefix), owner)
    start, rest = shared[owner], lengths[rows] - shared[owner]
    cont_width = int(rest.max())
    offsets = th.arange(cont_width, device=seqs.device)
    cont_mask = (offsets < rest[:, None]).long()
    index = (start[:, None] + offsets).clamp(max=seqs.shape[1] - 1)
    cont = lm(
        input_ids=th.gather(seqs[rows], 1, index) * cont_mask,
        attention_mask=th.cat([prefix_mask[owner], cont_mask], dim=1),
        position_ids=start[:, None] + offsets,
        **cache_kwargs(lm, past),
        output_hidden_states=True,
        logits_to_keep=1,
    )
    hidden = _assemble(prefix.hidden_states[-1][owner], cont.hidden_states[-1], start, seqs)
    tokens = int(prefix_mask.sum() + cont_mask.sum())
    return rows, hidden, tokens


def _repeat_rows(past: DynamicCache, owner: th.Tensor) -> DynamicCache:
    """Give member ``m`` the cached keys/values of its cluster ``owner[m]`` (differentiable)."""
    for layer in cache_layers(past):
        layer.keys = layer.keys.index_select(0, owner)
        layer.values = layer.values.index_select(0, owner)
    return past


def _assemble(prefix: th.Tensor, cont: th.Tensor, start: th.Tensor, seqs: th.Tensor) -> th.Tensor:
    """``(M, W, H)``: prefix states before ``start[m]``, continuation states from it."""
    width = seqs.shape[1]
    positions = th.arange(width, device=seqs.device)
    before = (positions < start[:, None])[..., None]
    prefix = th.nn.functional.pad(prefix, (0, 0, 0, max(0, width - prefix.shape[1])))
    index = (positions - start[:, None]).clamp(0, cont.shape[1] - 1)
    after = th.gather(cont, 1, index[..., None].expand(-1, -1, cont.shape[-1]))
    return th.where(before, prefix[:, :width], after)
