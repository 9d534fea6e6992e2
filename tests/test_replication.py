"""A second held-out set: every run evaluated on both, each gain's replication status reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import tiny_train_config

from textgym.errors import ConfigError
from textgym.experiments import CompareConfig, compare
from textgym.experiments.replication import NEITHER, ONE_SET, REPLICATES, REVERSES, status
from textgym.experiments.summary import BOOTSTRAP, Gain
from textgym.stats import Interval

DEFAULT = Path(__file__).resolve().parents[1] / "textgym/data/default"


def g(mean: float, low: float, high: float) -> Gain:
    return Gain(Interval(mean, low, high, 3), BOOTSTRAP, 50, Interval(mean, low, high, 3))


@pytest.mark.parametrize(
    "first, second, expected",
    [
        (g(0.05, 0.01, 0.09), g(0.04, 0.01, 0.07), REPLICATES),
        (g(0.05, 0.01, 0.09), g(-0.03, -0.06, -0.01), REVERSES),  # significant both ways
        (g(-0.008, -0.02, 0.004), g(0.03, 0.01, 0.05), REVERSES),  # the SAMSum sweep's pattern
        (g(0.05, 0.01, 0.09), g(0.01, -0.02, 0.04), ONE_SET),
        (g(0.01, -0.02, 0.04), g(-0.01, -0.03, 0.02), NEITHER),
    ],
)
def test_status_of_a_gain_on_two_sets(first, second, expected):
    assert status(first, second) == expected


def test_check_dataset_must_be_a_second_sample(tiny_lm_dir):
    base = tiny_train_config(tiny_lm_dir, eval_dataset="a.jsonl")
    with pytest.raises(ConfigError, match="is the --eval-dataset too"):
        CompareConfig(rewards=("rouge1",), seeds=(0,), base=base, check_dataset="a.jsonl")


def test_missing_check_dataset_fails_before_any_run(tiny_lm_dir, tmp_path):
    config = CompareConfig(
        rewards=("rouge1",),
        seeds=(0,),
        base=tiny_train_config(tiny_lm_dir, timesteps=16),
        out=str(tmp_path / "out"),
        check_dataset=str(tmp_path / "missing.jsonl"),
    )
    with pytest.raises(Exception, match="check_dataset|--check-dataset"):
        compare(config)
    assert not (tmp_path / "out" / "runs").exists()


def test_every_run_is_evaluated_on_the_check_set_and_the_report_compares(tiny_lm_dir, tmp_path):
    check = tmp_path / "check.jsonl"
    check.write_text(
        (DEFAULT / "summarize_validation.jsonl").read_text().splitlines()[0]
        + "\n"
        + (DEFAULT / "summarize_validation.jsonl").read_text().splitlines()[1]
        + "\n"
    )
    config = CompareConfig(
        rewards=("rouge1",),
        seeds=(0, 1),
        base=tiny_train_config(tiny_lm_dir, timesteps=16, eval_examples=3),
        out=str(tmp_path / "out"),
        check_dataset=str(check),
    )
    compare(config)
    record = json.loads((tmp_path / "out/runs/rouge1__seed0/run.json").read_text())
    assert record["check"]["dataset"] == str(check)
    assert record["check"]["example_ids"] == ["sum-val-0001", "sum-val-0002"]
    assert record["example_ids"] == ["sum-test-0001", "sum-test-0002", "sum-test-0003"]
    initial = record["check"]["per_example"]["initial"]
    assert initial["kl_to_init_exact"] == [0.0, 0.0] and len(initial["rouge1"]) == 2
    results = json.loads((tmp_path / "out/results.json").read_text())
    statuses = {(r["cell"], r["metric"]): r["status"] for r in results["replication"]}
    assert statuses["rouge1", "own_reward"] in (REPLICATES, REVERSES, ONE_SET, NEITHER)
    text = (tmp_path / "out/report.md").read_text()
    assert "## Replication on a second held-out set" in text and str(check) in text
    assert json.loads((tmp_path / "out/compare.json").read_text())["check_dataset"] == str(check)


def test_the_check_sets_initial_evaluation_is_the_untrained_models(tiny_lm_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    from textgym.evaluation import evaluate_lm
    from textgym.training import make_eval_env

    check = tmp_path / "check.jsonl"
    check.write_text((DEFAULT / "summarize_validation.jsonl").read_text())
    config = CompareConfig(
        rewards=("rouge1",),
        seeds=(0,),
        base=tiny_train_config(tiny_lm_dir, timesteps=16, eval_examples=3, learning_rate=1e-2),
        out=str(tmp_path / "out"),
        check_dataset=str(check),
    )
    compare(config)
    record = json.loads((tmp_path / "out/runs/rouge1__seed0/run.json").read_text())
    env = make_eval_env(config.check_train_config(config.plan()[0]))
    untrained = evaluate_lm(AutoModelForCausalLM.from_pretrained(tiny_lm_dir), env, 3)
    initial, trained = (record["check"]["per_example"][k] for k in ("initial", "trained"))
    assert initial["ref_nll"] == pytest.approx(untrained.per_example["ref_nll"], abs=1e-6)
    assert initial["mean_new_tokens"] == untrained.per_example["mean_new_tokens"]
    assert min(trained["kl_to_init_exact"]) > 0  # lr 1e-2 moved it; the reference did not
