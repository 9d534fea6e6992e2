"""Guards against runs that learn nothing: is there a gradient signal in each rollout?

After every rollout (advantages computed) :class:`SignalHealth` records

- ``zero_std_groups``: the share of groups (the k episodes of one prompt, with a group
  baseline) whose task rewards (before any KL penalty) are all equal: the task gives them no
  signal, and without a KL penalty RLOO/GRPO give every token of them advantage 0;
- ``length_capped``: the share of the rollout's finished episodes that stopped at
  ``max_new_tokens`` without EOS (when every completion is cut, a reward that needs an end
  may give them all the same score);
- ``zero_advantages``: the share of (non-idle) steps whose advantage is 0.

A rollout is **dead** when every advantage is 0 (the policy-gradient loss is then 0 and the
update only moves the value head and the entropy bonus) or every group's task rewards are
equal (only the KL penalty, if any, still pulls the policy: back to the reference). The
first dead rollout is warned about; with ``stop_after`` set, that many dead rollouts in a
row stop training with a message naming the cause and the fix. The values go to SB3's
logger (``signal/*``) and to :attr:`SignalHealth.history`.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from textgym.policies.advantages import returns_to_go

ZERO = 1e-8


def group_zero_std_share(returns: np.ndarray, episode_starts: np.ndarray, k: int) -> float:
    """Share of groups of ``k`` whose episode returns are equal, over every aligned round.

    Args:
        returns: ``(n_steps, n_envs)`` returns-to-go; at an episode's start, its return.
        episode_starts: ``(n_steps, n_envs)``; rounds start where env 0 starts an episode.
        k: Group size (envs in blocks of ``k``).
    """
    rounds = np.flatnonzero(episode_starts[:, 0])
    if k < 2 or not len(rounds):
        return float("nan")
    groups = returns[rounds].reshape(len(rounds), -1, k)
    return float((np.ptp(groups, axis=2) <= ZERO).mean())


class SignalHealth(BaseCallback):
    """Record the gradient signal of each rollout; warn on a dead one, stop after ``stop_after``.

    Args:
        max_new_tokens: The length cap, to name it in messages.
        stop_after: Stop training after this many dead rollouts in a row (None: warn only).
    """

    def __init__(self, max_new_tokens: int | None = None, stop_after: int | None = None) -> None:
        super().__init__()
        self.max_new_tokens, self.stop_after = max_new_tokens, stop_after
        self.history: list[dict[str, float]] = []
        self.dead_in_a_row, self.warned, self.stop_reason = 0, False, ""
        self._episodes = self._capped = 0

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", ()):
            if "num_new_tokens" in info and not info.get("idle"):
                self._episodes += 1
                self._capped += bool(info.get("hit_length_cap"))
        return not self.stop_reason

    def _on_rollout_end(self) -> None:
        buffer = self.model.rollout_buffer
        active = ~getattr(buffer, "idle", np.zeros(buffer.advantages.shape, bool))
        zero = np.abs(buffer.advantages[active]) <= ZERO
        k = getattr(buffer, "group_size", 1) if getattr(buffer, "advantage", "gae") != "gae" else 1
        task = returns_to_go(task_rewards(buffer), buffer.episode_starts, 1.0)
        entry = {
            "timesteps": int(self.num_timesteps),
            "zero_std_groups": group_zero_std_share(task, buffer.episode_starts, k),
            "length_capped": self._capped / self._episodes if self._episodes else float("nan"),
            "zero_advantages": float(zero.mean()) if zero.size else float("nan"),
        }
        self._episodes = self._capped = 0
        self.history.append(entry)
        for name, value in entry.items():
            if name != "timesteps":
                self.logger.record(f"signal/{name}", value)
        self._check(entry)

    def _check(self, entry: dict[str, float]) -> None:
        """Count dead rollouts; warn on the first, stop after ``stop_after`` in a row."""
        dead = is_dead(entry)
        self.dead_in_a_row = self.dead_in_a_row + 1 if dead else 0
        if not dead:
            return
        message = dead_message(entry, self.max_new_tokens)
        if not self.warned:
            warnings.warn(message, stacklevel=2)
            self.warned = True
        if self.stop_after is not None and self.dead_in_a_row >= self.stop_after:
            self.stop_reason = (
                f"stopped at {entry['timesteps']} timesteps after {self.dead_in_a_row} dead "
                f"rollouts in a row (--stop-on-dead-signal {self.stop_after}): {message}"
            )
            warnings.warn(self.stop_reason, stacklevel=2)

    def summary(self) -> dict[str, Any]:
        """Means over the rollouts, the count of dead ones, and why training stopped (if)."""
        keys = ("zero_std_groups", "length_capped", "zero_advantages")
        means = {key: _nanmean([h[key] for h in self.history]) for key in keys}
        dead = sum(is_dead(h) for h in self.history)
        return {
            **means,
            "rollouts": len(self.history),
            "dead_rollouts": dead,
            "stopped": self.stop_reason or None,
        }


def task_rewards(buffer: Any) -> np.ndarray:
    """The rollout's per-step task rewards: before the KL penalty's shaping, if one is set."""
    last = getattr(getattr(buffer, "reward_shaping", None), "last", None)
    task = getattr(last, "task_reward", None)
    return task if task is not None and task.shape == buffer.rewards.shape else buffer.rewards


def is_dead(entry: dict[str, float]) -> bool:
    """Whether a rollout had no task gradient signal (see the module docstring)."""
    return entry["zero_advantages"] == 1.0 or entry["zero_std_groups"] == 1.0


def dead_message(entry: dict[str, float], max_new_tokens: int | None) -> str:
    """Why a rollout had no gradient signal, and what to change."""
    causes = []
    if entry["zero_std_groups"] == 1.0:
        causes.append(
            "every group's samples got the same reward, so the group baseline gives them all "
            "advantage 0 (a sparse or saturated reward: make it denser, raise the temperature "
            "or --group-size)"
        )
    if entry["length_capped"] == 1.0:
        causes.append(
            f"every episode hit the length cap (max_new_tokens={max_new_tokens}) without EOS "
            "(raise --max-new-tokens)"
        )
    detail = "; ".join(causes) or "the reward did not vary within the rollout"
    return f"a rollout had no gradient signal from the task reward: {detail}."


def _nanmean(values: list[float]) -> float | None:
    finite = [v for v in values if not np.isnan(v)]
    return float(np.mean(finite)) if finite else None
