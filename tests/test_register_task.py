"""Your own task: define a Task, register_task it with an env id, gym.make it, train on it."""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from pathlib import Path

import gymnasium as gym
import pytest
from conftest import tiny_train_config
from gymnasium.utils.env_checker import check_env

import textgym
from textgym import Task, get_task, register_task
from textgym.data import load_examples
from textgym.errors import ConfigError, DatasetError, UnknownNameError
from textgym.rewards import LengthPenalty
from textgym.tasks import known_tasks, remove_task

INSTRUCTION = "please read and see"  # words of the tiny tokenizer, so they survive decoding
QA = Task(
    "qa",
    INSTRUCTION + "\n\n{source}",
    reward="chrf",
    fields={"source": "question", "reference": "answer"},
    max_prompt_tokens=32,
    max_new_tokens=4,
)
QA_ROWS = [
    {"id": f"q{i}", "question": f"is the {a} {b}", "answer": answer}
    for i, (a, b, answer) in enumerate(
        [("sun", "good", "yes"), ("rain", "red", "no"), ("cat", "big", "yes"), ("tea", "sad", "no")]
    )
]


@pytest.fixture(autouse=True)
def clean_registries():
    """Forget every task and env id a test registers, even after a failed call."""
    ids, tasks = set(gym.registry), known_tasks()
    yield
    for env_id in set(gym.registry) - ids:
        del gym.registry[env_id]
    for name in known_tasks():
        if name not in tasks:
            remove_task(name)


@pytest.fixture
def qa_file(tmp_path) -> str:
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in QA_ROWS), encoding="utf-8")
    return str(path)


def play(env, seed: int = 0) -> tuple[float, dict]:
    """One episode of a fixed token; return its final reward and info."""
    env.reset(seed=seed)
    terminated = False
    while not terminated:
        _, reward, terminated, _, info = env.step(5)
    return reward, info


def test_registered_task_env_runs_and_passes_the_checker(tiny_lm_dir, qa_file):
    register_task(QA, "ToyQA-v0")
    assert get_task("qa") is QA and "qa" in textgym.known_tasks()
    assert gym.spec("ToyQA-v0").kwargs == {
        "task": "qa",
        "reward": "chrf",
        "max_prompt_tokens": 32,
        "max_new_tokens": 4,
    }
    env = gym.make("ToyQA-v0", dataset=qa_file, tokenizer=tiny_lm_dir)
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    prompt = obs["input_ids"][: QA.max_prompt_tokens][obs["attention_mask"][:32] == 1]
    assert INSTRUCTION in env.unwrapped.tokenizer.decode(prompt)
    reward, info = play(env)
    assert math.isfinite(reward) and info["num_new_tokens"] == QA.max_new_tokens
    assert info["references"] in {("yes",), ("no",)}


def test_train_two_updates_on_a_registered_task(tiny_lm_dir, qa_file, tmp_path):
    register_task(QA, "ToyQA-v0")
    config = tiny_train_config(
        tiny_lm_dir,
        env_id="ToyQA-v0",
        dataset=qa_file,
        eval_dataset=qa_file,
        timesteps=16,  # 2 envs x 4 steps per rollout: two PPO updates
        out=str(tmp_path / "run"),
    )
    result = textgym.training.train(config, progress_bar=False)
    assert result.model.num_timesteps == 16 and result.episode_rewards
    assert all(math.isfinite(r) for r in result.episode_rewards)
    assert math.isfinite(result.after.metrics["own_reward"])
    assert Path(result.files["metrics"]).is_file()


def test_prompt_only_continuation_task(tiny_lm_dir):
    cont = Task(
        "continue",
        "{source}",
        reward=LengthPenalty(target_words=3),  # reads no reference
        fields={"source": ("prompt", "text")},
        truncation_side="start",
    )
    register_task(cont, "ToyContinue-v0", max_new_tokens=3)
    assert gym.spec("ToyContinue-v0").kwargs["max_new_tokens"] == 3
    rows = [{"text": "the cat sat on"}, {"prompt": "the dog ran in the park"}]
    env = gym.make("ToyContinue-v0", dataset=rows, tokenizer=tiny_lm_dir)
    reward, info = play(env)
    assert reward == 1.0 and info["references"] == ()  # 3 words: on target


def test_task_without_data_needs_a_dataset_naming_its_fields(tiny_lm_dir):
    register_task(QA)
    with pytest.raises(DatasetError) as err:
        textgym.TextGenEnv(task="qa", tokenizer=tiny_lm_dir)
    for fragment in ("ships no default data", "dataset=", "source (column 'question')"):
        assert fragment in str(err.value)
    assert "reference (column 'answer')" in str(err.value)


def test_dataset_missing_a_field_names_it_and_the_fix(tiny_lm_dir):
    register_task(QA, "ToyQA-v0")
    rows = [{"q": "is the sun good", "answer": "yes"}]
    with pytest.raises(DatasetError) as err:
        gym.make("ToyQA-v0", dataset=rows, tokenizer=tiny_lm_dir)
    for fragment in ("Row 0", "'source'", "'question'", "'q'", "fields={'source':"):
        assert fragment in str(err.value)
    (example,) = load_examples(rows, task="qa", fields={"source": "q"})
    assert example.source == "is the sun good"


def test_unknown_task_lists_known_ones_and_points_to_register_task(tiny_lm_dir):
    register_task(QA)
    with pytest.raises(UnknownNameError) as err:
        textgym.TextGenEnv(task="qaa", tokenizer=tiny_lm_dir)
    message = str(err.value)
    assert "Did you mean 'qa'" in message and "register_task" in message
    assert all(name in message for name in ("summarize", "dialogue", "translate", "qa"))


def test_duplicate_task_is_an_error_unless_equal_or_overwritten():
    register_task(QA)
    register_task(dataclasses.replace(QA))  # an equal task: nothing changes
    other = dataclasses.replace(QA, template="{source}")
    with pytest.raises(ConfigError, match="different task 'qa'.*overwrite=True"):
        register_task(other)
    assert get_task("qa") is QA
    register_task(other, overwrite=True)
    assert get_task("qa") is other
    with pytest.raises(ConfigError, match="built into textgym"):
        register_task(dataclasses.replace(QA, name="summarize"), overwrite=True)


def test_duplicate_env_id_registers_nothing():
    before = set(gym.registry)
    mine = dataclasses.replace(QA, name="mine")
    with pytest.raises(ConfigError, match="'TextSummarize-v0' is already registered"):
        register_task(mine, "TextSummarize-v0")
    register_task(QA, "ToyQA-v0")
    register_task(QA, "ToyQA-v0")  # the same again: fine
    with pytest.raises(ConfigError, match="already registered.*overwrite=True"):
        register_task(mine, "ToyQA-v0")
    assert "mine" not in known_tasks() and gym.spec("ToyQA-v0").kwargs["task"] == "qa"
    assert gym.spec("TextSummarize-v0").kwargs["task"] == "summarize"
    register_task(mine, "ToyQA-v0", overwrite=True)
    assert gym.spec("ToyQA-v0").kwargs["task"] == "mine"
    assert set(gym.registry) - before == {"ToyQA-v0"}


@pytest.mark.parametrize(
    ("env_id", "kwargs", "message"),
    [
        ("toyqa", {}, "Name-v0"),
        ("ToyQA-v0", {"temperature": 1.0}, "not parameters of TextGenEnv"),
        ("ToyQA-v0", {"max_new_tokens": 0}, "positive"),
        ("ToyQA-v0", {"task": "summarize"}, "drop it"),
        (None, {"max_new_tokens": 3}, "need an env_id"),
    ],
)
def test_bad_registrations_register_nothing(env_id, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        register_task(QA, env_id, **kwargs)
    assert "qa" not in known_tasks() and "ToyQA-v0" not in gym.registry


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "q a"}, "Task name 'q a' is invalid"),
        ({"template": "Answer."}, "no '{source}' placeholder"),
        ({"template": "{source} in {lang}"}, r"placeholders \['lang'\].*meta_defaults"),
        ({"template": "{source} {"}, "not a valid format string"),
        ({"truncation_side": "left"}, "truncation_side='left'"),
        ({"kind": "chat"}, "kind='chat'"),
        ({"kind": "dialogue"}, "reads its input from 'context'"),
        ({"fields": {"context": "turns"}}, "kind='dialogue'"),
        ({"fields": {"source": []}}, r"fields\['source'\] must be a column name"),
        ({"max_new_tokens": 0}, "max_new_tokens=0 must be a positive integer"),
        ({"reward": 3}, "reward=3 is not a reward"),
        ({"meta_defaults": {"lang": 1}}, "meta_defaults must map"),
        ({"ships_data": "yes"}, "ships_data"),
    ],
)
def test_bad_tasks_are_clear_errors(changes, message):
    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(QA, **changes)


def test_extra_fields_fill_the_template_and_may_have_defaults():
    chat = Task(
        "chat",
        "reply in {lang} to {who}\n\n{source}",
        reward="chrf",
        kind="dialogue",
        fields={"context": "turns", "reference": "reply", "lang": "lang", "who": "who"},
        meta_defaults={"who": "a friend"},
    )
    register_task(chat)
    (example,) = load_examples([{"turns": ["hi"], "reply": "hello", "lang": "en"}], task="chat")
    assert example.turns == ("hi",) and example.meta == {"lang": "en"}
    with pytest.raises(DatasetError, match="no 'lang' field"):
        load_examples([{"turns": ["hi"], "reply": "hello"}], task="chat")
    with pytest.raises(DatasetError, match=r"rows have context .*, lang \(column 'lang'\)"):
        load_examples(task="chat")


def test_builtin_tasks_are_defined_once_with_their_env_defaults():
    assert textgym.data.TASKS == ("summarize", "dialogue", "translate")
    assert textgym.env.get_task is get_task and textgym.env.register_task is register_task
    translate = get_task("translate")
    assert translate.meta_defaults == {"src_lang": "English", "tgt_lang": "German"}
    dialogue = get_task("dialogue")
    assert dialogue.kind == "dialogue" and dialogue.truncation_side == "start"
    assert all(get_task(name).ships_data for name in textgym.data.TASKS)


def test_cli_finds_a_task_registered_in_a_module(tiny_lm_dir, qa_file, tmp_path, monkeypatch):
    """``--env module:EnvId`` imports the module first, as gym.make does (new processes too)."""
    from textgym.cli import main

    (tmp_path / "toy_qa_tasks.py").write_text(
        "from textgym import Task, register_task\n"
        f"register_task(Task('modqa', {QA.template!r}, reward='chrf', "
        "fields={'source': 'question', 'reference': 'answer'}, max_new_tokens=4), 'ModQA-v0')\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "toy_qa_tasks", raising=False)
    args = ["train", "--model", tiny_lm_dir, "--dataset", qa_file, "--eval-dataset", qa_file]
    args += ["--timesteps", "16", "--n-envs", "2", "--n-steps", "4", "--batch-size", "8"]
    args += ["--eval-examples", "2", "--no-progress", "--out", str(tmp_path / "run")]
    assert "ModQA-v0" not in gym.registry
    assert main([*args, "--env", "toy_qa_tasks:ModQA-v0"]) == 0
    assert json.loads((tmp_path / "run" / "train.json").read_text())["config"]["env_id"] == (
        "toy_qa_tasks:ModQA-v0"
    )
    with pytest.raises(ConfigError, match=r"cannot import 'no_such_tasks'.*register_task"):
        textgym.training.TrainConfig(env_id="no_such_tasks:ModQA-v0")
