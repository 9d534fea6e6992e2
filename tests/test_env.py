"""TextGenEnv: spaces, episode semantics, seeding, errors, env checkers and vector envs."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import SubprocVecEnv

import textgym
from textgym import ConfigError, DatasetError, EnvStateError, RewardError, TextGenEnv


def word_env(tiny_lm_dir, word_dataset, **kwargs):
    args = dict(
        dataset=word_dataset,
        tokenizer=tiny_lm_dir,
        max_prompt_tokens=16,
        max_new_tokens=5,
        prompt_template="{source}",
    )
    return TextGenEnv(**{**args, **kwargs})


def token(env, word):
    return env.tokenizer.convert_tokens_to_ids(word)


def test_spaces_follow_the_tokenizer(tiny_lm_dir, word_dataset, word_tokenizer):
    env = word_env(tiny_lm_dir, word_dataset)
    assert env.action_space == gym.spaces.Discrete(len(word_tokenizer))
    box = env.observation_space["input_ids"]
    assert (
        box.dtype == np.int64 and box.shape == (21,) and box.high.max() == len(word_tokenizer) - 1
    )


def test_observation_layout_and_step(tiny_lm_dir, word_dataset):
    env = word_env(tiny_lm_dir, word_dataset)
    obs, info = env.reset(seed=3)
    prompt = env.tokenizer(env.examples[info["index"]].source)["input_ids"]
    mask = obs["attention_mask"]
    assert mask[:16].sum() == len(prompt) and mask[16:].sum() == 0
    assert list(obs["input_ids"][16 - len(prompt) : 16]) == list(prompt)  # left-padded prompt
    obs2, reward, terminated, truncated, _ = env.step(token(env, "cat"))
    assert obs2["input_ids"][16] == token(env, "cat") and obs2["attention_mask"][16] == 1
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert obs["attention_mask"][16] == 0, "returned observations must not change afterwards"


def test_length_cap_terminates_and_pays_reward_once(tiny_lm_dir, word_dataset):
    env = word_env(tiny_lm_dir, word_dataset, reward="rouge1")
    _, info = env.reset(options={"index": 0})
    ref = env.examples[0].references[0].split()
    rewards, ends = [], []
    for word in (ref + ref)[:5]:
        _, r, terminated, truncated, last = env.step(token(env, word))
        rewards.append(r)
        ends.append((terminated, truncated))
    assert ends == [(False, False)] * 4 + [(True, False)]
    assert rewards[:4] == [0.0] * 4 and rewards[4] > 0
    assert last["text"] == " ".join((ref + ref)[:5])
    assert last["reward_components"]["rouge1"] == pytest.approx(rewards[4])
    assert last["example_id"] == env.examples[0].id and last["num_new_tokens"] == 5
    with pytest.raises(EnvStateError, match="reset"):
        env.step(0)


def test_eos_terminates(tiny_lm_dir, word_dataset):
    env = word_env(tiny_lm_dir, word_dataset)
    env.reset(seed=0)
    env.step(token(env, "cat"))
    *_, terminated, truncated, info = env.step(env.tokenizer.eos_token_id)
    assert terminated and not truncated and info["num_new_tokens"] == 2 and info["text"] == "cat"


def test_seeding_is_deterministic(tiny_lm_dir, word_dataset):
    a, b = word_env(tiny_lm_dir, word_dataset), word_env(tiny_lm_dir, word_dataset)
    ids_a = [a.reset(seed=7)[1]["index"]] + [a.reset()[1]["index"] for _ in range(5)]
    ids_b = [b.reset(seed=7)[1]["index"]] + [b.reset()[1]["index"] for _ in range(5)]
    assert ids_a == ids_b and len(set(ids_a)) > 1


def test_bad_actions_and_options(tiny_lm_dir, word_dataset):
    env = word_env(tiny_lm_dir, word_dataset)
    env.reset(seed=0)
    with pytest.raises(ConfigError, match="outside the vocabulary"):
        env.step(env.vocab_size)
    with pytest.raises(ConfigError, match="not a single integer"):
        env.step(1.5)
    with pytest.raises(ConfigError, match="index"):
        env.reset(options={"index": 999})
    with pytest.raises(ConfigError, match="max_new_tokens"):
        word_env(tiny_lm_dir, word_dataset, max_new_tokens=0)


def test_empty_dataset_and_bad_reward(tiny_lm_dir, word_dataset):
    with pytest.raises(DatasetError):
        word_env(tiny_lm_dir, [])
    with pytest.raises(KeyError, match="rougeL"):
        word_env(tiny_lm_dir, word_dataset, reward="rouge_l")


@pytest.mark.parametrize("lengths", [{"max_new_tokens": True}, {"max_prompt_tokens": True}])
def test_bool_lengths_are_not_taken_as_integers(tiny_lm_dir, word_dataset, lengths):
    (name,) = lengths
    with pytest.raises(ConfigError, match=f"{name}={lengths[name]} must be a positive integer"):
        word_env(tiny_lm_dir, word_dataset, **lengths)


class NaNReward:
    name = "nan"

    def __call__(self, generations, references, sources):
        return [float("nan")] * len(generations)


def test_nan_reward_is_a_clear_error(tiny_lm_dir, word_dataset):
    env = word_env(tiny_lm_dir, word_dataset, reward=NaNReward(), max_new_tokens=1)
    env.reset(seed=0)
    with pytest.raises(RewardError, match="finite"):
        env.step(3)


def test_prompt_truncation_keeps_instruction(smol_tokenizer):
    long = {"id": "x", "source": "word " * 400, "reference": "short"}
    env = TextGenEnv(
        dataset=[long], tokenizer=smol_tokenizer, max_prompt_tokens=64, max_new_tokens=4
    )
    with pytest.warns(UserWarning, match="lost"):
        obs, info = env.reset(seed=0)
    assert info["prompt_truncated_tokens"] > 300
    assert obs["attention_mask"][:64].sum() <= 64
    prompt = smol_tokenizer.decode(obs["input_ids"][:64][obs["attention_mask"][:64] == 1])
    assert "Summarize the following text" in prompt and prompt.rstrip().endswith("assistant")


def test_render_ansi(tiny_lm_dir, word_dataset):
    env = word_env(tiny_lm_dir, word_dataset, render_mode="ansi")
    env.reset(options={"index": 1})
    env.step(token(env, "dog"))
    text = env.render()
    assert env.examples[1].source in text and "dog" in text and "(1/5)" in text


def test_env_checkers_pass(tiny_lm_dir, word_dataset):
    env = word_env(tiny_lm_dir, word_dataset)
    gym_check_env(env, skip_render_check=True)
    sb3_check_env(word_env(tiny_lm_dir, word_dataset), warn=True)


@pytest.mark.parametrize("env_id", textgym.ENV_IDS)
def test_registered_ids_pass_checkers(env_id, tiny_lm_dir):
    env = gym.make(env_id, tokenizer=tiny_lm_dir)
    gym_check_env(env.unwrapped, skip_render_check=True)
    sb3_check_env(env, warn=True)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)


def test_vector_envs(tiny_lm_dir, word_dataset):
    vec = gym.make_vec("TextSummarize-v0", num_envs=2, tokenizer=tiny_lm_dir, dataset=word_dataset)
    obs, _ = vec.reset(seed=0)
    assert obs["input_ids"].shape == (2, 256 + 48)
    vec.step(np.array([3, 4]))
    kwargs = dict(
        dataset=word_dataset, tokenizer=tiny_lm_dir, max_prompt_tokens=16, max_new_tokens=3
    )
    sub = make_vec_env(TextGenEnv, n_envs=2, seed=0, env_kwargs=kwargs, vec_env_cls=SubprocVecEnv)
    try:
        sub.reset()
        for _ in range(3):
            *_, dones, infos = sub.step(np.array([3, 4]))
        assert dones.all() and all("text" in i for i in infos)
    finally:
        sub.close()


def test_env_pickles(tiny_lm_dir, word_dataset):
    env = word_env(tiny_lm_dir, word_dataset, reward={"rouge1": 0.5, "chrf": 0.5})
    clone = pickle.loads(pickle.dumps(env))
    a, _ = env.reset(seed=1)
    b, _ = clone.reset(seed=1)
    np.testing.assert_array_equal(a["input_ids"], b["input_ids"])


def test_sb3_make_vec_env_by_id_builds_each_env_once_without_a_warning(
    tiny_lm_dir, word_dataset, monkeypatch
):
    import warnings

    from textgym.env import text_gen_env

    built = []
    real = text_gen_env.load_tokenizer
    monkeypatch.setattr(text_gen_env, "load_tokenizer", lambda t: built.append(t) or real(t))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # gymnasium's render_mode warning would fail here
        venv = make_vec_env("TextSummarize-v0", n_envs=2, env_kwargs={"tokenizer": tiny_lm_dir})
    assert len(built) == 2  # SB3 asks for render_mode="rgb_array": no second build without it
    assert venv.reset()["input_ids"].shape == (2, 304)
    frame = venv.envs[0].render()
    assert frame.shape == (480, 640, 3) and frame.dtype == np.uint8 and frame.min() < frame.max()
    with pytest.raises(ConfigError, match="render_mode='human'"):
        word_env(tiny_lm_dir, word_dataset, render_mode="human")
    with pytest.raises(ConfigError, match="render_mode='human'"):
        word_env(tiny_lm_dir, word_dataset, render_mode="human")


def test_dense_rewards_are_score_differences_summing_to_the_final_score(tiny_lm_dir, word_dataset):
    dense = word_env(tiny_lm_dir, word_dataset, reward="rouge1", reward_mode="dense")
    terminal = word_env(tiny_lm_dir, word_dataset, reward="rouge1")
    words = ["cat", "the", "sat", "dog", "on"]
    rewards, final = [], None
    for env in (dense, terminal):
        env.reset(options={"index": 2})
        out = [env.step(token(env, w)) for w in words]
        rewards.append([o[1] for o in out])
        final = out[-1][4]["reward_components"]["rouge1"]
    rouge = dense.reward_fn
    refs = [dense.examples[2].references]
    prefix_scores = [rouge([" ".join(words[: t + 1])], refs, [""])[0] for t in range(5)]
    expected = np.diff([0.0, *prefix_scores])
    np.testing.assert_allclose(rewards[0], expected, atol=1e-12)
    assert sum(rewards[0]) == pytest.approx(sum(rewards[1])) == pytest.approx(final)
    assert any(r != 0 for r in rewards[0][:-1]) and rewards[1][:-1] == [0.0] * 4
    with pytest.raises(ConfigError, match="reward_mode"):
        word_env(tiny_lm_dir, word_dataset, reward_mode="sparse")
