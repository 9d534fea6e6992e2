"""LMPolicy with the stock SB3 PPO: contract, cache and grouping equivalence, learning."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th
from conftest import collect_rollout, mean_rollout_rewards
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

from textgym import ConfigError, TextGenEnv
from textgym.policies import EpisodeRolloutBuffer, LMPolicy


class WordShare:
    """Share of generated words equal to ``word`` (0 for an empty generation)."""

    name = "word_share"

    def __init__(self, word: str = "cat") -> None:
        self.word = word

    def __call__(self, generations, references, sources):
        return [g.split().count(self.word) / max(len(g.split()), 1) for g in generations]


def make_env(tiny_lm_dir, word_dataset, n_envs=4, max_new_tokens=6, seed=0):
    kwargs = dict(
        dataset=word_dataset,
        tokenizer=tiny_lm_dir,
        reward=WordShare(),
        max_prompt_tokens=16,
        max_new_tokens=max_new_tokens,
        prompt_template="{source}",
    )
    return make_vec_env(TextGenEnv, n_envs=n_envs, seed=seed, env_kwargs=kwargs)


def make_ppo(env, tiny_lm_dir, **kwargs):
    policy_kwargs = {"model": tiny_lm_dir, **kwargs.pop("policy_kwargs", {})}
    defaults = dict(n_steps=8, batch_size=16, n_epochs=1, seed=0, device="cpu")
    return PPO(LMPolicy, env, policy_kwargs=policy_kwargs, **{**defaults, **kwargs})


def test_forward_shapes_and_lr(tiny_lm_dir, word_dataset):
    model = make_ppo(make_env(tiny_lm_dir, word_dataset), tiny_lm_dir, learning_rate=1e-3)
    obs = model.policy.obs_to_tensor(model.env.reset())[0]
    with th.no_grad():
        actions, values, log_probs = model.policy(obs)
    assert actions.shape == (4,) and values.shape == (4, 1) and log_probs.shape == (4,)
    assert model.policy.optimizer.param_groups[0]["lr"] == pytest.approx(1e-3)
    assert int(actions.max()) < model.action_space.n


@pytest.mark.parametrize("sampling", [{}, {"temperature": 0.7, "top_k": 8, "top_p": 0.9}])
def test_stored_log_probs_equal_recomputed(tiny_lm_dir, word_dataset, sampling):
    """What PPO stores at rollout (cached) equals what evaluate_actions recomputes (grouped)."""
    model = make_ppo(
        make_env(tiny_lm_dir, word_dataset),
        tiny_lm_dir,
        n_steps=16,
        policy_kwargs=sampling,
        rollout_buffer_class=EpisodeRolloutBuffer,
    )
    buffer = collect_rollout(model)
    for batch in buffer.get(16):
        with th.no_grad():
            values, log_probs, entropy = model.policy.evaluate_actions(
                batch.observations, batch.actions.long().flatten()
            )
        th.testing.assert_close(log_probs, batch.old_log_prob, atol=1e-4, rtol=1e-4)
        th.testing.assert_close(values.flatten(), batch.old_values, atol=1e-4, rtol=1e-4)
        assert th.isfinite(entropy).all() and th.isfinite(log_probs).all()


def test_grouped_equals_per_transition(tiny_lm_dir, word_dataset):
    model = make_ppo(make_env(tiny_lm_dir, word_dataset), tiny_lm_dir, n_steps=12)
    buffer = collect_rollout(model)
    batch = next(buffer.get(None))
    actions = batch.actions.long().flatten()
    with th.no_grad():
        grouped = model.policy.evaluate_actions(batch.observations, actions)
        single = [
            model.policy.evaluate_actions(
                {k: v[i : i + 1] for k, v in batch.observations.items()}, actions[i : i + 1]
            )
            for i in range(len(actions))
        ]
    for part, name in enumerate(["values", "log_probs", "entropy"]):
        expected = th.cat([s[part].reshape(-1) for s in single])
        th.testing.assert_close(grouped[part].reshape(-1), expected, atol=1e-5, rtol=1e-5, msg=name)


def test_cache_matches_uncached_over_resets(tiny_lm_dir, word_dataset):
    env = make_env(tiny_lm_dir, word_dataset, max_new_tokens=5)
    cached = make_ppo(env, tiny_lm_dir).policy
    plain = make_ppo(env, tiny_lm_dir, policy_kwargs={"kv_cache": False}).policy
    plain.load_state_dict(cached.state_dict())
    obs = env.reset()
    for _ in range(14):  # crosses several episode ends (resets)
        tensor = cached.obs_to_tensor(obs)[0]
        with th.no_grad():
            a = cached.get_distribution(tensor).distribution.logits
            b = plain.get_distribution(tensor).distribution.logits
            th.testing.assert_close(
                cached.predict_values(tensor), plain.predict_values(tensor), atol=1e-5, rtol=1e-5
            )
        th.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
        obs, *_ = env.step(th.distributions.Categorical(logits=a).sample().numpy())
    assert cached.rollout_cache.decode_steps > 0


def test_vocabulary_mismatch_is_a_clear_error(tiny_lm_dir, word_dataset, tmp_path):
    from conftest import make_tiny_lm

    make_tiny_lm(vocab_size=20).save_pretrained(tmp_path)
    with pytest.raises(ConfigError, match="different tokenizers"):
        make_ppo(
            make_env(tiny_lm_dir, word_dataset), str(tmp_path), policy_kwargs={"tokenizer": None}
        )


def test_learn_changes_every_parameter_and_is_seeded(tiny_lm_dir, word_dataset):
    def trained():
        model = make_ppo(make_env(tiny_lm_dir, word_dataset), tiny_lm_dir, learning_rate=1e-3)
        before = {k: v.clone() for k, v in model.policy.named_parameters()}
        model.learn(64)
        return before, dict(model.policy.named_parameters())

    before, after = trained()
    unchanged = [k for k, v in after.items() if v.requires_grad and th.equal(v, before[k])]
    assert not unchanged, f"parameters not updated: {unchanged}"
    _, again = trained()
    for key, value in after.items():
        assert th.equal(value, again[key]), key


def test_save_load_gives_same_deterministic_actions(tiny_lm_dir, word_dataset, tmp_path):
    env = make_env(tiny_lm_dir, word_dataset)
    model = make_ppo(env, tiny_lm_dir, learning_rate=1e-2)
    model.learn(32)
    model.save(tmp_path / "ppo")
    loaded = PPO.load(tmp_path / "ppo", device="cpu")
    obs = env.reset()
    for _ in range(8):
        a, _ = model.predict(obs, deterministic=True)
        b, _ = loaded.predict(obs, deterministic=True)
        np.testing.assert_array_equal(a, b)
        obs, *_ = env.step(a)


def assert_ppo_learns_to_emit_a_word(make_env, make_ppo, model_dir, word_dataset) -> None:
    """PPO with ``make_env``/``make_ppo`` (causal or seq2seq helpers) learns the word reward."""
    env = make_env(model_dir, word_dataset, n_envs=8, max_new_tokens=4)
    model = make_ppo(
        env,
        model_dir,
        n_steps=16,
        batch_size=32,
        n_epochs=4,
        learning_rate=1e-2,
        rollout_buffer_class=EpisodeRolloutBuffer,
    )
    rewards = mean_rollout_rewards(model, 8 * 16 * 25)
    assert rewards[-1] > rewards[0] + 0.5, rewards


def test_ppo_learns_to_emit_a_word(tiny_lm_dir, word_dataset):
    assert_ppo_learns_to_emit_a_word(make_env, make_ppo, tiny_lm_dir, word_dataset)


def test_same_size_different_tokenizer_is_a_clear_error(tiny_lm_dir, word_dataset, tmp_path):
    from conftest import WORDS, make_word_tokenizer
    from transformers import AutoTokenizer

    other = make_word_tokenizer(list(reversed(WORDS)))
    assert len(other) == len(AutoTokenizer.from_pretrained(tiny_lm_dir))
    other.save_pretrained(tmp_path)
    with pytest.raises(ConfigError, match="same size but different tokens"):
        make_ppo(
            make_env(tiny_lm_dir, word_dataset),
            tiny_lm_dir,
            policy_kwargs={"tokenizer": str(tmp_path)},
        )


def test_separate_value_model(tiny_lm_dir, word_dataset, tmp_path):
    model = make_ppo(
        make_env(tiny_lm_dir, word_dataset),
        tiny_lm_dir,
        n_steps=12,
        learning_rate=1e-2,
        policy_kwargs={"value_model": "separate"},
        rollout_buffer_class=EpisodeRolloutBuffer,
    )
    policy = model.policy
    assert policy.value_lm is not None and policy.value_lm is not policy.lm
    with th.no_grad():
        policy.value_net.weight.normal_()  # non-zero values, so the comparison means something
    buffer = collect_rollout(model)
    for batch in buffer.get(16):
        with th.no_grad():
            values, log_probs, _ = policy.evaluate_actions(
                batch.observations, batch.actions.long().flatten()
            )
        th.testing.assert_close(values.flatten(), batch.old_values, atol=1e-4, rtol=1e-4)
        th.testing.assert_close(log_probs, batch.old_log_prob, atol=1e-4, rtol=1e-4)
    assert buffer.values.std() > 0
    before = {k: v.clone() for k, v in policy.value_lm.named_parameters()}
    model.learn(48)
    changed = [k for k, v in policy.value_lm.named_parameters() if not th.equal(v, before[k])]
    assert changed, "the value model is trained by the value loss"
    model.save(tmp_path / "ppo")
    loaded = PPO.load(tmp_path / "ppo", device="cpu")
    obs = loaded.policy.obs_to_tensor(model.env.reset())[0]
    with th.no_grad():
        th.testing.assert_close(loaded.policy.predict_values(obs), policy.predict_values(obs))
    with pytest.raises(ConfigError, match="value_model"):
        make_ppo(
            make_env(tiny_lm_dir, word_dataset), tiny_lm_dir, policy_kwargs={"value_model": "twin"}
        )


@pytest.mark.parametrize("value_model", ["shared", "separate"])
def test_bootstrap_value_skips_the_prefill_of_rows_that_just_terminated(
    tiny_lm_dir, word_dataset, monkeypatch, value_model
):
    """SB3's end-of-rollout value: no prefill for reset rows, real values for the others."""
    kwargs = dict(
        dataset=word_dataset,
        tokenizer=tiny_lm_dir,
        reward=WordShare(),
        max_prompt_tokens=16,
        max_new_tokens=4,
        prompt_template="{source}",
        eos_token_ids=list(range(1, 30)),  # about half the vocabulary: episodes end at random
    )
    env = make_vec_env(TextGenEnv, n_envs=4, seed=0, env_kwargs=kwargs)
    model = make_ppo(env, tiny_lm_dir, n_steps=6, policy_kwargs={"value_model": value_model})
    th.nn.init.normal_(model.policy.value_net.weight)  # non-zero values
    seen = {}
    gae = model.rollout_buffer.compute_returns_and_advantage

    def record(last_values, dones):
        seen.update(last_values=last_values.clone(), dones=dones.copy())
        gae(last_values, dones)

    monkeypatch.setattr(model.rollout_buffer, "compute_returns_and_advantage", record)
    cache = model.policy.rollout_cache
    predict = model.policy.predict_values

    def bootstrap(obs):
        rows = cache.prefill_rows
        values = predict(obs)
        seen["bootstrap_prefill_rows"] = cache.prefill_rows - rows
        return values

    monkeypatch.setattr(model.policy, "predict_values", bootstrap)
    for _ in range(8):  # until a rollout ends with both done and running rows
        collect_rollout(model)
        dones = th.as_tensor(seen["dones"].astype(bool))
        if dones.any() and not dones.all():
            break
    assert dones.any() and not dones.all()
    assert seen["bootstrap_prefill_rows"] == 0
    monkeypatch.undo()
    obs = model.policy.obs_to_tensor(model._last_obs)[0]
    with th.no_grad():
        real = model.policy.predict_values(obs).flatten()  # a plain call: real values for all
    last = seen["last_values"].flatten()
    th.testing.assert_close(last[~dones], real[~dones])
    assert real[dones].abs().min() > 0 and cache.prefill_rows > 0


def test_an_update_keeps_no_logits_alive_and_releases_freed_memory_on_cpu(
    tiny_lm_dir, word_dataset, monkeypatch
):
    """The distribution is new per call (the shared one kept the last minibatch's (B, V)
    logits), and every optimizer step on CPU hands freed heap memory back (malloc_trim)."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    from textgym import TextGenEnv
    from textgym.policies import host_memory

    trims = []
    monkeypatch.setattr(host_memory, "release_freed_memory", lambda: trims.append(1))
    kwargs = {"dataset": word_dataset, "tokenizer": tiny_lm_dir, "max_new_tokens": 4}
    env = make_vec_env(TextGenEnv, n_envs=2, seed=0, env_kwargs=kwargs)
    model = PPO(
        LMPolicy, env, n_steps=8, batch_size=8, n_epochs=1, policy_kwargs={"model": tiny_lm_dir}
    )
    model.learn(16)
    assert len(trims) == model._n_updates * 2  # every optimizer step: 2 minibatches per epoch
    assert not hasattr(model.policy.action_dist, "distribution")
