"""The tokens around a conversation's turns, in the tokenizer's own chat template.

The policy's turns are its sampled tokens, never re-tokenized; only the opening prompt and
the partner's replies are encoded here. A reply's tokens are what the chat template puts
between the end of an assistant message and the start of the next one: the end of the
policy's turn (unless its EOS already ended it), the partner's message, and the header of
the next assistant turn. Without a chat template, turns are plain text lines.
"""

from __future__ import annotations

from typing import Any

MARK = "\ue000"  # a private-use character standing in for the policy's turn


class ChatTurns:
    """Encode a conversation's opening and replies for ``tokenizer``.

    Args:
        tokenizer: A Hugging Face tokenizer.
        chat_template: Use the tokenizer's chat template when it has one.
        eos_token_ids: The tokens that end a policy turn.
    """

    def __init__(self, tokenizer: Any, chat_template: bool, eos_token_ids: frozenset[int]) -> None:
        self.tokenizer = tokenizer
        self.use_chat = chat_template and getattr(tokenizer, "chat_template", None) is not None
        self.eos_texts = [tokenizer.decode([i]) for i in sorted(eos_token_ids)]

    def opening(self, text: str) -> list[int]:
        """The prompt: the partner's opening message and the first assistant header."""
        if not self.use_chat:
            return self.encode(f"{text}\n", special=True)
        chat = [{"role": "user", "content": text}]
        rendered = self.tokenizer.apply_chat_template(
            chat, tokenize=False, add_generation_prompt=True
        )
        return self.encode(rendered, special=False)

    def reply(self, text: str, ended_by_eos: bool) -> list[int]:
        """The tokens after a policy turn: its end, the partner's ``text``, the next header."""
        if not self.use_chat:
            return self.encode(f"\n{text}\n", special=False)
        chat = [
            {"role": "user", "content": "."},
            {"role": "assistant", "content": MARK},
            {"role": "user", "content": text},
        ]
        rendered = self.tokenizer.apply_chat_template(
            chat, tokenize=False, add_generation_prompt=True
        )
        after = rendered[rendered.index(MARK) + len(MARK) :]
        if ended_by_eos:
            eos = next((e for e in self.eos_texts if after.startswith(e)), "")
            after = after[len(eos) :]
        return self.encode(after, special=False)

    def encode(self, text: str, special: bool) -> list[int]:
        """Token ids of ``text`` (``special``: with the tokenizer's own special tokens)."""
        return list(self.tokenizer(text, add_special_tokens=special)["input_ids"])
