"""Multi-turn envs: the partner answers in the chat template, its tokens are never actions."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from conftest import make_tiny_lm
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

import textgym
from textgym import ConfigError, ConversationEnv, Game, register_game
from textgym.games import word_guess
from textgym.policies import EpisodeRolloutBuffer, LMPolicy, add_kl_penalty
from textgym.policies.rollout_cache import RolloutCache


def say(env: ConversationEnv, text: str) -> tuple[float, bool, dict]:
    """Play one policy turn: the tokens of ``text`` and EOS."""
    tokens = env.tokenizer(text, add_special_tokens=False)["input_ids"]
    for token in [*tokens, env.tokenizer.eos_token_id]:
        _, reward, done, truncated, info = env.step(token)
        assert not truncated
        if "turn_text" in info or done:
            return reward, done, info
    raise AssertionError("the turn did not end at EOS")


def binary_search(env: ConversationEnv) -> tuple[float, dict]:
    low, high, total, done = 1, 100, 0.0, False
    while not done:
        guess = (low + high) // 2
        reward, done, info = say(env, str(guess))
        total += reward
        answer = env.history[-1]["content"]
        low, high = (guess + 1, high) if answer == "Higher." else (low, guess - 1)
    return total, info


def test_binary_search_wins_every_held_out_game(smol_tokenizer):
    env = gym.make("TextGuessNumber-v0", split="test", tokenizer=smol_tokenizer).unwrapped
    assert len(env.examples) == 20
    for index in range(len(env.examples)):
        env.reset(options={"index": index})
        total, info = binary_search(env)
        assert info["solved"] and total == 1.0 and info["turns"] <= 7
        assert info["transcript"][-1]["content"] == str(env.examples[index]["secret"])


def test_the_observation_is_the_chat_template_of_the_conversation(smol_tokenizer):
    env = ConversationEnv("guess_number", tokenizer=smol_tokenizer)
    obs, _ = env.reset(options={"index": 0})
    say(env, "50")
    say(env, "oops")  # not a number: the partner asks again
    obs = env._obs()
    text = smol_tokenizer.decode(obs["input_ids"][obs["attention_mask"] == 1])
    rendered = smol_tokenizer.apply_chat_template(
        env.history, tokenize=False, add_generation_prompt=True
    )
    assert text == rendered
    assert env.history[-1] == {
        "role": "user",
        "content": "Please answer with one whole number from 1 to 100.",
    }


def test_turn_rewards_info_and_the_turn_cap(smol_tokenizer):
    env = ConversationEnv("guess_number", tokenizer=smol_tokenizer, max_turns=3)
    env.reset(options={"index": 0})  # the secret is 1
    rewards = []
    for turn in range(3):
        reward, done, info = say(env, "99")
        rewards.append(reward)
        assert info["turn"] == turn and info["turn_text"] == "99"
    assert done and rewards == [0.0, 0.0, 0.0] and not info["solved"] and info["turns"] == 3
    with pytest.raises(textgym.EnvStateError):
        env.step(0)


def test_a_turn_ends_at_its_token_cap_without_eos(smol_tokenizer):
    env = ConversationEnv("guess_number", tokenizer=smol_tokenizer, max_turn_tokens=2)
    env.reset(options={"index": 5})
    seven = smol_tokenizer("7", add_special_tokens=False)["input_ids"][0]
    _, _, _, _, info = env.step(seven)
    assert "turn_text" not in info
    _, _, _, _, info = env.step(seven)
    assert info["turn_text"] == "77" and env.history[-1]["role"] == "user"
    obs = env._obs()
    text = smol_tokenizer.decode(obs["input_ids"][obs["attention_mask"] == 1])
    assert text.endswith(
        "77<|im_end|>\n<|im_start|>user\nLower.<|im_end|>\n<|im_start|>assistant\n"
    )


def test_the_conversation_cap_terminates(smol_tokenizer):
    env = ConversationEnv("guess_number", tokenizer=smol_tokenizer, max_conversation_tokens=14)
    env.reset(options={"index": 0})
    _, done, info = say(env, "50")
    assert done and not info["solved"]  # no room for the partner's reply and another turn


def test_word_game_marks_letters_as_wordle_does():
    assert word_guess.pattern("crane", "crane") == "GGGGG"
    assert word_guess.pattern("speed", "abide") == "--Y-Y"  # one e of two is in the word
    assert word_guess.pattern("eerie", "there") == "Y-Y-G"  # the green e is counted first
    assert word_guess.guess("I think it is Crane.") == "crane"  # the last five-letter word


def test_word_game_rewards_fewer_turns(smol_tokenizer):
    env = gym.make("TextWordGuess-v0", tokenizer=smol_tokenizer).unwrapped
    env.reset(options={"index": 0})
    secret = env.examples[0]["secret"]
    reward, done, info = say(env, "zzzzz" if secret != "zzzzz" else "yyyyy")
    assert not done and reward == 0.0
    assert env.history[-1]["content"].startswith("zzzzz: ")
    reward, done, info = say(env, secret)
    assert done and info["solved"] and reward == pytest.approx(0.9)
    train = {e["secret"] for e in word_guess.examples("train")}
    assert not train & {e["secret"] for e in word_guess.examples("test")}


def test_register_game_adds_an_env_id():
    game = Game(
        "echo_yes",
        lambda split: [{"id": "a"}],
        lambda example: "Say yes.",
        lambda history, example, rng: "Again.",
        lambda history, example: float("yes" in history[-1]["content"]),
        lambda history, example: "yes" in history[-1]["content"],
        max_turns=2,
        max_turn_tokens=3,
    )
    register_game(game, "EchoYes-v0")
    register_game(game, "EchoYes-v0")  # the same again changes nothing
    with pytest.raises(ConfigError, match="already registered"):
        register_game(game, "TextGuessNumber-v0")
    env = gym.make("EchoYes-v0").unwrapped
    assert env.game is game and env.max_turns == 2
    del gym.registry["EchoYes-v0"]


# --- the policy: cached rollouts, log-probs, KL ----------------------------------------------


def test_the_rollout_cache_prefills_only_a_partner_reply(word_tokenizer):
    lm = make_tiny_lm(len(word_tokenizer)).eval()
    g = th.Generator().manual_seed(0)
    seqs = th.randint(3, len(word_tokenizer), (2, 14), generator=g)
    cache = RolloutCache(lm)
    cache.step(seqs[:, :6], th.tensor([6, 6]))
    prefilled = cache.prefill_rows
    lengths = th.tensor([11, 7])  # a 5-token reply on row 0, a decode step on row 1
    out = cache.step(seqs[:, :11], lengths)
    assert cache.prefill_rows == prefilled and cache.extended_tokens == 6
    fresh = RolloutCache(lm).step(seqs[:, :11], lengths)
    th.testing.assert_close(out.logits, fresh.logits, atol=1e-5, rtol=1e-4)
    out = cache.step(seqs[:, :12], th.tensor([12, 8]))  # and decoding goes on from there
    fresh = RolloutCache(lm).step(seqs[:, :12], th.tensor([12, 8]))
    th.testing.assert_close(out.logits, fresh.logits, atol=1e-5, rtol=1e-4)


def conversation_ppo(tiny_lm_dir, n_envs=2):
    env_kwargs = {"tokenizer": tiny_lm_dir, "max_prompt_tokens": 48, "max_turns": 3}
    env = make_vec_env("TextGuessNumber-v0", n_envs=n_envs, seed=0, env_kwargs=env_kwargs)
    return PPO(
        LMPolicy,
        env,
        n_steps=24,
        batch_size=24 * n_envs,
        n_epochs=1,
        policy_kwargs={"model": tiny_lm_dir},
        rollout_buffer_class=EpisodeRolloutBuffer,
        seed=0,
    )


def test_stored_log_probs_are_those_recomputed_over_the_conversation(tiny_lm_dir):
    # Rollouts decode with the KV cache across partner replies; the update teacher-forces
    # whole conversations. Both must give every policy token the same log-prob.
    model = conversation_ppo(tiny_lm_dir)
    model.learn(48)
    buffer = model.rollout_buffer
    lengths = buffer.observations["attention_mask"].sum(-1).reshape(-1)
    assert np.diff(np.sort(np.unique(lengths))).max() > 1  # partner replies were appended
    model.policy.set_training_mode(False)
    for batch in buffer.get(48):
        with th.no_grad():
            _, log_prob, _ = model.policy.evaluate_actions(
                batch.observations, batch.actions.long().flatten()
            )
        th.testing.assert_close(log_prob, batch.old_log_prob, atol=1e-4, rtol=1e-4)


def test_kl_is_zero_on_every_policy_token_before_training(tiny_lm_dir):
    from test_kl import collect

    model = conversation_ppo(tiny_lm_dir)
    penalty = add_kl_penalty(model, kl_coef=0.1)
    collect(model)
    # one KL term per policy token (the buffer's steps), zero while policy = reference
    assert penalty.last.kl.shape == (24, 2) and np.abs(penalty.last.kl).max() < 1e-5


def test_an_encoder_decoder_policy_refuses_a_conversation(tmp_path, word_tokenizer):
    from test_seq2seq_policy import tiny_t5

    path = tmp_path / "t5"
    tiny_t5(len(word_tokenizer)).save_pretrained(path)
    word_tokenizer.save_pretrained(path)
    env = make_vec_env("TextGuessNumber-v0", n_envs=1, env_kwargs={"tokenizer": str(path)})
    with pytest.raises(ConfigError, match="cannot play a multi-turn env"):
        PPO(LMPolicy, env, policy_kwargs={"model": str(path)})


def test_groups_play_the_same_game_for_a_fixed_number_of_steps(tiny_lm_dir):
    from textgym.env.groups import make_group_vec_env

    kwargs = {
        "tokenizer": tiny_lm_dir,
        "max_prompt_tokens": 48,
        "max_turns": 2,
        "max_turn_tokens": 4,
    }
    venv = make_group_vec_env("TextGuessNumber-v0", 4, 2, seed=0, env_kwargs=kwargs)
    venv.reset()
    ids = [e.unwrapped._example["id"] for e in venv.envs]
    assert ids[0] == ids[1] and ids[2] == ids[3]
    dones = [venv.step(np.full(4, 3))[2] for _ in range(8)]
    assert not any(d.any() for d in dones[:-1]) and dones[-1].all()  # 2 turns x 4 tokens


def test_baseline_strategies_and_the_example_script(tiny_default_model, tmp_path, monkeypatch):
    import json
    import subprocess
    import sys
    from pathlib import Path

    from textgym.evaluation.games import play_games
    from textgym.games import guess_number

    monkeypatch.setenv("TEXTGYM_CACHE", str(tiny_default_model))
    env = gym.make("TextGuessNumber-v0", split="test").unwrapped
    assert play_games(env, guess_number.binary_search).success_rate == 1.0
    assert play_games(env, guess_number.random_strategy).success_rate < 0.5
    script = Path(__file__).resolve().parents[1] / "examples" / "game_baselines.py"
    out = tmp_path / "baselines.json"
    command = [sys.executable, str(script), "--model-games", "1", "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    games = json.loads(out.read_text())["games"]
    number = games["TextGuessNumber-v0"]["players"]
    assert number["binary_search"]["success_rate"] == 1.0 and number["binary_search"]["games"] == 20
    assert number["initial LM, greedy"]["games"] == 1
    assert games["TextWordGuess-v0"]["players"]["consistent"]["success_rate"] > 0.9


@pytest.mark.parametrize(
    "env_id", ["TextGuessNumber-v0", "TextWordGuess-v0", "TextSimulatedUser-v0"]
)
def test_built_in_games_pass_the_gymnasium_and_sb3_checkers(
    env_id, smol_tokenizer, tiny_default_model, monkeypatch
):
    import warnings

    monkeypatch.setenv("TEXTGYM_CACHE", str(tiny_default_model))  # the simulated user: tiny LM
    from gymnasium.utils.env_checker import check_env as gym_check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = gym.make(env_id, tokenizer=smol_tokenizer).unwrapped
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check_env(env, skip_render_check=True)
        sb3_check_env(env)


def broken_game(**parts):
    base = dict(
        examples=lambda split: [{"id": "x"}],
        opening=lambda example: "Say something.",
        partner=lambda history, example, rng: "Go on.",
        reward=lambda history, example: 0.0,
        solved=lambda history, example: False,
    )
    return Game("broken", **{**base, **parts}, max_turns=3, max_turn_tokens=2)


@pytest.mark.parametrize(
    "parts, message",
    [
        ({"partner": lambda h, e, r: 1 / 0}, "its partner raised ZeroDivisionError"),
        ({"partner": lambda h, e, r: 42}, "its partner returned a int, not a string"),
        ({"partner": lambda h, e, r: "word " * 400}, "its partner replied with"),
        ({"reward": lambda h, e: "good"}, "its reward returned 'good', not a number"),
        ({"reward": lambda h, e: float("nan")}, "its reward returned nan; a reward must be finite"),
    ],
)
def test_a_broken_game_is_named_with_its_turn(parts, message, smol_tokenizer):
    env = ConversationEnv(broken_game(**parts), tokenizer=smol_tokenizer)
    env.reset()
    with pytest.raises(ConfigError, match=f"Game 'broken', example 'x', turn 0: {message}"):
        say(env, "hi")


def test_a_game_needs_functions_and_positive_limits():
    with pytest.raises(ConfigError, match="reward must be a function"):
        broken_game(reward=None)
    with pytest.raises(ConfigError, match="max_turns=0"):
        Game("g", *(lambda *a: None,) * 5, max_turns=0)


def test_partner_tokens_are_never_actions(tiny_lm_dir):
    # Every transition is one policy token; the partner's replies only appear in observations.
    model = conversation_ppo(tiny_lm_dir, n_envs=1)
    model.learn(24)
    buffer = model.rollout_buffer
    lengths = buffer.observations["attention_mask"].sum(-1).reshape(-1)
    actions = buffer.actions.reshape(-1).astype(int)
    ids = buffer.observations["input_ids"].reshape(len(lengths), -1)
    masks = buffer.observations["attention_mask"].reshape(len(lengths), -1)
    grew = 0
    for t in range(len(lengths) - 1):
        if lengths[t + 1] > lengths[t]:  # same episode: the next state holds this action
            row = ids[t + 1][masks[t + 1] == 1]
            assert row[lengths[t]] == actions[t]  # right after the old state: the action
            grew += lengths[t + 1] - lengths[t] - 1  # anything more is the partner's
    assert grew > 0


def test_a_rollout_never_prefills_the_conversation_again(tiny_lm_dir):
    # Only episode starts are prefilled; every later token, replies included, runs on the cache.
    from test_kl import collect

    model = conversation_ppo(tiny_lm_dir, n_envs=2)
    collect(model)
    cache = model.policy.rollout_cache
    episodes = 2 + int(model.rollout_buffer.episode_starts[1:].sum())
    assert 0 < cache.prefill_rows <= episodes
    assert cache.extended_tokens > model.n_steps * model.n_envs  # policy tokens and replies


# --- textgym train on a game ---------------------------------------------------------------


def game_train_args(tiny_lm_dir, out, *extra):
    args = ["train", "--env", "TextGuessNumber-v0", "--model", tiny_lm_dir, "--timesteps", "64"]
    args += ["--n-envs", "2", "--n-steps", "32", "--batch-size", "64", "--n-epochs", "1"]
    return [*args, "--eval-examples", "2", "--no-progress", "--out", str(out), *extra]


def test_train_plays_a_game_before_and_after_with_checkpoints_and_groups(
    tiny_lm_dir, tmp_path, capsys
):
    import json

    from textgym.cli import main

    args = game_train_args(tiny_lm_dir, tmp_path / "run", "--checkpoint-every", "64")
    assert main(args) == 0
    report = capsys.readouterr().out
    assert "success_rate" in report and "turns" in report
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(metrics["after"]["metrics"]) == {"success_rate", "turns", "own_reward"}
    grouped = ["--group-size", "2", "--advantage", "rloo", "--n-steps", "64", "--timesteps", "128"]
    assert main(game_train_args(tiny_lm_dir, tmp_path / "groups", *grouped)) == 0


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--reward", "rougeL"], "a multi-turn game takes no --reward"),
        (["--dataset", "d.jsonl"], "a multi-turn game takes no --dataset"),
        (["--group-size", "2", "--advantage", "rloo"], "must be a multiple of the episode's 64"),
    ],
)
def test_train_refuses_what_a_game_does_not_take(tiny_lm_dir, tmp_path, extra, message, capsys):
    from textgym.cli import main

    assert main(game_train_args(tiny_lm_dir, tmp_path / "run", *extra)) == 2
    assert message in capsys.readouterr().err


def test_compare_refuses_a_game_for_now(tmp_path, capsys):
    from textgym.cli import main

    assert main(["compare", "--env", "TextGuessNumber-v0", "--out", str(tmp_path / "c")]) == 2
    assert "is a multi-turn game: textgym compare compares" in capsys.readouterr().err


@pytest.mark.parametrize("env_class", [ConversationEnv, textgym.TextGenEnv])
def test_both_envs_check_their_eos_ids(env_class, smol_tokenizer):
    with pytest.raises(ConfigError, match=r"eos_token_ids \[1000000\] are outside the vocabulary"):
        env_class(tokenizer=smol_tokenizer, eos_token_ids=[10**6])


def test_stored_log_probs_hold_in_float64_over_partner_replies(tiny_lm_dir):
    # With the LM in float64 the cached rollout and the teacher-forced update differ only in
    # rounding far below float32's; the policy's float32 log-softmax then agrees to 2 ulps.
    model = conversation_ppo(tiny_lm_dir)
    model.policy.lm.double()  # the LM; the value head reads float32 hidden states
    model.learn(48)
    model.policy.set_training_mode(False)
    for batch in model.rollout_buffer.get(48):
        with th.no_grad():
            _, log_prob, _ = model.policy.evaluate_actions(
                batch.observations, batch.actions.long().flatten()
            )
        ulp = th.finfo(th.float32).eps * batch.old_log_prob.abs().max()
        th.testing.assert_close(log_prob, batch.old_log_prob, atol=float(2 * ulp), rtol=0)


def test_a_simulated_user_answers_each_turn_and_every_turn_is_scored(tiny_lm_dir):
    from textgym.games import LMUser, simulated_user_game
    from textgym.rewards import LengthPenalty

    game = simulated_user_game("tiny_user", partner=LMUser(tiny_lm_dir, max_new_tokens=4))
    turns = []
    for _ in range(2):  # the same seed replays the same conversation
        env = ConversationEnv(game, tokenizer=tiny_lm_dir, max_turns=2, max_turn_tokens=4)
        env.reset(seed=3)
        rewards = [say(env, text)[0] for text in ("the cat sat", "the cat sat on the cat")]
        turns.append([m["content"] for m in env.history])
        assert env.history[0]["role"] == "user" and env.history[1]["role"] == "assistant"
        assert len(env.history) == 4 and env.history[2]["role"] == "user"  # one user reply
        said = [m["content"] for m in env.history if m["role"] == "assistant"]
        assert rewards == pytest.approx(
            list(LengthPenalty(target_words=15)(said, [[""]] * 2, said))
        )
    assert turns[0] == turns[1] and turns[0][2].strip()


def test_the_simulated_user_scores_turns_with_any_reward(tiny_lm_dir):
    from textgym.games import LMUser, simulated_user_game

    game = simulated_user_game(
        "tiny_user_words", reward="word_count", partner=LMUser(tiny_lm_dir, max_new_tokens=3)
    )
    env = ConversationEnv(game, tokenizer=tiny_lm_dir, max_turns=1, max_turn_tokens=8)
    env.reset(seed=0)
    reward, done, _ = say(env, "the cat sat")
    assert reward == 3.0 and done


def test_train_on_the_simulated_user(tiny_lm_dir, tiny_default_model, tmp_path, monkeypatch):
    import json

    from textgym.cli import main

    monkeypatch.setenv("TEXTGYM_CACHE", str(tiny_default_model))  # the partner: a tiny LM
    short = '{"max_turns": 2, "max_turn_tokens": 6}'
    args = game_train_args(tiny_lm_dir, tmp_path / "run", "--env-kwargs", short)
    args[args.index("TextGuessNumber-v0")] = "TextSimulatedUser-v0"
    assert main(args) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["after"]["metrics"]["turns"] > 0 and metrics["episode_rewards"]


def test_the_shaped_guess_number_reward_pays_well_formed_and_consistent_guesses():
    from textgym.games import get_game
    from textgym.games.guess_number import SHAPING

    game, example = get_game("guess_number_shaped"), {"id": "n", "secret": 30}
    opening = {"role": "user", "content": game.opening(example)}

    def turn(history, text):
        history = [*history, {"role": "assistant", "content": text}]
        return history, game.reward(history, example)

    history, reward = turn([opening], "I'm ready to help.")
    assert reward == 0.0  # no number
    history, reward = turn([opening], "150")
    assert reward == 0.0  # out of range
    history, reward = turn([opening], "50")
    assert reward == pytest.approx(2 * SHAPING)  # in range, allowed by (no) answers
    history = [*history, {"role": "user", "content": game.partner(history, example, None)}]
    assert history[-1]["content"] == "Lower."
    assert turn(history, "60")[1] == pytest.approx(SHAPING)  # in range, but 30 < 50 was said
    assert turn(history, "20")[1] == pytest.approx(2 * SHAPING)
    assert turn(history, "30")[1] == 1.0
    assert game.max_turns * 2 * SHAPING < 1.0  # shaping never outpays finding the number


def test_the_game_experiment_script_pairs_seeds_and_examples(tiny_default_model, tmp_path):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "examples" / "game_experiment.py"
    summary = tmp_path / "summary.json"
    command = [sys.executable, str(script), "--game", "guess_number_shaped", "--seeds", "2"]
    command += ["--timesteps", "512", "--eval-examples", "2", "--out", str(tmp_path / "runs")]
    command += ["--summary", str(summary)]
    env = {**os.environ, "TEXTGYM_CACHE": str(tiny_default_model)}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(summary.read_text())
    assert [r["seed"] for r in result["runs"]] == [0, 1]
    assert result["runs"][0]["config"]["env_kwargs"] == {"game": "guess_number_shaped"}
    for metric in ("success_rate", "turns", "own_reward"):
        entry = result["summary"][metric]
        assert entry["seeds"]["n"] == 2 and isinstance(entry["significant"], bool)
        gains = [
            sum(r["per_example"]["trained"][metric]) / 2
            - sum(r["per_example"]["initial"][metric]) / 2
            for r in result["runs"]
        ]
        assert entry["gain"]["mean"] == pytest.approx(sum(gains) / 2)
    assert "zero_std_groups" in json.dumps(result["runs"][0]["signal_health"])
    finished = tmp_path / "runs" / "seed0" / "game_run.json"
    before = finished.stat().st_mtime_ns
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0 and finished.stat().st_mtime_ns == before  # read, not retrained
