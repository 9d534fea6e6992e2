"""The text a reward model reads and its token ids, shared by training and scoring.

:func:`format_pair` lays out a (prompt, response) pair, :func:`encode_texts` tokenises with
the truncation rule both sides use (keep leading special tokens, then the *last* tokens),
:func:`encode_pairs` encodes preference pairs for training, and :func:`right_pad` batches
token rows. :class:`textgym.rewards.RewardModel` scores with these functions and
:func:`textgym.reward_models.train_reward_model` trains with them, so a model is scored on
exactly what it was trained on. Torch is imported inside :func:`right_pad` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textgym.reward_models.pairs import PreferencePair
from textgym.unicode_text import clean_text


def format_pair(prompt: str, response: str) -> str:
    """The one text a reward model reads for a (prompt, response) pair.

    The prompt, a blank line, then ``TL;DR:``, a space and the response: the layout of
    OpenAI's TL;DR summarisation work. :class:`textgym.rewards.RewardModel` scores exactly
    this string, and a reward-model trainer (``textgym train-rm``) must build its training
    texts with this function, so that the model is scored on what it was trained on.

    Args:
        prompt: The input the response answers (by default the example's source).
        response: The generated text.
    """
    return f"{prompt}\n\nTL;DR: {response}"


def encode_texts(tokenizer: Any, texts: Sequence[str], limit: int) -> list[list[int]]:
    """Token ids per text; a text over ``limit`` loses tokens after its leading specials.

    Each text is cleaned of lone surrogates (:func:`textgym.unicode_text.clean_text`) and
    tokenised with special tokens. A row longer than ``limit`` keeps its leading special
    tokens (such as ``[CLS]``), then its last tokens, so the response at the end of a
    :func:`format_pair` text is always read and the start of the prompt is dropped.

    Args:
        tokenizer: A Hugging Face tokenizer.
        texts: The texts to encode.
        limit: The most tokens a row may keep (>= 1).
    """
    clean = [clean_text(text) for text in texts]
    rows = [list(r) for r in tokenizer(clean, add_special_tokens=True)["input_ids"]]
    for i, ids in enumerate(rows):
        if len(ids) > limit:
            special = tokenizer.get_special_tokens_mask(ids, already_has_special_tokens=True)
            head = min(next((j for j, flag in enumerate(special) if not flag), 0), limit - 1)
            rows[i] = ids[:head] + ids[len(ids) - (limit - head) :]
    return rows


def encode_pairs(
    tokenizer: Any, pairs: Sequence[PreferencePair], max_length: int
) -> list[tuple[list[int], list[int]]]:
    """``[(chosen_ids, rejected_ids), ...]``, one per pair, as :func:`encode_texts` encodes.

    Each response is read as ``format_pair(pair.prompt, response)``; a text over
    ``max_length`` tokens loses the start of the prompt and keeps the whole response.
    """
    chosen = [format_pair(p.prompt, p.chosen) for p in pairs]
    rejected = [format_pair(p.prompt, p.rejected) for p in pairs]
    rows = encode_texts(tokenizer, chosen + rejected, max_length)
    return list(zip(rows[: len(pairs)], rows[len(pairs) :], strict=True))


def right_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[Any, Any]:
    """Right-pad ``rows`` into ``(input_ids, attention_mask)``, each of shape ``(b, t)``."""
    import torch as th

    width = max(len(r) for r in rows)
    input_ids = th.full((len(rows), width), pad_id, dtype=th.long)
    mask = th.zeros((len(rows), width), dtype=th.long)
    for i, row in enumerate(rows):
        input_ids[i, : len(row)] = th.tensor(row, dtype=th.long)
        mask[i, : len(row)] = 1
    return input_ids, mask
