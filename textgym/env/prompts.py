"""Prompt building per task, with truncation that keeps the instruction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textgym.data.example import Example
from textgym.errors import ConfigError
from textgym.tasks import get_task

PromptTemplate = str | Callable[[str, Example], str]


class PromptBuilder:
    """Render and tokenize prompts of one task, truncating the source to fit.

    Args:
        tokenizer: A Hugging Face tokenizer (never modified).
        task: A known task name (see :func:`textgym.tasks.known_tasks`).
        max_prompt_tokens: Hard limit on prompt length in tokens.
        template: Overrides the task's user message: a format string with ``{source}``,
            or a callable ``(source_text, example) -> str``.
        chat_template: Wrap the message with the tokenizer's chat template when it has one.
    """

    def __init__(
        self,
        tokenizer: Any,
        task: str,
        max_prompt_tokens: int,
        template: PromptTemplate | None = None,
        chat_template: bool = True,
    ) -> None:
        self.task = get_task(task)
        self.tokenizer = tokenizer
        self.max_prompt_tokens = max_prompt_tokens
        self.template = self.task.template if template is None else template
        if isinstance(self.template, str) and "{source}" not in self.template:
            raise ConfigError(
                f"prompt_template {self.template!r} has no '{{source}}' placeholder; add one "
                f"where the input text goes, or pass a callable (source, example) -> str."
            )
        self.use_chat = chat_template and getattr(tokenizer, "chat_template", None) is not None

    def render(self, source: str, example: Example) -> str:
        """Return the full prompt text for ``example`` with ``source`` as its input text."""
        message = self.message(source, example)
        if not self.use_chat:
            return message
        chat = [{"role": "user", "content": message}]
        return self.tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)

    def message(self, source: str, example: Example) -> str:
        """Return the user message (the template filled in) before any chat template."""
        if callable(self.template):
            return self.template(source, example)
        values = {**self.task.meta_defaults, **example.meta, "source": source}
        try:
            return self.template.format(**values)
        except KeyError as exc:
            raise ConfigError(
                f"The prompt template {self.template!r} names {{{exc.args[0]}}}, which example "
                f"{example.id!r} of task {self.task.name!r} does not have; its fields are "
                f"{', '.join(sorted(values))}. Add it to the task's fields or meta_defaults."
            ) from exc

    def encode(self, text: str) -> list[int]:
        """Tokenize a rendered prompt (special tokens are already in a chat-rendered text)."""
        ids = self.tokenizer(text, add_special_tokens=not self.use_chat)["input_ids"]
        return list(ids)

    def build(self, example: Example) -> tuple[list[int], int]:
        """Return ``(prompt_ids, n_source_tokens_dropped)`` for ``example``."""
        ids = self.encode(self.render(example.source, example))
        if len(ids) <= self.max_prompt_tokens:
            return ids, 0
        source_ids = self.encode_source(example.source)
        keep = max(len(source_ids) - (len(ids) - self.max_prompt_tokens), 0)
        while True:
            kept = (
                source_ids[:keep]
                if self.task.truncation_side == "end"
                else source_ids[len(source_ids) - keep :]
            )
            ids = self.encode(self.render(self.tokenizer.decode(kept), example))
            if len(ids) <= self.max_prompt_tokens:
                return ids, len(source_ids) - keep
            if keep == 0:
                raise ConfigError(
                    f"max_prompt_tokens={self.max_prompt_tokens} is too small: the prompt "
                    f"without any source text already takes {len(ids)} tokens. Raise "
                    f"max_prompt_tokens or use a shorter prompt_template."
                )
            keep = max(keep - (len(ids) - self.max_prompt_tokens) - 1, 0)

    def encode_source(self, source: str) -> list[int]:
        """Tokenize the source text alone, without special tokens."""
        return list(self.tokenizer(source, add_special_tokens=False)["input_ids"])
