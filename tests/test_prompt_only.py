"""Prompt-only datasets: they load for rewards that read no references, and fail early else."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import fake_model_folder

from textgym import TextGenEnv
from textgym.data import load_examples
from textgym.errors import DatasetError
from textgym.evaluation import evaluate_lm
from textgym.models import load_causal_lm
from textgym.rewards import (
    CallableReward,
    EmbeddingSimilarity,
    LengthPenalty,
    make_reward,
    needs_references,
)


@pytest.fixture
def prompts(word_dataset) -> list[dict]:
    """The word dataset without its references."""
    return [{"id": row["id"], "source": row["source"]} for row in word_dataset]


def env(tiny_lm_dir, dataset, reward, **kwargs):
    return TextGenEnv(
        dataset=dataset,
        reward=reward,
        tokenizer=tiny_lm_dir,
        max_prompt_tokens=16,
        max_new_tokens=4,
        prompt_template="{source}",
        **kwargs,
    )


def words(generations, references, sources):
    return [float(len(g.split())) for g in generations]


words.needs_references = False


def test_rewards_say_whether_they_read_references(tmp_path):
    assert needs_references(make_reward("rougeL")) and needs_references(make_reward("meteor"))
    assert needs_references(LengthPenalty()) and not needs_references(LengthPenalty(target_words=3))
    assert not needs_references(EmbeddingSimilarity(against="source"))
    assert not needs_references(make_reward("perplexity"))
    assert not needs_references(make_reward(f"rm:{fake_model_folder(tmp_path / 'rm')}"))
    assert not needs_references(make_reward("none"))
    assert not needs_references(CallableReward(words))
    assert needs_references(lambda g, r, s: [0.0] * len(g))  # unknown: assumed to
    assert needs_references(make_reward("perplexity:0.5,length:0.5"))
    assert not needs_references(make_reward("perplexity:0.5,none:0.5"))


def test_prompt_only_rows_load_when_references_are_optional(prompts):
    examples = load_examples(prompts, task="summarize", needs_references=False)
    assert [ex.references for ex in examples] == [()] * len(prompts)
    mixed = load_examples(
        [*prompts[:1], {"source": "s", "reference": "r"}], task="summarize", needs_references=False
    )
    assert mixed[1].references == ("r",)
    dialogue = load_examples(
        [{"context": ["hi", "hello"]}], task="dialogue", needs_references=False
    )
    assert dialogue[0].references == () and dialogue[0].turns == ("hi", "hello")
    with pytest.raises(DatasetError, match="has no 'reference' field.*prompt-only dataset"):
        load_examples(prompts, task="summarize")


@pytest.mark.parametrize(
    "reward",
    ["perplexity", "none", LengthPenalty(target_words=3), CallableReward(words)],
    ids=["perplexity", "none", "length", "user"],
)
def test_env_runs_prompt_only_episodes(tiny_lm_dir, prompts, reward):
    if reward == "perplexity":
        reward = f"perplexity:{tiny_lm_dir}"
    e = env(tiny_lm_dir, prompts, reward)
    e.reset(seed=0)
    for _ in range(4):
        _, value, terminated, _, info = e.step(5)
    assert terminated and np.isfinite(value) and info["references"] == ()


def test_reward_model_on_prompt_only_data_builds(tiny_lm_dir, prompts, tmp_path):
    e = env(tiny_lm_dir, prompts, f"rm:{fake_model_folder(tmp_path / 'rm')}")  # loaded lazily
    assert all(ex.references == () for ex in e.examples)


@pytest.mark.parametrize("reward", ["rougeL", "meteor", "length", "perplexity:0.5,rougeL:0.5"])
def test_rewards_reading_references_fail_at_construction(tiny_lm_dir, prompts, reward):
    with pytest.raises(DatasetError, match="Row 0 .* no 'reference' field"):
        env(tiny_lm_dir, prompts, reward)


def test_evaluation_on_prompt_only_data(tiny_lm_dir, prompts):
    e = env(tiny_lm_dir, prompts, LengthPenalty(target_words=3))
    result = evaluate_lm(load_causal_lm(tiny_lm_dir), e, n_examples=3, own_reward=e.reward_fn)
    assert np.isnan(result.metrics["rougeL"]) and np.isnan(result.metrics["corpus_bleu"])
    assert np.isfinite(result.metrics["own_reward"]) and len(result.per_example["bleu"]) == 3
    json.dumps(result.per_example)  # NaNs are floats, as for any undefined metric


def test_train_report_leaves_out_metrics_undefined_on_prompt_only_data(tiny_lm_dir, capsys):
    from textgym.commands.train import print_report
    from textgym.evaluation import EvalResult
    from textgym.training import TrainResult

    before = EvalResult({"rougeL": float("nan"), "own_reward": 0.25}, ["a"], 1.0)
    after = EvalResult({"rougeL": float("nan"), "own_reward": 0.5}, ["b"], 1.0)
    print_report(TrainResult(before, after, episode_rewards=[], model=None, files={}))
    printed = capsys.readouterr().out
    assert "own_reward" in printed and "+0.2500" in printed and "rougeL" not in printed
