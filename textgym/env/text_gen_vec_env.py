"""TextGenEnv vectorised: one step of all envs at once on ``(n_envs, length)`` arrays."""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.env_util import is_wrapped
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import (
    VecEnvIndices,
    VecEnvObs,
    VecEnvStepReturn,
)

from textgym.env.text_gen_env import TextGenEnv, episode_info
from textgym.env.text_gen_vec_checks import check_actions, check_envs, check_settable
from textgym.errors import ConfigError, EnvStateError
from textgym.rewards import score

# What get_state saves besides the envs' own states: everything that changes while running.
_STATE = (
    "_input_ids",
    "_mask",
    "_lengths",
    "_steps",
    "_ended",
    "_last_score",
    "_returns",
    "_index",
    "_started",
    "_t_start",
    "_seeds",
    "_options",
    "reset_infos",
)
_NOT_TRUNCATED = {"TimeLimit.truncated": False}


def share_prompt_caches(envs: Sequence[TextGenEnv]) -> None:
    """Give envs with the same data and prompt settings one prompt cache between them.

    Each env caches the prompts it builds (chat template, tokenizer, truncation); envs that
    would build the same prompts then build each one once instead of once per env.
    """
    owners: list[TextGenEnv] = []
    for env in envs:
        owner = next((o for o in owners if _same_prompts(o, env)), None)
        if owner is None:
            owners.append(env)
        else:
            env._prompt_cache = owner._prompt_cache


def _same_prompts(a: TextGenEnv, b: TextGenEnv) -> bool:
    """Whether ``a`` and ``b`` build the same prompt for each example index.

    Their tokenizers are equal already (:func:`check_envs`).
    """
    pa, pb = a.prompts, b.prompts
    settings = (pa.task.name, pa.template, pa.use_chat, pa.max_prompt_tokens)
    same = settings == (pb.task.name, pb.template, pb.use_chat, pb.max_prompt_tokens)
    return same and (a.examples is b.examples or a.examples == b.examples)


class TextGenVecEnv(VecEnv):
    """SB3's ``DummyVecEnv`` of ``Monitor(TextGenEnv)``, stepped on arrays for all envs at once.

    Row ``i`` behaves as ``envs[i]`` in a ``DummyVecEnv`` with SB3's ``Monitor``: the same
    observations, rewards, dones and infos (the env's end-of-episode keys,
    ``terminal_observation``, ``episode`` with ``r``, ``l``, ``t`` and ``{"idle": True}`` on
    padding steps), the same auto-reset and ``reset_infos``, and the same examples for the
    same seeds. A step writes the actions into the arrays and scores every episode that
    ended in it with one batched reward call; only the rows that end are handled one by one.

    Each row's env keeps its own example stream (``np_random`` or ``example_seed``), prompt
    cache and data: the vector env calls its ``reset`` at the start of each episode and reads
    the prompt from it. The running episode lives in the vector env, so attributes of the
    envs that describe the episode (e.g. ``generated_text()``) stay at its start, and it
    does not render. Both reward modes work (``"dense"`` scores every active row in one call
    per step). Monitor's ``episode["t"]`` counts from the vector env's construction.

    Args:
        envs: Distinct bare :class:`TextGenEnv` s built with the same tokenizer, token limits,
            end tokens, ``pad_after_eos``, ``reward_mode`` and reward (the reward of env 0
            scores all rows). Their data may differ.

    Raises:
        ConfigError: the envs are not such TextGenEnvs (see :func:`check_envs`).
    """

    actions: np.ndarray

    def __init__(self, envs: Sequence[TextGenEnv]) -> None:
        self.envs = check_envs(envs)
        share_prompt_caches(self.envs)
        first = self.envs[0]
        super().__init__(len(self.envs), first.observation_space, first.action_space)
        self.metadata = first.metadata
        self.reward_fn = first.reward_fn
        self.tokenizer, self.vocab_size = first.tokenizer, first.vocab_size
        self.prompt_slots, self.max_new_tokens = first.max_prompt_tokens, first.max_new_tokens
        self.eos = np.array(sorted(first.eos_token_ids), dtype=np.int64)
        self.pad_after_eos, self.dense = first.pad_after_eos, first.dense
        n, length = self.num_envs, first.max_prompt_tokens + first.max_new_tokens
        self._input_ids = np.full((n, length), first.pad_token_id, dtype=np.int64)
        self._mask = np.zeros((n, length), dtype=np.int64)
        self._lengths = np.zeros(n, dtype=np.int64)  # tokens generated in the episode
        self._steps = np.zeros(n, dtype=np.int64)  # steps in the episode, idle ones too
        self._ended = np.zeros(n, dtype=bool)  # the generation ended: idle from now on
        self._last_score = np.zeros(n)  # the score paid so far (dense mode)
        self._returns = np.zeros(n)  # the episode's return so far (Monitor's "r")
        self._index = np.zeros(n, dtype=np.int64)  # the episode's example in its env's data
        self._started = False
        self._t_start = time.time()

    def reset(self) -> VecEnvObs:
        """Start an episode in every row, with the seeds and options set since the last reset."""
        for i in range(self.num_envs):
            self._reset_row(i, self._seeds[i], self._options[i])
        self._reset_seeds()
        self._reset_options()
        self._started = True
        return self._obs()

    def _reset_row(self, i: int, seed: int | None = None, options: dict | None = None) -> None:
        """Start row ``i``'s next episode from its env's ``reset`` (example and prompt)."""
        obs, info = self.envs[i].reset(seed=seed, **({"options": options} if options else {}))
        self._input_ids[i], self._mask[i] = obs["input_ids"], obs["attention_mask"]
        self._index[i], self.reset_infos[i] = info["index"], info
        self._lengths[i] = self._steps[i] = 0
        self._ended[i] = False
        self._last_score[i] = self._returns[i] = 0.0

    def step_async(self, actions: np.ndarray) -> None:
        """Store the actions (one token id per env) for :meth:`step_wait`."""
        self.actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        """Append each row's token, score the ended episodes, reset the finished rows."""
        if not self._started:
            raise EnvStateError("step() was called before reset(); call reset() first.")
        tokens = check_actions(self.actions, self.num_envs, self.vocab_size)
        idle = self._ended.copy()  # padding after EOS: the action is ignored
        active = np.flatnonzero(~idle)
        self._steps += 1
        slots = self.prompt_slots + self._lengths[active]
        self._input_ids[active, slots] = tokens[active]
        self._mask[active, slots] = 1
        self._lengths[active] += 1
        eos = np.isin(tokens, self.eos)
        ended = ~idle & (eos | (self._lengths == self.max_new_tokens))
        self._ended |= ended
        dones = self._steps == self.max_new_tokens if self.pad_after_eos else ended.copy()
        # as DummyVecEnv, every info says TimeLimit.truncated (False: the cap is no time-out)
        infos = [{"idle": True, **_NOT_TRUNCATED} if i else dict(_NOT_TRUNCATED) for i in idle]
        rewards = self._score(active if self.dense else np.flatnonzero(ended), ended, eos, infos)
        self._returns += rewards
        for i in np.flatnonzero(dones):
            self._finish(int(i), infos[i])
        return self._obs(), rewards.astype(np.float32), dones, infos

    def _score(
        self, rows: np.ndarray, ended: np.ndarray, eos: np.ndarray, infos: list[dict[str, Any]]
    ) -> np.ndarray:
        """Score ``rows`` in one call; the step's rewards; the env's info for ended rows."""
        rewards = np.zeros(self.num_envs)
        if not rows.size:
            return rewards
        texts = self.tokenizer.batch_decode(
            [self._generated(i) for i in rows], skip_special_tokens=True
        )
        examples = [self.envs[i].examples[self._index[i]] for i in rows]
        total, parts = score(
            self.reward_fn, texts, [e.references for e in examples], [e.source for e in examples]
        )
        rewards[rows] = total - self._last_score[rows]
        self._last_score[rows] = total
        name = getattr(self.reward_fn, "name", "reward")
        for k, i in enumerate(rows):
            if not ended[i]:
                continue
            components = {name: float(total[k]), **{key: float(v[k]) for key, v in parts.items()}}
            hit_cap = bool(self._lengths[i] == self.max_new_tokens and not eos[i])
            infos[i].update(
                episode_info(texts[k], examples[k], int(self._lengths[i]), hit_cap, components)
            )
        return rewards

    def _generated(self, i: int) -> list[int]:
        return self._input_ids[i, self.prompt_slots : self.prompt_slots + self._lengths[i]].tolist()

    def _finish(self, i: int, info: dict[str, Any]) -> None:
        """End row ``i``'s episode as DummyVecEnv and Monitor do, and start the next one."""
        info["terminal_observation"] = {
            "input_ids": self._input_ids[i].copy(),
            "attention_mask": self._mask[i].copy(),
        }
        info["episode"] = {
            "r": round(float(self._returns[i]), 6),
            "l": int(self._steps[i]),
            "t": round(time.time() - self._t_start, 6),
        }
        self._reset_row(i)

    def _obs(self) -> dict[str, np.ndarray]:
        return {"input_ids": self._input_ids.copy(), "attention_mask": self._mask.copy()}

    def get_state(self) -> dict[str, Any]:
        """A copy of everything that changes as the envs run, for checkpoints.

        The arrays, the per-row counters and returns, the seeds and options of the next
        reset, and each env's :meth:`TextGenEnv.get_state` (its random streams).
        :meth:`set_state` on a vector env built the same way continues exactly from here.
        """
        own = copy.deepcopy({name: getattr(self, name) for name in _STATE})
        return {"vec_env": own, "envs": [env.get_state() for env in self.envs]}

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`get_state` of a vector env built the same way.

        Raises:
            ConfigError: the saved state has another number of envs.
        """
        if len(state["envs"]) != self.num_envs:
            raise ConfigError(
                f"The saved state has {len(state['envs'])} envs, this TextGenVecEnv "
                f"has {self.num_envs}; resume with the settings the run was started with."
            )
        for env, env_state in zip(self.envs, state["envs"], strict=True):
            env.set_state(env_state)
        for name in _STATE:
            setattr(self, name, copy.deepcopy(state["vec_env"][name]))

    def get_images(self) -> list[np.ndarray | None]:
        """Not supported: the envs hold only the start of their episodes.

        Raises:
            ConfigError: always; record videos with SB3's ``DummyVecEnv``.
        """
        raise ConfigError(
            "TextGenVecEnv does not render: the running episodes live in its arrays, not in "
            "its envs. Record videos of a DummyVecEnv of TextGenEnv instead."
        )

    def close(self) -> None:
        """Close every env."""
        for env in self.envs:
            env.close()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """The attribute ``attr_name`` of each env of ``indices`` (all: None)."""
        return [getattr(self.envs[i], attr_name) for i in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set ``attr_name`` on the envs of ``indices``.

        Raises:
            ConfigError: a shared setting (see :func:`check_settable`).
        """
        targets = list(self._get_indices(indices))
        check_settable(attr_name, targets, self.num_envs)
        for i in targets:
            setattr(self.envs[i], attr_name, value)
        if attr_name == "reward_fn":
            self.reward_fn = value

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **kwargs: Any
    ) -> list[Any]:
        """Call ``method_name`` on the envs of ``indices``; their results in order."""
        targets = self._get_indices(indices)
        return [getattr(self.envs[i], method_name)(*method_args, **kwargs) for i in targets]

    def env_is_wrapped(
        self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None
    ) -> list[bool]:
        """Whether each env of ``indices`` is wrapped in ``wrapper_class`` (never: bare envs)."""
        return [is_wrapped(self.envs[i], wrapper_class) for i in self._get_indices(indices)]
