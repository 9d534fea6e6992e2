"""envs_registry.yaml: validated, and equal to what Gymnasium has registered."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import pytest

import textgym
from textgym import ConfigError
from textgym.env.registration import read_registry

ROOT = Path(__file__).resolve().parents[1]


def test_yaml_and_live_registry_agree():
    specs = read_registry()
    assert [s["id"] for s in specs] == list(textgym.ENV_IDS)
    for spec in specs:
        live = gym.spec(spec["id"])
        assert live.entry_point == spec["entry_point"] and live.kwargs == spec["kwargs"]
        assert live.max_episode_steps is None, "the length cap is the env's own: no TimeLimit"


def test_registered_kwargs_come_from_the_tasks():
    # The YAML names only the task; its reward and token limits come from textgym/tasks.py.
    assert {env_id: gym.spec(env_id).kwargs for env_id in textgym.ENV_IDS} == {
        "TextSummarize-v0": {
            "task": "summarize",
            "reward": "rougeL",
            "max_prompt_tokens": 256,
            "max_new_tokens": 48,
        },
        "TextDialogue-v0": {
            "task": "dialogue",
            "reward": "chrf",
            "max_prompt_tokens": 192,
            "max_new_tokens": 32,
        },
        "TextTranslate-v0": {
            "task": "translate",
            "reward": "chrf",
            "max_prompt_tokens": 128,
            "max_new_tokens": 48,
        },
        "TextGuessNumber-v0": {"game": "guess_number"},  # a game: its limits are its own
        "TextWordGuess-v0": {"game": "word_guess"},
        "TextSimulatedUser-v0": {"game": "simulated_user"},
    }
    (spec,) = read_registry("envs:\n" + entry(", kwargs: {task: dialogue, max_new_tokens: 9}"))
    assert spec["kwargs"] == {
        "task": "dialogue",
        "reward": "chrf",
        "max_prompt_tokens": 192,
        "max_new_tokens": 9,
    }


def test_packaged_yaml_is_the_top_level_file():
    packaged = (ROOT / "textgym" / "envs_registry.yaml").read_text()
    assert packaged == (ROOT / "envs_registry.yaml").read_text()


def entry(extra: str = "", env_id: str = "A-v0") -> str:
    return f"  - {{id: {env_id}, entry_point: 'textgym.env:TextGenEnv'{extra}}}\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("envs:\n" + entry(", colour: red"), "allowed"),
        ("envs:\n" + entry(env_id="bad id"), "Name-v0"),
        ("envs:\n  - {id: A-v0, entry_point: 'textgym.env:Nope'}", "cannot be imported"),
        ("envs:\n" + entry(", kwargs: {tsk: x}"), "tsk"),
        ("envs:\n" + entry(", kwargs: {max_new_tokens: 0}"), "positive"),
        ("envs:\n" + entry(", kwargs: {task: sumarize}"), "Unknown task 'sumarize'"),
        ("envs:\n" + entry() + entry(), "more than once"),
        ("things: []", "single key 'envs'"),
    ],
)
def test_bad_registry_entries_are_errors(text, message):
    with pytest.raises(ConfigError, match=message):
        read_registry(text)


def test_unknown_env_id_suggests_the_right_one():
    with pytest.raises(gym.error.Error, match="TextSummarize"):
        gym.make("TextSumarize-v0")
