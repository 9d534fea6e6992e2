"""A few checks on the embedded SmolLM2-135M-Instruct itself (marked `real_model`).

``TEXTGYM_TEST_DEVICE=cuda`` runs them on a GPU (``benchmarks/gpu_check.sh`` does).
"""

from __future__ import annotations

import os

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.env_checker import check_env
from stable_baselines3.common.vec_env import DummyVecEnv

from textgym import DEFAULT_MODEL, ENV_IDS
from textgym.policies import EpisodeRolloutBuffer, LMPolicy, add_kl_penalty

pytestmark = pytest.mark.real_model
DEVICE = os.environ.get("TEXTGYM_TEST_DEVICE", "cpu")


@pytest.fixture(scope="module")
def ppo():
    env = DummyVecEnv(
        [lambda: gym.make("TextDialogue-v0", max_new_tokens=6, max_prompt_tokens=96)] * 3
    )
    return PPO(
        LMPolicy,
        env,
        n_steps=8,
        batch_size=24,
        policy_kwargs={"model": DEFAULT_MODEL},
        device=DEVICE,
    )


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_registered_envs_with_the_embedded_tokenizer(env_id):
    env = gym.make(env_id)
    check_env(env, warn=True)
    obs, _ = env.reset(seed=0)
    text = env.unwrapped.tokenizer.decode(obs["input_ids"][obs["attention_mask"] == 1])
    assert "<|im_start|>user" in text and text.rstrip().endswith("assistant")


def test_cached_rollout_log_probs_match_a_full_forward(ppo):
    """Over resets and decode steps, the rollout's log-probs equal an uncached forward."""
    _, callback = ppo._setup_learn(ppo.n_steps * ppo.n_envs, callback=None)
    callback.on_training_start(locals(), globals())
    ppo.collect_rollouts(ppo.env, callback, ppo.rollout_buffer, ppo.n_steps)
    buffer = ppo.rollout_buffer
    policy = ppo.policy
    for t in range(ppo.n_steps):
        obs = {k: th.as_tensor(v[t], device=DEVICE) for k, v in buffer.observations.items()}
        with th.no_grad():
            values, log_probs, _ = policy.evaluate_actions(
                obs, th.as_tensor(buffer.actions[t], device=DEVICE).long().flatten()
            )
        np.testing.assert_allclose(log_probs.cpu().numpy(), buffer.log_probs[t], atol=1e-4)
        np.testing.assert_allclose(values.flatten().cpu().numpy(), buffer.values[t], atol=1e-4)
    assert policy.rollout_cache.decode_steps > 0 and policy.rollout_cache.prefill_rows > 3


def test_kl_penalty_is_zero_before_training():
    """The teacher-forced reference agrees with the cached rollout's stored log-probs."""
    env = DummyVecEnv([lambda: gym.make("TextSummarize-v0", max_new_tokens=6)] * 2)
    model = PPO(
        LMPolicy,
        env,
        n_steps=10,  # episodes cross the rollout's end
        batch_size=20,
        policy_kwargs={"model": DEFAULT_MODEL},
        rollout_buffer_class=EpisodeRolloutBuffer,
        device=DEVICE,
    )
    penalty = add_kl_penalty(model, kl_coef=0.1)
    _, callback = model._setup_learn(model.n_steps * model.n_envs, callback=None)
    callback.on_training_start(locals(), globals())
    model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps)
    assert penalty.last.kl.shape == (10, 2) and np.abs(penalty.last.kl).max() < 1e-4


def test_conversion_cache_is_kept_per_transformers_major():
    """A copy converted by transformers 5 must not be read by 4.x (it would not load)."""
    from pathlib import Path

    import transformers

    from textgym.models import resolve_pretrained

    major = transformers.__version__.split(".")[0]
    path = Path(resolve_pretrained(DEFAULT_MODEL))
    assert path.name == f"{DEFAULT_MODEL}-transformers{major}"
    assert (path / "config.json").exists()
