"""Score finished episodes across a whole VecEnv in one batched reward call."""

from __future__ import annotations

from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

from textgym.errors import ConfigError
from textgym.rewards import make_reward, score

_NEEDED = ("text", "references", "source")


class VecRewardWrapper(VecEnvWrapper):
    """Add a reward to the envs whose episode ended, in one batched call per vector step.

    After each ``step_wait`` the wrapper collects ``info["text"]``, ``info["references"]``
    and ``info["source"]`` of every env that is done in that step (the terminal-step info of
    :class:`textgym.TextGenEnv`), scores them all in a single ``reward(...)`` call (checked
    by :func:`textgym.rewards.score`) and **adds** each score to that env's reward for the
    step. A model-based reward (``"embedding"``, ``"rm:PATH"``) then runs one batched
    forward pass per vector step instead of one per env, and in one process.

    Because it adds, it composes with the env's own reward. To make it the only reward,
    build the envs with ``reward="none"`` (a reward of zeros). The score is also written to
    ``info["reward_components"][reward.name]`` (with any named parts of the reward).

    Episode statistics: SB3's ``Monitor`` wraps each env *inside* the VecEnv, so its
    ``info["episode"]["r"]`` would miss the added score; the wrapper adds it there too when
    the key is present, so ``rollout/ep_rew_mean`` is right. Monitor's own lists and CSV
    file are written before the wrapper runs and keep the env-level return. A
    ``VecMonitor`` or ``VecNormalize`` placed *outside* this wrapper sees the full reward
    (put ``VecNormalize`` outside so it normalises the total).

    Works with ``DummyVecEnv`` and ``SubprocVecEnv``: the reward runs in the main process
    and only the texts travel.

    Args:
        venv: The vectorised envs (e.g. ``make_vec_env(TextGenEnv, ..., env_kwargs={"reward":
            "none"})``).
        reward: Anything :func:`textgym.rewards.make_reward` accepts: a name, ``"rm:PATH"``,
            a ``{name: weight}`` mapping, or a reward object.

    Raises:
        ConfigError: at a step, when a finished env's info lacks the text, source or
            references (the inner env is not a textgym env, or a wrapper dropped its info).
    """

    def __init__(self, venv: VecEnv, reward: Any) -> None:
        super().__init__(venv)
        self.reward = make_reward(reward)
        self.reward_name: str = getattr(self.reward, "name", type(self.reward).__name__)

    def reset(self) -> VecEnvObs:
        """Reset all envs (nothing is scored)."""
        return self.venv.reset()

    def step_wait(self) -> VecEnvStepReturn:
        """Step the envs, then score every finished episode in one call and add the scores."""
        obs, rewards, dones, infos = self.venv.step_wait()
        done = [int(i) for i in np.flatnonzero(dones)]
        if not done:
            return obs, rewards, dones, infos
        for i in done:
            self._check_info(infos[i], i)
        total, parts = score(
            self.reward,
            [infos[i]["text"] for i in done],
            [infos[i]["references"] for i in done],
            [infos[i]["source"] for i in done],
        )
        rewards = np.asarray(rewards).copy()
        rewards[done] += total.astype(rewards.dtype)
        for k, i in enumerate(done):
            self._record(infos[i], float(total[k]), {key: float(v[k]) for key, v in parts.items()})
        return obs, rewards, dones, infos

    def _record(self, info: dict[str, Any], value: float, parts: dict[str, float]) -> None:
        components = dict(info.get("reward_components") or {})
        components.update({self.reward_name: value, **parts})
        info["reward_components"] = components
        episode = info.get("episode")
        if isinstance(episode, dict) and "r" in episode:
            episode["r"] = round(float(episode["r"]) + value, 6)  # Monitor rounds to 6 too

    def _check_info(self, info: dict[str, Any], index: int) -> None:
        missing = [key for key in _NEEDED if key not in info]
        if missing:
            raise ConfigError(
                f"Env {index} finished an episode but its info lacks {missing}; "
                f"VecRewardWrapper needs the terminal info of a textgym.TextGenEnv (keys "
                f"{list(_NEEDED)}). Wrap a VecEnv of TextGenEnv, and keep wrappers between them "
                f"from dropping the info dict."
            )
