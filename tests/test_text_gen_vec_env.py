"""TextGenVecEnv steps exactly as a DummyVecEnv of Monitor(TextGenEnv), on arrays."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch as th
from conftest import collect_rollout
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

from textgym import ConfigError, TextGenEnv, make_group_vec_env
from textgym.env.text_gen_vec_env import TextGenVecEnv
from textgym.env.text_gen_vec_factories import (
    make_group_text_gen_vec_env,
    make_text_gen_vec_env,
)
from textgym.env.vec_reward import VecRewardWrapper
from textgym.errors import EnvStateError
from textgym.policies import EpisodeRolloutBuffer, LMPolicy
from textgym.rewards.base import Reward

EOS = 1


class CatParts(Reward):
    """Share of "cat" words, with two named parts (to see reward_components)."""

    name = "cat_parts"

    def __init__(self) -> None:
        self.batch_sizes: list[int] = []

    def __call__(self, generations, references, sources):
        return self.score_components(generations, references, sources)[0]

    def score_components(self, generations, references, sources):
        self.batch_sizes.append(len(generations))
        words = np.array([max(len(g.split()), 1) for g in generations], dtype=np.float64)
        cats = np.array([g.split().count("cat") for g in generations], dtype=np.float64)
        return cats / words + 0.1, {"cats": cats, "words": words}


def env_kwargs(tiny_lm_dir, word_dataset, **extra):
    kwargs = dict(
        dataset=word_dataset,
        tokenizer=tiny_lm_dir,
        reward=CatParts(),
        max_prompt_tokens=16,
        max_new_tokens=4,
        prompt_template="{source}",
    )
    return {**kwargs, **extra}


def random_actions(rng, n, vocab=48):
    """Random token ids, EOS a quarter of the time."""
    return np.where(rng.random(n) < 0.25, EOS, rng.integers(0, vocab, n))


def assert_same_info(got, want):
    assert set(got) == set(want)
    for key, value in want.items():
        if key == "terminal_observation":
            for name in value:
                np.testing.assert_array_equal(got[key][name], value[name])
        elif key == "episode":
            assert {k: got[key][k] for k in "rl"} == {k: value[k] for k in "rl"}
            assert isinstance(got[key]["t"], float)
        else:
            assert got[key] == value, key
            assert type(got[key]) is type(value), key


def assert_same_step(got, want):
    for name in want[0]:
        np.testing.assert_array_equal(got[0][name], want[0][name])
        assert got[0][name].dtype == want[0][name].dtype == np.int64
    for a, b in zip(got[1:3], want[1:3], strict=True):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
    for a, b in zip(got[3], want[3], strict=True):
        assert_same_info(a, b)


def assert_same_reset(vec, dummy):
    got, want = vec.reset(), dummy.reset()
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])
    assert vec.reset_infos == dummy.reset_infos


def run_both(vec, dummy, steps, seed=0):
    """Step both with the same random actions, compare each step; return ``vec``'s steps."""
    rng = np.random.default_rng(seed)
    seen = []
    for _ in range(steps):
        actions = random_actions(rng, vec.num_envs)
        want = dummy.step(actions)
        got = vec.step(actions)
        assert_same_step(got, want)
        assert vec.reset_infos == dummy.reset_infos
        seen.append(got)
    return seen


def test_groups_step_like_the_per_env_loop(tiny_lm_dir, word_dataset):
    kwargs = env_kwargs(tiny_lm_dir, word_dataset)
    dummy = make_group_vec_env(TextGenEnv, 4, 2, seed=3, env_kwargs=kwargs)
    vec = make_group_text_gen_vec_env(TextGenEnv, 4, 2, seed=3, env_kwargs=kwargs)
    assert_same_reset(vec, dummy)
    seen = run_both(vec, dummy, steps=5 * 4)
    infos = [info for _, _, _, step in seen for info in step]
    assert any(info.get("idle") for info in infos)
    assert any("text" in info and not info["hit_length_cap"] for info in infos)
    assert all(dones.all() == dones.any() for _, _, dones, _ in seen)  # aligned rounds


@pytest.mark.parametrize("reward_mode", ["terminal", "dense"])
def test_independent_envs_step_like_the_per_env_loop(tiny_lm_dir, word_dataset, reward_mode):
    kwargs = env_kwargs(tiny_lm_dir, word_dataset, reward_mode=reward_mode)
    dummy = make_vec_env(TextGenEnv, n_envs=3, seed=5, env_kwargs=kwargs)
    vec = make_text_gen_vec_env(TextGenEnv, n_envs=3, seed=5, env_kwargs=kwargs)
    assert_same_reset(vec, dummy)
    seen = run_both(vec, dummy, steps=20)
    assert any(dones.any() and not dones.all() for _, _, dones, _ in seen)
    infos = [info for _, _, _, step in seen for info in step]
    parts = [set(info["reward_components"]) for info in infos if "reward_components" in info]
    assert parts and all(p == {"cat_parts", "cats", "words"} for p in parts)
    assert not any(info.get("idle") for info in infos)


def test_one_reward_call_per_step_for_every_ended_row(tiny_lm_dir, word_dataset):
    vec = make_text_gen_vec_env(
        TextGenEnv, 3, seed=0, env_kwargs=env_kwargs(tiny_lm_dir, word_dataset)
    )
    vec.reset()
    reward = vec.reward_fn
    _, rewards, dones, infos = vec.step(np.array([EOS, 5, EOS]))
    assert reward.batch_sizes == [2] and list(dones) == [True, False, True]
    assert rewards.dtype == np.float32 and rewards[1] == 0
    assert infos[0]["text"] == "" and infos[0]["reward_components"]["words"] == 1.0
    assert infos[0]["episode"]["l"] == 1 and infos[1] == {"TimeLimit.truncated": False}


def test_same_seed_same_trajectory(tiny_lm_dir, word_dataset):
    kwargs = env_kwargs(tiny_lm_dir, word_dataset)
    one, two, other = (
        make_group_text_gen_vec_env(TextGenEnv, 4, 2, seed=seed, env_kwargs=kwargs)
        for seed in (1, 1, 2)
    )
    assert_same_reset(one, two)
    other.reset()
    assert other.reset_infos != one.reset_infos  # another seed, other examples
    run_both(one, two, steps=9)


@pytest.mark.parametrize("grouped", [True, False], ids=["groups", "independent"])
def test_seed_and_options_then_reset_as_dummy_vec_env(tiny_lm_dir, word_dataset, grouped):
    kwargs = env_kwargs(tiny_lm_dir, word_dataset)
    if grouped:
        dummy = make_group_vec_env(TextGenEnv, 4, 2, seed=1, env_kwargs=kwargs)
        vec = make_group_text_gen_vec_env(TextGenEnv, 4, 2, seed=1, env_kwargs=kwargs)
    else:
        dummy = make_vec_env(TextGenEnv, 4, seed=1, env_kwargs=kwargs)
        vec = make_text_gen_vec_env(TextGenEnv, 4, seed=1, env_kwargs=kwargs)
    assert_same_reset(vec, dummy)
    run_both(vec, dummy, steps=6)
    assert vec.seed(7) == dummy.seed(7) == [7, 8, 9, 10]
    assert_same_reset(vec, dummy)
    run_both(vec, dummy, steps=4, seed=1)
    dummy.set_options({"index": 5})
    vec.set_options({"index": 5})
    assert_same_reset(vec, dummy)
    assert [info["index"] for info in vec.reset_infos] == [5] * 4
    run_both(vec, dummy, steps=4, seed=2)


def test_get_state_set_state_resumes_exactly(tiny_lm_dir, word_dataset):
    kwargs = env_kwargs(tiny_lm_dir, word_dataset)
    vec = make_text_gen_vec_env(TextGenEnv, 3, seed=4, env_kwargs=kwargs)
    vec.reset()
    rng = np.random.default_rng(1)
    for _ in range(6):  # mid-episode, rows at different points
        vec.step(random_actions(rng, 3))
    vec.seed(11)  # stored seeds are part of the state too
    state = vec.get_state()
    copy = make_text_gen_vec_env(TextGenEnv, 3, seed=99, env_kwargs=kwargs)
    copy.set_state(state)
    run_both(copy, vec, steps=15, seed=2)
    assert_same_reset(copy, vec)  # the seeds of seed(11) were used by neither yet
    with pytest.raises(ConfigError, match="has 3 envs, this TextGenVecEnv has 2"):
        make_text_gen_vec_env(TextGenEnv, 2, env_kwargs=kwargs).set_state(state)


def ppo(env, tiny_lm_dir, advantage, group_size):
    return PPO(
        LMPolicy,
        env,
        n_steps=8,
        batch_size=16,
        n_epochs=1,
        seed=0,
        device="cpu",
        policy_kwargs={"model": tiny_lm_dir, "value_head": advantage == "gae"},
        rollout_buffer_class=EpisodeRolloutBuffer,
        rollout_buffer_kwargs={"advantage": advantage, "group_size": group_size},
        normalize_advantage=advantage == "gae",
    )


def test_stock_ppo_with_groups_collects_as_dummy_vec_env_and_learns(tiny_lm_dir, word_dataset):
    kwargs = env_kwargs(tiny_lm_dir, word_dataset)
    dummy = ppo(make_group_vec_env(TextGenEnv, 4, 2, env_kwargs=kwargs), tiny_lm_dir, "rloo", 2)
    want = collect_rollout(dummy)  # PPO seeds torch when built: build, then collect
    venv = make_group_text_gen_vec_env(TextGenEnv, 4, 2, env_kwargs=kwargs)
    vec = ppo(venv, tiny_lm_dir, "rloo", 2)
    got = collect_rollout(vec)
    for name in ("actions", "rewards", "episode_starts", "advantages", "returns", "idle"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    for name in want.observations:
        np.testing.assert_array_equal(got.observations[name], want.observations[name])
    before = [p.detach().clone() for p in vec.policy.parameters() if p.requires_grad]
    vec.learn(2 * 8 * 4)
    after = [p for p in vec.policy.parameters() if p.requires_grad]
    assert any(not th.equal(a, b) for a, b in zip(before, after, strict=True))
    assert len(vec.ep_info_buffer) > 0


def test_vec_reward_wrapper_on_top(tiny_lm_dir, word_dataset):
    kwargs = env_kwargs(tiny_lm_dir, word_dataset, reward="none")
    dummy = VecRewardWrapper(make_vec_env(TextGenEnv, 2, seed=0, env_kwargs=kwargs), CatParts())
    vec = VecRewardWrapper(
        make_text_gen_vec_env(TextGenEnv, 2, seed=0, env_kwargs=kwargs), CatParts()
    )
    assert_same_reset(vec, dummy)
    seen = run_both(vec, dummy, steps=12)
    assert any(step[1].any() for step in seen)  # the wrapper's reward was paid
    assert vec.reward.batch_sizes == dummy.reward.batch_sizes
    model = ppo(vec, tiny_lm_dir, "gae", 1)
    model.learn(2 * 8 * 2)
    assert len(model.ep_info_buffer) > 0


def test_attributes_and_methods_reach_the_envs(tiny_lm_dir, word_dataset):
    vec = make_text_gen_vec_env(
        TextGenEnv, 2, seed=0, env_kwargs=env_kwargs(tiny_lm_dir, word_dataset)
    )
    assert vec.get_attr("max_new_tokens") == [4, 4]
    assert vec.env_method("generated_text", indices=[1]) == [""]
    assert vec.env_is_wrapped(TextGenEnv) == [False, False]
    vec.set_attr("spare", 3, indices=0)
    assert vec.get_attr("spare", 0) == [3]
    new = CatParts()
    vec.set_attr("reward_fn", new)
    vec.reset()
    vec.step(np.array([EOS, EOS]))
    assert new.batch_sizes == [2]
    with pytest.raises(ConfigError, match="every env at once"):
        vec.set_attr("reward_fn", CatParts(), indices=[0])
    with pytest.raises(ConfigError, match="after construction"):
        vec.set_attr("max_new_tokens", 8)
    with pytest.raises(ConfigError, match="does not render"):
        vec.get_images()
    vec.close()


def test_clear_errors(tiny_lm_dir, word_dataset):
    kwargs = env_kwargs(tiny_lm_dir, word_dataset)
    env = TextGenEnv(**kwargs)
    with pytest.raises(ConfigError, match="max_new_tokens"):
        TextGenVecEnv([env, TextGenEnv(**{**kwargs, "max_new_tokens": 5})])
    with pytest.raises(ConfigError, match="reward"):
        TextGenVecEnv([env, TextGenEnv(**{**kwargs, "reward": "length"})])
    with pytest.raises(ConfigError, match="more than once"):
        TextGenVecEnv([env, env])
    with pytest.raises(ConfigError, match="env.unwrapped"):
        TextGenVecEnv([make_vec_env(TextGenEnv, 1, env_kwargs=kwargs).envs[0]])
    with pytest.raises(ConfigError, match="at least one"):
        TextGenVecEnv([])
    vec = TextGenVecEnv([env, TextGenEnv(**kwargs)])
    with pytest.raises(EnvStateError, match="reset"):
        vec.step(np.array([5, 5]))
    vec.reset()
    with pytest.raises(ConfigError, match="outside the vocabulary"):
        vec.step(np.array([5, 10_000]))
    with pytest.raises(ConfigError, match="integer token ids"):
        vec.step(np.array([5.0, 1.0]))
    with pytest.raises(ConfigError, match="multiple of 3|does not divide"):
        make_group_text_gen_vec_env(TextGenEnv, 4, 3, env_kwargs=kwargs)


def test_factories_take_registered_ids_and_refuse_changing_wrappers(tiny_lm_dir, word_dataset):
    import gymnasium as gym

    kwargs = env_kwargs(tiny_lm_dir, word_dataset)
    gym.register("TextGenVecTest-v0", entry_point=TextGenEnv)
    gym.register("TextGenVecTimed-v0", entry_point=TextGenEnv, max_episode_steps=2)
    try:
        vec = make_text_gen_vec_env("TextGenVecTest-v0", 2, seed=0, env_kwargs=kwargs)
        assert all(type(env) is TextGenEnv for env in vec.envs)
        dummy = make_vec_env(partial(gym.make, "TextGenVecTest-v0"), 2, 0, env_kwargs=kwargs)
        assert_same_reset(vec, dummy)
        run_both(vec, dummy, steps=6)
        with pytest.raises(ConfigError, match="TimeLimit"):
            make_group_text_gen_vec_env("TextGenVecTimed-v0", 2, 2, env_kwargs=kwargs)
    finally:
        gym.registry.pop("TextGenVecTest-v0")
        gym.registry.pop("TextGenVecTimed-v0")


def test_a_subclass_that_changes_the_step_is_refused(tiny_lm_dir, word_dataset):
    class Shouty(TextGenEnv):
        def step(self, action):
            return super().step(action)

    kwargs = {"dataset": word_dataset, "tokenizer": tiny_lm_dir}
    with pytest.raises(ConfigError, match=r"overrides \['step'\].*DummyVecEnv"):
        TextGenVecEnv([Shouty(**kwargs), Shouty(**kwargs)])


def test_train_steps_single_turn_envs_on_arrays_and_games_in_a_dummy_vec_env(tiny_lm_dir):
    from stable_baselines3.common.vec_env import DummyVecEnv

    from textgym.training import TrainConfig
    from textgym.training.trainer import build_env

    text = TrainConfig(model=tiny_lm_dir, n_envs=4, n_steps=48, group_size=2, advantage="rloo")
    assert isinstance(build_env(text), TextGenVecEnv)
    game = TrainConfig(env_id="TextGuessNumber-v0", model=tiny_lm_dir, n_envs=2, n_steps=64)
    assert isinstance(build_env(game), DummyVecEnv)


def test_envs_with_the_same_data_share_one_prompt_cache(tiny_lm_dir, word_dataset):
    venv = make_group_text_gen_vec_env(
        TextGenEnv, 4, 2, env_kwargs={"dataset": word_dataset, "tokenizer": tiny_lm_dir}
    )
    assert len({id(env._prompt_cache) for env in venv.envs}) == 1
    venv.reset()
    built = {i for env in venv.envs for i in env._prompt_cache}
    assert built == set(venv._index.tolist())  # each example's prompt built once, for all
    other = TextGenEnv(dataset=word_dataset[:6], tokenizer=tiny_lm_dir)
    mixed = TextGenVecEnv([TextGenEnv(dataset=word_dataset, tokenizer=tiny_lm_dir), other])
    assert mixed.envs[0]._prompt_cache is not mixed.envs[1]._prompt_cache  # other data
