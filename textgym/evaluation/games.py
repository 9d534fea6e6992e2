"""Play a multi-turn game's held-out examples: the success rate of a policy or a strategy.

A *player* is either an SB3 model (``model.predict``, one token per step, greedy by default)
or a text *strategy* ``(history, rng) -> text`` that writes whole turns (baselines such as a
random guesser or binary search).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from textgym.env.conversation_env import ConversationEnv
from textgym.evaluation.evaluate import EvalResult

Strategy = Callable[[list[dict[str, str]], np.random.Generator], str]


@dataclass
class GameResult:
    """Per example: won or not, the policy's turns and the episode's reward; and their means."""

    solved: list[bool] = field(default_factory=list)
    turns: list[int] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    policy_tokens: list[int] = field(default_factory=list)
    transcripts: list[str] = field(default_factory=list)

    @property
    def success_rate(self) -> float:
        """The share of games won."""
        return float(np.mean(self.solved)) if self.solved else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """The means and the per-example lists (JSON-ready; not the transcripts)."""
        return {
            "games": len(self.solved),
            "success_rate": self.success_rate,
            "mean_turns": float(np.mean(self.turns)) if self.turns else float("nan"),
            "mean_reward": float(np.mean(self.rewards)) if self.rewards else float("nan"),
            "solved": self.solved,
            "turns": self.turns,
        }


def play_games(
    env: ConversationEnv,
    player: Any,
    limit: int | None = None,
    seed: int = 0,
    deterministic: bool = True,
) -> GameResult:
    """Play each of ``env``'s examples once (the first ``limit``) with ``player``."""
    rng = np.random.default_rng(seed)
    result = GameResult()
    for index in range(min(limit or len(env.examples), len(env.examples))):
        obs, _ = env.reset(seed=seed + index, options={"index": index})
        total, done, info, steps = 0.0, False, {}, 0
        while not done:
            if callable(player) and not hasattr(player, "predict"):
                tokens = turn_tokens(env, player(env.history, rng))
            else:
                action, _ = player.predict(obs, deterministic=deterministic)
                tokens = [int(action)]
            for token in tokens:
                obs, reward, done, _, info = env.step(token)
                total += reward
                steps += 1
                if done or "turn_text" in info:
                    break
        result.solved.append(bool(info["solved"]))
        result.turns.append(int(info["turns"]))
        result.rewards.append(total)
        result.policy_tokens.append(steps)
        result.transcripts.append(
            "\n".join(f"{m['role']}: {m['content']}" for m in info["transcript"])
        )
    return result


def turn_tokens(env: ConversationEnv, text: str) -> list[int]:
    """The tokens of a strategy's turn: ``text`` and the first EOS."""
    ids = env.tokenizer(text, add_special_tokens=False)["input_ids"]
    return [*ids[: env.max_turn_tokens - 1], min(env.eos_token_ids)]


def evaluate_games(policy: Any, env: ConversationEnv, n_examples: int | None) -> EvalResult:
    """A greedy game evaluation of ``policy`` as an :class:`EvalResult` (``textgym train``).

    Metrics: ``success_rate``, ``turns`` and ``own_reward`` (the episode's summed reward),
    per example and their means; ``generations`` are the transcripts as text.
    """
    result = play_games(env, policy, limit=n_examples)
    per_example = {
        "success_rate": [float(s) for s in result.solved],
        "turns": [float(t) for t in result.turns],
        "own_reward": list(result.rewards),
    }
    return EvalResult(
        metrics={k: float(np.mean(v)) for k, v in per_example.items()},
        generations=result.transcripts,
        mean_new_tokens=float(np.mean(result.policy_tokens)),
        per_example=per_example,
        example_ids=[e["id"] for e in env.examples[: len(result.solved)]],
    )
