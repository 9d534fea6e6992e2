"""A rollout buffer whose minibatches hold whole episodes, for one forward per episode."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.buffers import DictRolloutBuffer
from stable_baselines3.common.type_aliases import DictRolloutBufferSamples

from textgym.policies.advantages import (
    check_advantage_mode,
    check_group_size,
    check_rounds,
    group_advantages,
    idle_steps,
    returns_to_go,
)


class EpisodeRolloutBuffer(DictRolloutBuffer):
    """``DictRolloutBuffer`` that shuffles episodes, not transitions.

    Each minibatch holds whole episodes (episode pieces cut by the rollout's start or end
    count as episodes), packed up to ``batch_size`` transitions; an episode longer than
    ``batch_size`` forms a minibatch of its own. Every observation of an episode is a prefix
    of its last one, so :meth:`LMPolicy.evaluate_actions` runs one LM forward per episode
    instead of one per token. Pass it to the stock algorithm:
    ``PPO(LMPolicy, env, rollout_buffer_class=EpisodeRolloutBuffer)``.

    ``reward_shaping``, when set (e.g. by :func:`textgym.policies.add_kl_penalty`), is called with
    the buffer and the last step's ``dones`` once the rollout is complete, before returns
    and advantages are computed; it may change ``self.rewards`` in place.

    Idle steps (padding after EOS, see ``TextGenEnv(pad_after_eos=True)``: the observation
    did not grow) are in :attr:`idle`; they end the episode for GAE and never reach a
    minibatch. ``advantage`` picks how advantages are computed (see
    :mod:`textgym.policies.advantages`); group modes take ``group_size`` (k), with envs in
    blocks of k (:func:`textgym.make_group_vec_env`), and yield whole groups per minibatch.
    Pass them with ``PPO(..., rollout_buffer_kwargs={"advantage": "rloo", "group_size": 4})``.
    """

    reward_shaping: Callable[[EpisodeRolloutBuffer, np.ndarray], None] | None = None

    def __init__(
        self, *args: Any, advantage: str = "gae", group_size: int = 1, **kwargs: Any
    ) -> None:
        check_advantage_mode(advantage, group_size)
        self.advantage, self.group_size = advantage, group_size
        super().__init__(*args, **kwargs)
        check_group_size(group_size, self.n_envs)

    def reset(self) -> None:
        """Empty the buffer (SB3) and the idle-step mask."""
        super().reset()
        self.idle = np.zeros((self.buffer_size, self.n_envs), dtype=bool)

    def compute_returns_and_advantage(self, last_values: th.Tensor, dones: np.ndarray) -> None:
        """Shape the rewards (if a ``reward_shaping`` is set), then the advantages."""
        lengths = self.observations["attention_mask"].sum(axis=-1)
        self.idle = idle_steps(lengths, self.episode_starts)
        if self.reward_shaping is not None:
            self.reward_shaping(self, dones)
        self.rewards[self.idle] = 0.0
        starts = self.episode_starts
        if self.advantage == "gae":  # an idle step starts a new "episode": EOS ends it
            self.episode_starts = (starts.astype(bool) | self.idle).astype(starts.dtype)
            super().compute_returns_and_advantage(last_values, dones)
            self.episode_starts = starts
            return
        check_rounds(starts, dones, self._first_observations())
        self.returns = returns_to_go(self.rewards, starts, self.gamma).astype(np.float32)
        self.advantages = group_advantages(self.returns, starts, self.group_size, self.advantage)

    def _first_observations(self) -> np.ndarray:
        """``(rounds, groups, k, L)`` input ids of each episode's first step."""
        first = self.observations["input_ids"][self.episode_starts[:, 0].astype(bool)]
        return first.reshape(first.shape[0], -1, self.group_size, first.shape[-1])

    def get(  # type: ignore[override]
        self, batch_size: int | None = None
    ) -> Generator[DictRolloutBufferSamples, None, None]:
        """Yield minibatches of whole episodes (or groups), in random order; no idle step."""
        episodes = self.training_units()
        if not self.generator_ready:
            for key, obs in self.observations.items():
                self.observations[key] = self.swap_and_flatten(obs)
            for name in ["actions", "values", "log_probs", "advantages", "returns"]:
                self.__dict__[name] = self.swap_and_flatten(self.__dict__[name])
            self.generator_ready = True
        limit = batch_size or self.buffer_size * self.n_envs
        batch: list[np.ndarray] = []
        for index in np.random.permutation(len(episodes)):
            if batch and sum(len(e) for e in batch) + len(episodes[index]) > limit:
                yield self._get_samples(np.concatenate(batch))
                batch = []
            batch.append(episodes[index])
        if batch:
            yield self._get_samples(np.concatenate(batch))

    def training_units(self) -> list[np.ndarray]:
        """Flat indices of what one minibatch keeps together, idle steps left out.

        Whole episodes with GAE; whole groups (the k episodes of one prompt) otherwise.
        """
        active = ~self.idle.T.reshape(-1)  # env-major, as after swap_and_flatten
        episodes = self.episode_indices()
        if self.advantage != "gae":
            per_env = len(episodes) // self.n_envs  # aligned rounds: same count per env
            by_env = [episodes[e * per_env : (e + 1) * per_env] for e in range(self.n_envs)]
            episodes = [
                np.concatenate([by_env[e][r] for e in range(g, g + self.group_size)])
                for r in range(per_env)
                for g in range(0, self.n_envs, self.group_size)
            ]
        units = [unit[active[unit]] for unit in episodes]
        return [unit for unit in units if len(unit)]

    def episode_indices(self) -> list[np.ndarray]:
        """Flat (env-major, as after ``swap_and_flatten``) indices of each episode."""
        starts = self.episode_starts.astype(bool).copy()  # (buffer_size, n_envs)
        starts[0] = True
        episodes = []
        for env in range(self.n_envs):
            bounds = [*np.flatnonzero(starts[:, env]), self.buffer_size]
            offset = env * self.buffer_size
            episodes += [
                np.arange(offset + a, offset + b)
                for a, b in zip(bounds[:-1], bounds[1:], strict=True)
            ]
        return episodes
