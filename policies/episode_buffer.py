"""A rollout buffer whose minibatches hold whole episodes, for one forward per episode."""

from __future__ import annotations

from collections.abc import Callable, Generator

import numpy as np
import torch as th
from stable_baselines3.common.buffers import DictRolloutBuffer
from stable_baselines3.common.type_aliases import DictRolloutBufferSamples


class EpisodeRolloutBuffer(DictRolloutBuffer):
    """``DictRolloutBuffer`` that shuffles episodes, not transitions.

    Each minibatch holds whole episodes (episode pieces cut by the rollout's start or end
    count as episodes), packed up to ``batch_size`` transitions; an episode longer than
    ``batch_size`` forms a minibatch of its own. Every observation of an episode is a prefix
    of its last one, so :meth:`LMPolicy.evaluate_actions` runs one LM forward per episode
    instead of one per token. Pass it to the stock algorithm:
    ``PPO(LMPolicy, env, rollout_buffer_class=EpisodeRolloutBuffer)``.

    ``reward_shaping``, when set (e.g. by :func:`textgym.kl.add_kl_penalty`), is called with
    the buffer and the last step's ``dones`` once the rollout is complete, before returns
    and advantages are computed; it may change ``self.rewards`` in place.
    """

    reward_shaping: Callable[[EpisodeRolloutBuffer, np.ndarray], None] | None = None

    def compute_returns_and_advantage(self, last_values: th.Tensor, dones: np.ndarray) -> None:
        """Shape the rewards (if a ``reward_shaping`` is set), then GAE as in SB3."""
        if self.reward_shaping is not None:
            self.reward_shaping(self, dones)
        super().compute_returns_and_advantage(last_values, dones)

    def get(  # type: ignore[override]
        self, batch_size: int | None = None
    ) -> Generator[DictRolloutBufferSamples, None, None]:
        """Yield minibatches of whole episodes, in random episode order."""
        episodes = self.episode_indices()
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
