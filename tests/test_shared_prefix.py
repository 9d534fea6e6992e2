"""A prompt shared by k sequences runs once: same hidden states, log-probs and gradients."""

from __future__ import annotations

import pytest
import torch as th
from conftest import make_tiny_lm

from textgym.policies.shared_prefix import prefix_clusters
from textgym.policies.teacher_forcing import head_logits, hidden_at


def batch(vocab: int):
    """Two prompts (12 and 9 tokens) x three continuations each, plus one unrelated row."""
    g = th.Generator().manual_seed(0)
    rows = []
    for prompt_len, conts in ((12, (3, 5, 1)), (9, (4, 2, 6))):
        prompt = th.randint(3, vocab, (prompt_len,), generator=g)
        rows += [th.cat([prompt, th.randint(3, vocab, (n,), generator=g)]) for n in conts]
    rows.append(th.randint(3, vocab, (7,), generator=g))
    lengths = th.tensor([len(r) for r in rows])
    seqs = th.zeros(len(rows), int(lengths.max()), dtype=th.long)
    for i, r in enumerate(rows):
        seqs[i, : len(r)] = r
    return seqs, lengths


def test_clusters_find_the_shared_prompts():
    seqs, lengths = batch(40)
    clusters = prefix_clusters(seqs, lengths)
    assert sorted((c.rows.tolist(), c.shared) for c in clusters) == [
        ([0, 1, 2], 12),
        ([3, 4, 5], 9),
    ]


@pytest.mark.parametrize("max_tokens", [None, 40])
def test_shared_prefix_equals_separate_forwards_with_gradients(word_tokenizer, max_tokens):
    lm = make_tiny_lm(len(word_tokenizer)).double()
    seqs, lengths = batch(len(word_tokenizer))
    # every position of every row: what PPO's update and the KL reference read
    rows = th.repeat_interleave(th.arange(len(lengths)), lengths)
    positions = th.cat([th.arange(int(n)) for n in lengths])
    actions = seqs[rows, (positions + 1).clamp(max=seqs.shape[1] - 1)]

    def log_probs(grouped):
        lm.zero_grad()
        hidden, tokens = hidden_at(
            lm, seqs[rows], lengths[rows], positions, grouped=grouped, max_tokens=max_tokens
        )
        logp = head_logits(lm, hidden).log_softmax(-1).gather(1, actions[:, None]).squeeze(1)
        (logp * th.linspace(0.5, 1.5, len(logp), dtype=logp.dtype)).sum().backward()
        return logp.detach(), [p.grad.clone() for p in lm.parameters()], tokens

    shared, shared_grads, shared_tokens = log_probs(True)
    plain, plain_grads, plain_tokens = log_probs(False)
    th.testing.assert_close(shared, plain, atol=1e-10, rtol=1e-10)
    for a, b in zip(shared_grads, plain_grads, strict=True):  # RMSNorm runs in float32
        th.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
        assert a.abs().max() > 1e-3  # the gradient reaches every parameter
    if max_tokens is None:  # the prompts ran once: 12 + 9 + continuations + the lone row
        assert shared_tokens == 12 + 9 + (3 + 5 + 1 + 4 + 2 + 6) + 7
        assert plain_tokens == int(lengths[rows].sum())


def test_groups_cluster_on_their_prompt_not_on_a_common_system_prompt():
    # Every chat-templated prompt starts with the same system prompt (here 10 tokens); two
    # groups of 4 samples each share a 40-token prompt. Clustering all 8 rows on the system
    # prompt would save 7 * 10 tokens; the two groups save 2 * 3 * 40.
    g = th.Generator().manual_seed(0)
    system = th.randint(3, 50, (10,), generator=g)
    rows = []
    for _ in range(2):
        prompt = th.cat([system, th.randint(3, 50, (30,), generator=g)])
        rows += [th.cat([prompt, th.randint(3, 50, (5,), generator=g)]) for _ in range(4)]
    seqs, lengths = th.stack(rows), th.full((8,), 45)
    clusters = prefix_clusters(seqs, lengths)
    assert sorted((c.rows.tolist(), c.shared) for c in clusters) == [
        ([0, 1, 2, 3], 40),
        ([4, 5, 6, 7], 40),
    ]


def system_prompt_batch(groups: int, lone_first: bool):
    """``groups`` groups of 4 rows on 40-token prompts that share a 10-token system prompt."""
    g = th.Generator().manual_seed(1)
    system = th.randint(3, 50, (10,), generator=g)
    rows = [th.cat([system, th.randint(3, 50, (35,), generator=g)])] if lone_first else []
    for _ in range(groups):
        prompt = th.cat([system, th.randint(3, 50, (30,), generator=g)])
        rows += [th.cat([prompt, th.randint(3, 50, (5,), generator=g)]) for _ in range(4)]
    return th.stack(rows), th.full((len(rows),), 45)


@pytest.mark.parametrize("groups, lone_first", [(4, False), (2, True), (8, True)])
def test_many_groups_and_a_lone_row_still_cluster_on_the_group_prompts(groups, lone_first):
    # 16 rows on the system prompt would save 15 * 10 = 150 tokens; 4 groups save 4 * 3 * 40.
    seqs, lengths = system_prompt_batch(groups, lone_first)
    clusters = prefix_clusters(seqs, lengths)
    start = int(lone_first)
    expected = [(list(range(start + 4 * i, start + 4 * i + 4)), 40) for i in range(groups)]
    assert sorted((c.rows.tolist(), c.shared) for c in clusters) == expected


def test_a_cluster_of_all_rows_wins_when_it_saves_more():
    # 8 rows sharing 30 tokens, in two pairs sharing 32: all at 30 saves 210, pairs 4 * 32.
    g = th.Generator().manual_seed(2)
    common = th.randint(3, 50, (30,), generator=g)
    rows = []
    for _ in range(4):
        pair = th.cat([common, th.randint(3, 50, (2,), generator=g)])
        rows += [th.cat([pair, th.randint(3, 50, (3,), generator=g)]) for _ in range(2)]
    clusters = prefix_clusters(th.stack(rows), th.full((8,), 35))
    assert [(c.rows.tolist(), c.shared) for c in clusters] == [(list(range(8)), 30)]
