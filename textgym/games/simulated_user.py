"""A dialogue with a simulated user: the partner is a language model, the reward any textgym reward.

The user opens with the first line of a shipped everyday dialogue (``TextDialogue-v0``'s data,
written for textgym); after each policy turn the partner LM, prompted as the user, writes the
user's next message. Each policy turn is scored by a textgym reward (the example's reference
replies are its references, the opening its source), by default a length reward peaking at
:data:`TARGET_WORDS` words. There is nothing to win: an episode lasts ``max_turns`` turns, and
evaluation reports the mean reward per turn.

The partner LM is the embedded SmolLM2 by default, or any Hub causal LM name or folder, on its
own device if wanted; it is loaded on the first reply, once per process, and samples with the
env's random stream, so a seeded env replays the same conversation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from textgym.games.game import Game, History
from textgym.models import DEFAULT_MODEL

DATA = Path(__file__).resolve().parents[1] / "data" / "default"
TARGET_WORDS = 15
SYSTEM = "You are a person chatting with an assistant. Reply in one or two short sentences."


def examples(split: str) -> list[dict[str, Any]]:
    """One example per shipped dialogue of ``split``: its opening line and reference replies."""
    name = {"eval": "validation"}.get(split, split)
    rows = (DATA / f"dialogue_{name}.jsonl").read_text(encoding="utf-8").splitlines()
    out = []
    for row in map(json.loads, rows):
        out.append({"id": row["id"], "opening": row["context"][0], "references": row["references"]})
    return out


def opening(example: Mapping[str, Any]) -> str:
    """The user's first message."""
    return str(example["opening"])


@cache
def _load(model: str, device: str) -> tuple[Any, Any]:
    """The partner LM and its tokenizer (``model``: a resolved name or folder), once per process."""
    from textgym.models import load_causal_lm, load_tokenizer

    lm = load_causal_lm(model).to(device).eval()
    return lm, load_tokenizer(model)


class LMUser:
    """The partner: a causal LM answering as the user (roles swapped, :data:`SYSTEM` prompt).

    Args:
        model: An embedded name, a Hugging Face causal LM name or a folder.
        max_new_tokens: Longest user message, in tokens.
        device: Where the partner LM runs (e.g. ``"cuda:1"``), independent of the policy's.
    """

    def __init__(self, model: str = DEFAULT_MODEL, max_new_tokens: int = 32, device: str = "cpu"):
        self.model, self.max_new_tokens, self.device = model, max_new_tokens, device

    def __call__(self, history: History, example: Mapping[str, Any], rng: np.random.Generator):
        """The user's next message after the policy's last turn."""
        import torch as th

        from textgym.models import resolve_pretrained

        lm, tokenizer = _load(resolve_pretrained(self.model), self.device)
        swapped = {"user": "assistant", "assistant": "user"}
        chat = [{"role": swapped[m["role"]], "content": m["content"]} for m in history]
        if getattr(tokenizer, "chat_template", None) is not None:
            text = tokenizer.apply_chat_template(
                [{"role": "system", "content": SYSTEM}, *chat],
                add_generation_prompt=True,
                tokenize=False,
            )
            special = False  # the template wrote them
        else:
            text, special = "\n".join(m["content"] for m in chat) + "\n", True
        ids = tokenizer(text, return_tensors="pt", add_special_tokens=special)["input_ids"]
        with th.random.fork_rng(devices=[]), th.no_grad():
            th.manual_seed(int(rng.integers(2**31)))
            out = lm.generate(
                ids.to(self.device),
                do_sample=True,
                top_p=0.9,
                max_new_tokens=self.max_new_tokens,
                pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
            )
        reply = tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True).strip()
        return reply or "..."


def simulated_user_game(
    name: str = "simulated_user",
    reward: Any = None,
    partner: LMUser | None = None,
    max_turns: int = 3,
    max_turn_tokens: int = 32,
) -> Game:
    """A :class:`Game` against a simulated user, each turn scored by ``reward``.

    Args:
        name: The game's name.
        reward: Any reward :func:`textgym.rewards.make_reward` takes (None: a length reward
            peaking at :data:`TARGET_WORDS` words).
        partner: The user (None: an :class:`LMUser` on the embedded model).
        max_turns: Policy turns per episode.
        max_turn_tokens: Tokens per policy turn.
    """
    from textgym.rewards import LengthPenalty, make_reward
    from textgym.rewards.base import score

    scorer = make_reward(LengthPenalty(target_words=TARGET_WORDS) if reward is None else reward)

    def turn_reward(history: History, example: Mapping[str, Any]) -> float:
        text = history[-1]["content"]
        total, _ = score(scorer, [text], [list(example["references"])], [example["opening"]])
        return float(total[0])

    return Game(
        name,
        examples,
        opening,
        partner or LMUser(),
        turn_reward,
        lambda history, example: False,
        max_turns=max_turns,
        max_turn_tokens=max_turn_tokens,
    )
