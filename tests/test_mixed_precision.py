"""bfloat16 autocast with float32 master weights (on CPU here; the same path runs on GPUs)."""

from __future__ import annotations

import pytest
import torch as th
from conftest import collect_rollout
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

from textgym import ConfigError, TextGenEnv
from textgym.policies import EpisodeRolloutBuffer, LMPolicy, add_kl_penalty

TOLERANCE = 0.05  # nats: bfloat16 keeps ~3 significant digits; cached vs full forwards differ


def autocast_ppo(tiny_lm_dir, word_dataset, **policy):
    kwargs = dict(
        dataset=word_dataset,
        tokenizer=tiny_lm_dir,
        reward="rouge1",
        max_prompt_tokens=16,
        max_new_tokens=4,
        prompt_template="{source}",
    )
    env = make_vec_env(TextGenEnv, n_envs=4, seed=0, env_kwargs=kwargs)
    return PPO(
        LMPolicy,
        env,
        n_steps=8,
        batch_size=32,
        n_epochs=1,
        learning_rate=1e-3,
        seed=0,
        device="cpu",
        policy_kwargs={"model": tiny_lm_dir, "autocast": "bfloat16", **policy},
        rollout_buffer_class=EpisodeRolloutBuffer,
    )


def test_stored_and_recomputed_log_probs_agree_under_autocast(tiny_lm_dir, word_dataset):
    model = autocast_ppo(tiny_lm_dir, word_dataset)
    buffer = collect_rollout(model)
    calls = []
    model.policy.lm.register_forward_hook(lambda m, i, o: calls.append(o.logits.dtype))
    for batch in buffer.get(32):
        with th.no_grad():
            _, log_probs, _ = model.policy.evaluate_actions(
                batch.observations, batch.actions.long().flatten()
            )
        assert log_probs.dtype == th.float32
        th.testing.assert_close(log_probs, batch.old_log_prob, atol=TOLERANCE, rtol=0)
    assert calls and all(dtype == th.bfloat16 for dtype in calls)  # the LM ran in bf16


def test_master_weights_stay_float32_and_learn(tiny_lm_dir, word_dataset):
    model = autocast_ppo(tiny_lm_dir, word_dataset)
    before = [p.detach().clone() for p in model.policy.lm.parameters()]
    model.learn(64)
    after = list(model.policy.lm.parameters())
    assert all(p.dtype == th.float32 for p in after)
    assert all(not th.equal(a, b) for a, b in zip(before, after, strict=True))


def test_kl_reference_runs_under_autocast(tiny_lm_dir, word_dataset):
    model = autocast_ppo(tiny_lm_dir, word_dataset)
    penalty = add_kl_penalty(model, kl_coef=0.1, reference=tiny_lm_dir)
    collect_rollout(model)
    assert abs(penalty.last.kl).max() < TOLERANCE  # same weights: KL 0 up to bf16 rounding


@pytest.mark.parametrize(
    "policy, match",
    [
        ({"autocast": "float16"}, "gradient scaler"),
        ({"autocast": "bfloat16", "dtype": "bfloat16"}, "float32 master weights"),
        ({"autocast": "int8"}, "not supported"),
    ],
)
def test_bad_autocast_settings_are_clear_errors(tiny_lm_dir, word_dataset, policy, match):
    with pytest.raises(ConfigError, match=match):
        autocast_ppo(tiny_lm_dir, word_dataset, **policy)
