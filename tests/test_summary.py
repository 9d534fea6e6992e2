"""Paired gains per configuration: the bootstrap over seeds and examples, corpus BLEU, fallbacks."""

from __future__ import annotations

import numpy as np
import pytest

from textgym.errors import ConfigError
from textgym.evaluation.scores import corpus_bleu
from textgym.experiments.summary import BOOTSTRAP, T_OVER_SEEDS, gain, rank, summarize


def record(seed: int, initial: np.ndarray, trained: np.ndarray, cell: str = "rouge1", **extra):
    return {
        "run": f"{cell}__seed{seed}",
        "cell": cell,
        "reward": "rouge1",
        "seed": seed,
        "example_ids": [str(i) for i in range(len(initial))],
        "initial": {"own_reward": float(initial.mean()), "distinct_1": 0.5},
        "trained": {"own_reward": float(trained.mean()), "distinct_1": 0.5 + 0.1 * seed},
        "per_example": {
            "initial": {"own_reward": list(initial)},
            "trained": {"own_reward": list(trained)},
        },
        **extra,
    }


def runs(shift: float, cell: str = "rouge1", seeds: int = 3, n: int = 80):
    rng = np.random.default_rng(len(cell))
    out = []
    for seed in range(seeds):
        initial = rng.uniform(0, 0.5, n)
        out.append(record(seed, initial, initial + shift + rng.normal(0, 0.05, n), cell))
    return out


def test_paired_gain_is_the_mean_difference_with_a_bootstrap_interval():
    data = runs(0.1)
    result = gain(data, "own_reward")
    differences = [
        np.subtract(
            r["per_example"]["trained"]["own_reward"], r["per_example"]["initial"]["own_reward"]
        )
        for r in data
    ]
    assert result.method == BOOTSTRAP and result.n_examples == 80 and result.interval.n == 3
    assert result.interval.mean == pytest.approx(np.mean(differences))
    assert result.significant and result.interval.low > 0.08
    assert 0 < result.mde < 0.05


def test_no_effect_is_not_significant_and_the_mde_says_what_could_be_seen():
    result = gain(runs(0.0), "own_reward")
    assert not result.significant and result.interval.low < 0 < result.interval.high
    assert result.mde == pytest.approx(2.80158 * result.interval.se, rel=1e-5)


def test_metrics_without_per_example_values_use_a_t_interval_over_seeds():
    result = gain(runs(0.1), "distinct_1")
    assert result.method == T_OVER_SEEDS and result.n_examples == 0
    assert result.interval.mean == pytest.approx(0.1)  # gains 0, 0.1, 0.2


def test_corpus_bleu_gain_is_bootstrapped_from_sufficient_statistics():
    refs = [["the cat sat on the mat"], ["a dog ran in the park"], ["it is a good day"]]
    initial_texts = ["the dog", "a cat", "it was"]
    trained_texts = [
        ["the cat sat", "a dog ran", "it is good"],
        ["the cat sat on", "a dog", "a good day"],
    ]
    before, stats_before = corpus_bleu(initial_texts, refs)
    data = []
    for seed, texts in enumerate(trained_texts):
        after, stats_after = corpus_bleu(texts, refs)
        data.append(
            {
                "seed": seed,
                "initial": {"corpus_bleu": before},
                "trained": {"corpus_bleu": after},
                "bleu_stats": {"initial": stats_before, "trained": stats_after},
            }
        )
    result = gain(data, "corpus_bleu", n_resamples=200)
    expected = np.mean([r["trained"]["corpus_bleu"] - before for r in data])
    assert result.method == BOOTSTRAP and result.n_examples == 3
    assert result.interval.mean == pytest.approx(expected)
    assert result.interval.low <= result.interval.high


def test_summary_covers_every_cell_and_metric_and_ranks_cells():
    data = runs(0.1, "a") + runs(0.3, "b") + runs(0.0, "c")
    summary = summarize(data)
    assert set(summary) == {(c, m) for c in "abc" for m in ("own_reward", "distinct_1")}
    assert rank(summary, data, "own_reward") == ["b", "a", "c"]


def test_runs_of_one_cell_on_different_examples_cannot_be_paired():
    data = runs(0.1)
    data[1]["example_ids"] = list(reversed(data[1]["example_ids"]))
    with pytest.raises(ConfigError, match="different held-out examples"):
        summarize(data)


def test_metrics_undefined_on_prompt_only_data_are_left_out():
    data = runs(0.1)
    for r in data:  # as stored from prompt-only data: NaN is null in JSON
        r["initial"].update(rougeL=None, perplexity=2.0)
        r["trained"].update(rougeL=None, perplexity=None if r["seed"] == 0 else 2.5)
    summary = summarize(data)
    assert ("rouge1", "rougeL") not in summary and ("rouge1", "own_reward") in summary
    assert np.isnan(summary["rouge1", "perplexity"].interval.mean)  # one run undefined


def test_report_of_prompt_only_runs_says_no_held_out_metric_was_measured(tmp_path):
    from textgym.experiments.metrics import HELD_OUT
    from textgym.experiments.report import build_report

    data = runs(0.1, "rm:runs/rm") + runs(0.0, "rm:runs/rm[length_penalty=fit]")
    for r in data:
        r["reward"] = r["cell"]
        r["episode_rewards"] = [0.1, 0.2, 0.3]
        r["config"] = {"reward": r["cell"], "eval_dataset": "prompts.jsonl", "timesteps": 64}
        for key in ("initial", "trained"):
            r[key].update(
                dict.fromkeys(HELD_OUT), kl_to_init_exact=0.0 if key == "initial" else 0.1
            )
    files = build_report(tmp_path, data)
    report = (tmp_path / "report.md").read_text()
    assert "None measured: the held-out data has no references" in report
    assert "gain_matrix" not in files and not (tmp_path / "gain_matrix.png").exists()
    assert "| rm:runs/rm |" in report and "own_reward" in report


def test_a_gain_whose_seeds_disagree_is_not_significant_even_when_the_bootstrap_says_so():
    # the embedding reward's per-seed gains in the SAMSum experiment: 0.069, 0.023, 0.056
    rng = np.random.default_rng(0)
    data = []
    for seed, shift in enumerate((0.069, 0.023, 0.056)):
        initial = rng.uniform(0, 0.5, 200)
        data.append(record(seed, initial, initial + shift + rng.normal(0, 0.01, 200)))
    result = gain(data, "own_reward")
    assert result.interval.excludes_zero()  # 3 seeds: 10 distinct seed resamples
    per_seed = [r["trained"]["own_reward"] - r["initial"]["own_reward"] for r in data]
    assert result.seeds.mean == pytest.approx(np.mean(per_seed))
    assert result.seeds.low < 0 < result.seeds.high and result.seeds.n == 3
    assert not result.significant


def test_seeds_that_agree_keep_the_gain_significant_and_one_seed_rests_on_examples():
    assert gain(runs(0.1), "own_reward").seeds.excludes_zero()
    assert gain(runs(0.1), "own_reward").significant
    single = gain(runs(0.1, seeds=1), "own_reward")
    assert np.isnan(single.seeds.low) and single.significant
