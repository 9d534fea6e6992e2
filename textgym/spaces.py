"""Observation spaces that know which vocabulary their token ids index."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from gymnasium import spaces


def vocab_fingerprint(tokenizer: Any) -> str:
    """A short hash of the tokenizer's tokens in id order: equal iff the vocabularies match."""
    tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    return hashlib.sha1("\n".join(map(str, tokens)).encode("utf-8")).hexdigest()[:16]


class TokenIdBox(spaces.Box):
    """``Box(0, vocab_size - 1, (length,), int64)`` carrying ``vocab_fingerprint``.

    The policy compares the fingerprint with its own tokenizer's, so an env and a policy
    whose tokenizers differ fail at construction even when the vocabulary sizes are equal.
    ``prompt_slots`` (the env's ``max_prompt_tokens``) says where the prompt ends: the first
    ``prompt_slots`` slots hold the prompt, the rest the generation. An encoder-decoder
    policy reads it to send the prompt to the encoder and the generation to the decoder.
    ``conversation``: the slots after the prompt interleave the policy's turns with a
    partner's replies (:class:`~textgym.env.ConversationEnv`).
    """

    def __init__(
        self,
        vocab_size: int,
        length: int,
        fingerprint: str | None = None,
        prompt_slots: int | None = None,
        conversation: bool = False,
    ) -> None:
        super().__init__(0, vocab_size - 1, shape=(length,), dtype=np.int64)
        self.vocab_fingerprint = fingerprint
        self.prompt_slots = prompt_slots
        self.conversation = conversation


def token_observation_space(
    tokenizer: Any, length: int, prompt_slots: int, conversation: bool = False
) -> spaces.Dict:
    """A text env's observation space: ``input_ids`` and ``attention_mask`` of ``length``."""
    ids = TokenIdBox(
        len(tokenizer), length, vocab_fingerprint(tokenizer), prompt_slots, conversation
    )
    mask = spaces.Box(0, 1, shape=(length,), dtype=np.int64)
    return spaces.Dict({"input_ids": ids, "attention_mask": mask})
