"""Groups of k samples per prompt, idle padding after EOS, and group-baseline advantages."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th
from conftest import collect_rollout, mean_rollout_rewards
from stable_baselines3 import PPO

from textgym import ConfigError, TextGenEnv, make_group_vec_env
from textgym.policies import EpisodeRolloutBuffer, LMPolicy
from textgym.policies.advantages import group_advantages, returns_to_go


class WordShare:
    name = "word_share"

    def __call__(self, generations, references, sources):
        return [g.split().count("cat") / max(len(g.split()), 1) for g in generations]


def env_kwargs(tiny_lm_dir, word_dataset, max_new_tokens=4, eos=None):
    kwargs = dict(
        dataset=word_dataset,
        tokenizer=tiny_lm_dir,
        reward=WordShare(),
        max_prompt_tokens=16,
        max_new_tokens=max_new_tokens,
        prompt_template="{source}",
    )
    if eos is not None:
        kwargs["eos_token_ids"] = eos
    return kwargs


def group_ppo(tiny_lm_dir, word_dataset, advantage="rloo", k=4, n_envs=8, eos=None, **ppo):
    env = make_group_vec_env(
        TextGenEnv, n_envs, k, seed=0, env_kwargs=env_kwargs(tiny_lm_dir, word_dataset, eos=eos)
    )
    policy_kwargs = {"model": tiny_lm_dir, "value_head": advantage == "gae"}
    settings = dict(n_steps=8, batch_size=64, n_epochs=1, seed=0, device="cpu")
    return PPO(
        LMPolicy,
        env,
        policy_kwargs=policy_kwargs,
        rollout_buffer_class=EpisodeRolloutBuffer,
        rollout_buffer_kwargs={"advantage": advantage, "group_size": k},
        normalize_advantage=False,
        **{**settings, **ppo},
    )


def test_padded_env_lasts_max_new_tokens_and_pays_at_eos(tiny_lm_dir, word_dataset):
    env = TextGenEnv(**env_kwargs(tiny_lm_dir, word_dataset, eos=[1]), pad_after_eos=True)
    env.reset(seed=0)
    cat = env.tokenizer.convert_tokens_to_ids("cat")
    obs, reward, done, _, info = env.step(cat)
    assert reward == 0 and not done and not info
    obs, reward, done, _, info = env.step(1)  # EOS: scored now, episode goes on
    assert reward == pytest.approx(1.0) and not done and info["text"] == "cat"
    for step in range(2):
        again, reward, done, _, info = env.step(cat)  # ignored
        assert reward == 0 and info == {"idle": True} and done == (step == 1)
        np.testing.assert_array_equal(again["input_ids"], obs["input_ids"])
    assert env.generated_text() == "cat"


def test_group_membership_survives_eos_at_different_steps(tiny_lm_dir, word_dataset):
    """Envs of a block share each episode's example although their EOS comes at random steps."""
    venv = make_group_vec_env(
        TextGenEnv, 6, 3, seed=5, env_kwargs=env_kwargs(tiny_lm_dir, word_dataset, eos=[*range(30)])
    )
    venv.reset()
    rng = np.random.default_rng(0)
    scored = [[] for _ in range(6)]  # per env: (step, example id) of each episode's scored step
    for step in range(4 * 4):  # four rounds of max_new_tokens=4 steps
        _, _, dones, infos = venv.step(rng.integers(3, 40, size=6))
        for env, info in enumerate(infos):
            if "text" in info:
                scored[env].append((step % 4, info["example_id"]))
        assert dones.all() == (step % 4 == 3) and dones.all() == dones.any()  # aligned rounds
    assert all(len(episodes) == 4 for episodes in scored)
    assert len({s for episodes in scored for s, _ in episodes}) > 1  # EOS at different steps
    ids = [[i for _, i in episodes] for episodes in scored]
    assert ids[0] == ids[1] == ids[2] and ids[3] == ids[4] == ids[5]
    assert len(set(ids[0] + ids[3])) > 2  # examples change over rounds


def test_returns_and_advantage_modes_by_hand():
    # one round of 3 steps, 4 envs in 2 groups of 2; rewards only at the end, plus a -0.1 step
    rewards = np.zeros((3, 4), dtype=np.float32)
    rewards[2] = [1.0, 0.0, 0.5, 0.25]
    rewards[0, 0] = -0.1
    starts = np.zeros((3, 4), dtype=np.float32)
    starts[0] = 1
    g = returns_to_go(rewards, starts, gamma=1.0)
    np.testing.assert_allclose(g[:, 0], [0.9, 1.0, 1.0])
    totals = np.array([0.9, 0.0, 0.5, 0.25])
    mean = np.array([0.45, 0.45, 0.375, 0.375])
    np.testing.assert_allclose(group_advantages(g, starts, 2, "group_mean")[0], totals - mean)
    loo = np.array([0.0, 0.9, 0.25, 0.5])
    np.testing.assert_allclose(group_advantages(g, starts, 2, "rloo")[0], totals - loo)
    std = np.array([np.std([0.9, 0.0], ddof=1)] * 2 + [np.std([0.5, 0.25], ddof=1)] * 2)
    adv = group_advantages(g, starts, 2, "grpo")
    np.testing.assert_allclose(adv[0], (totals - mean) / std, rtol=1e-6)
    np.testing.assert_allclose(adv[1, 0], (1.0 - 0.45) / std[0], rtol=1e-6)  # G_1, not G_0


@pytest.mark.parametrize("advantage", ["group_mean", "rloo", "grpo", "gae"])
def test_buffer_advantages_and_minibatches(tiny_lm_dir, word_dataset, advantage):
    model = group_ppo(tiny_lm_dir, word_dataset, advantage, eos=[*range(30)], batch_size=16)
    buffer = collect_rollout(model)
    assert buffer.idle.any() and not buffer.idle[0].any()
    assert (buffer.rewards[buffer.idle] == 0).all()
    if advantage != "gae":
        totals = buffer.returns[0].reshape(2, 4)
        if advantage == "rloo":
            baseline = (totals.sum(1, keepdims=True) - totals) / 3
        else:
            baseline = totals.mean(1, keepdims=True)
        scale = totals.std(1, ddof=1, keepdims=True) + 1e-8 if advantage == "grpo" else 1.0
        expected = ((totals - baseline) / scale).reshape(-1)
        np.testing.assert_allclose(buffer.advantages[0], expected, rtol=1e-5, atol=1e-6)
        assert (buffer.values == 0).all()
    seen = []
    for batch in buffer.get(16):
        seen.append(len(batch.actions))
    assert sum(seen) == (~buffer.idle).sum()  # every active step once, no idle one


def test_gae_treats_eos_as_the_end_with_padding(tiny_lm_dir, word_dataset):
    model = group_ppo(tiny_lm_dir, word_dataset, "gae", k=1, n_envs=4, eos=[*range(30)])
    th.nn.init.normal_(model.policy.value_net.weight)
    buffer = collect_rollout(model)
    env, step = np.argwhere(buffer.idle.T)[0]
    eos_step = step - 1  # the last real step before the first idle one
    expected = buffer.rewards[eos_step, env] - buffer.values[eos_step, env]
    assert buffer.advantages[eos_step, env] == pytest.approx(expected, abs=1e-5)


def test_group_baseline_rejects_unaligned_envs(tiny_lm_dir, word_dataset):
    from stable_baselines3.common.env_util import make_vec_env

    env = make_vec_env(
        TextGenEnv, n_envs=4, env_kwargs=env_kwargs(tiny_lm_dir, word_dataset, eos=[*range(30)])
    )
    model = PPO(
        LMPolicy,
        env,
        n_steps=8,
        batch_size=32,
        policy_kwargs={"model": tiny_lm_dir, "value_head": False},
        rollout_buffer_class=EpisodeRolloutBuffer,
        rollout_buffer_kwargs={"advantage": "rloo", "group_size": 2},
        device="cpu",
    )
    with pytest.raises(ConfigError, match="make_group_vec_env"):
        collect_rollout(model)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"advantage": "rloo", "group_size": 1}, "group_size >= 2"),
        ({"advantage": "ppo", "group_size": 4}, "not an advantage mode"),
        ({"advantage": "rloo", "group_size": 3}, "does not divide n_envs=4"),
        ({"advantage": "rloo", "group_size": 0}, "integer >= 1"),
    ],
)
def test_bad_group_settings_are_clear_errors(tiny_lm_dir, word_dataset, kwargs, match):
    from stable_baselines3.common.env_util import make_vec_env

    env = make_vec_env(TextGenEnv, n_envs=4, env_kwargs=env_kwargs(tiny_lm_dir, word_dataset))
    with pytest.raises(ConfigError, match=match):
        PPO(
            LMPolicy,
            env,
            n_steps=8,
            policy_kwargs={"model": tiny_lm_dir},
            rollout_buffer_class=EpisodeRolloutBuffer,
            rollout_buffer_kwargs=kwargs,
            device="cpu",
        )
    with pytest.raises(ConfigError, match="multiple of 3"):
        make_group_vec_env(TextGenEnv, 4, 3, env_kwargs=env_kwargs(tiny_lm_dir, word_dataset))


def test_rloo_without_value_head_learns_a_toy_reward(tiny_lm_dir, word_dataset):
    model = group_ppo(
        tiny_lm_dir,
        word_dataset,
        "rloo",
        k=4,
        n_envs=8,
        n_steps=8,
        n_epochs=4,
        learning_rate=1e-2,
    )
    assert model.policy.value_net is None
    rewards = mean_rollout_rewards(model, 8 * 8 * 25)
    assert rewards[-1] > rewards[0] + 0.5, rewards


def test_group_rollout_prefills_each_prompt_once_and_log_probs_hold(tiny_lm_dir, word_dataset):
    """k rows on one prompt: one prefill row per group; stored log-probs = recomputed ones."""
    model = group_ppo(tiny_lm_dir, word_dataset, "rloo", k=4, n_envs=8, eos=[*range(30)])
    buffer = collect_rollout(model)  # two rounds of 4 steps: 2 groups x 2 rounds
    assert model.policy.rollout_cache.prefill_rows == 2 * 2
    for batch in buffer.get(64):
        with th.no_grad():
            _, log_probs, _ = model.policy.evaluate_actions(
                batch.observations, batch.actions.long().flatten()
            )
        th.testing.assert_close(log_probs, batch.old_log_prob, atol=1e-4, rtol=1e-4)


def test_kl_penalty_with_groups_is_zero_on_idle_steps(tiny_lm_dir, word_dataset):
    from textgym.policies import add_kl_penalty

    model = group_ppo(tiny_lm_dir, word_dataset, "rloo", k=4, n_envs=8, eos=[*range(30)])
    penalty = add_kl_penalty(model, kl_coef=0.1, reference=tiny_lm_dir)
    buffer = collect_rollout(model)
    assert buffer.idle.any()
    assert (penalty.last.kl[buffer.idle] == 0).all() and (buffer.rewards[buffer.idle] == 0).all()
    assert np.abs(penalty.last.kl[~buffer.idle]).max() < 1e-4  # same weights: KL 0
