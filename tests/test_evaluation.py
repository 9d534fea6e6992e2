"""Held-out evaluation: per-example scores, corpus BLEU, samples, KL/perplexity, eval datasets."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch as th

from textgym.cli import main
from textgym.env import TextGenEnv
from textgym.errors import ConfigError, DatasetError
from textgym.evaluation import EVAL_METRICS, evaluate_lm
from textgym.evaluation.kl_to_initial import kl_to_initial
from textgym.evaluation.scores import bleu_from_stats, corpus_bleu
from textgym.models import load_causal_lm
from textgym.training import TrainConfig, make_eval_env


@pytest.fixture(scope="module")
def env(tiny_lm_dir, word_dataset):
    return TextGenEnv(
        "summarize",
        dataset=word_dataset,
        tokenizer=tiny_lm_dir,
        max_prompt_tokens=64,
        max_new_tokens=4,
        reward="rouge1",
    )


@pytest.fixture(scope="module")
def lm(tiny_lm_dir):
    return load_causal_lm(tiny_lm_dir).eval()


@pytest.fixture(scope="module")
def other_lm(word_tokenizer):
    from conftest import make_tiny_lm

    return make_tiny_lm(len(word_tokenizer), seed=1).eval()


def test_per_example_scores_and_means(lm, env):
    result = evaluate_lm(lm, env, 5, own_reward=env.reward_fn)
    assert result.example_ids == [f"w{i}" for i in range(5)] and len(result.generations) == 5
    for name in (*EVAL_METRICS, "own_reward", "mean_new_tokens", "kl_to_init", "ref_nll"):
        values = result.per_example[name]
        assert len(values) == 5 and result.metrics[name] == pytest.approx(np.mean(values))
    assert result.per_example["own_reward"] == result.per_example["rouge1"]
    assert result.metrics["mean_new_tokens"] == result.mean_new_tokens
    assert result.per_example["kl_to_init_exact"] == [0.0] * 5  # lm is its own reference
    assert "rouge1_sample_mean" not in result.per_example and result.samples == 0


def test_corpus_bleu_is_sacrebleus_corpus_score():
    from sacrebleu.metrics import BLEU

    texts = ["the cat sat on the mat", "a dog ran", "", "hello there"]
    refs = [["the cat sat on a mat", "a cat sat"], ["the dog ran off"], ["x y"], ["hello there"]]
    score, stats = corpus_bleu(texts, refs)
    streams = [[r[0] for r in refs], [r[1] if len(r) > 1 else None for r in refs]]
    assert score == pytest.approx(BLEU().corpus_score(texts, streams).score / 100)
    assert bleu_from_stats(np.sum(stats, axis=0)) == pytest.approx(score)
    assert len(stats) == 4 and all(len(row) == 10 for row in stats)


def test_corpus_bleu_is_reported_beside_the_sentence_mean(lm, env):
    result = evaluate_lm(lm, env, 6)
    refs = [ex.references for ex in env.examples[:6]]
    assert result.metrics["corpus_bleu"] == pytest.approx(corpus_bleu(result.generations, refs)[0])
    assert len(result.bleu_stats) == 6


def test_sampled_evaluation_reports_mean_and_best_of_n_and_keeps_the_callers_rng(lm, env):
    th.manual_seed(123)
    expected = th.rand(3)
    th.manual_seed(123)
    first = evaluate_lm(lm, env, 4, samples=3, own_reward="rouge1", seed=5)
    assert th.equal(th.rand(3), expected)  # the caller's random stream is untouched
    again = evaluate_lm(lm, env, 4, samples=3, own_reward="rouge1", seed=5)
    assert first.per_example == again.per_example and first.samples == 3
    for name in (*EVAL_METRICS, "own_reward"):
        mean = np.array(first.per_example[f"{name}_sample_mean"])
        best = np.array(first.per_example[f"{name}_best_of_n"])
        assert len(mean) == 4 and np.all(best >= mean - 1e-12)
        assert first.metrics[f"{name}_best_of_n"] == pytest.approx(best.mean())


def test_sampling_settings_reach_generate(lm, env, monkeypatch):
    from textgym.policies.sampling import SamplingConfig

    seen = []
    original = lm.generate

    def spy(**kwargs):
        seen.append({k: kwargs.get(k) for k in ("do_sample", "temperature", "top_k", "top_p")})
        return original(**kwargs)

    monkeypatch.setattr(lm, "generate", spy)
    evaluate_lm(lm, env, 2, samples=2, sampling=SamplingConfig(0.7, 5, 0.9))
    assert seen[0]["do_sample"] is False
    assert seen[-1] == {"do_sample": True, "temperature": 0.7, "top_k": 5, "top_p": 0.9}


def test_kl_and_perplexity_against_a_reference(lm, other_lm, env, tiny_lm_dir):
    same = evaluate_lm(lm, env, 4, reference=load_causal_lm(tiny_lm_dir).eval())
    assert same.metrics["kl_to_init_exact"] == pytest.approx(0, abs=1e-9)
    moved = evaluate_lm(lm, env, 4, reference=other_lm)
    assert moved.metrics["kl_to_init_exact"] > 1e-4  # random tiny LMs: near-uniform
    assert moved.metrics["ref_nll"] != pytest.approx(same.metrics["ref_nll"])
    nll = np.array(moved.per_example["ref_nll"])
    tokens = np.array(moved.per_example["mean_new_tokens"])
    pooled = math.exp((nll * tokens).sum() / tokens.sum())  # token-pooled, not per example
    assert moved.metrics["perplexity"] == pytest.approx(pooled)


class Bigram(th.nn.Module):
    """A causal LM whose next-token logits depend on the last token only."""

    def __init__(self, table):
        super().__init__()
        self.table = th.nn.Parameter(th.tensor(table))

    def forward(self, input_ids):
        return SimpleNamespace(logits=self.table[input_ids])


def test_nll_under_the_initial_model_by_hand():
    ln3 = math.log(3)
    trained = Bigram([[0.0, 0.0], [0.0, ln3]])
    initial = Bigram([[0.0, ln3], [0.0, 0.0]])  # p(.|0) = (.25, .75), p(.|1) = (.5, .5)
    kl = kl_to_initial(trained, initial, [([0], [1, 0]), ([1], [1])])
    # tokens: 1 after 0 (p .75), 0 after 1 (p .5); then 1 after 1 (p .5)
    per_sequence = [-(math.log(0.75) + math.log(0.5)) / 2, -math.log(0.5)]
    assert kl.per_sequence["nll"] == pytest.approx(per_sequence)
    assert kl.nll == pytest.approx(-(math.log(0.75) + 2 * math.log(0.5)) / 3)
    own = kl_to_initial(trained, None, [([0], [1, 0])])
    assert own.exact == 0 and own.nll == pytest.approx(-(math.log(0.5) + math.log(0.25)) / 2)


def test_bad_counts_are_config_errors(lm, env):
    with pytest.raises(ConfigError, match="samples=-1 must be an integer >= 0"):
        evaluate_lm(lm, env, 2, samples=-1)


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def test_eval_dataset_is_read_for_evaluation_only(tiny_lm_dir, word_dataset, tmp_path):
    held_out = write_jsonl(tmp_path / "held.jsonl", word_dataset[8:])
    config = TrainConfig(model=tiny_lm_dir, eval_dataset=held_out, max_prompt_tokens=64)
    assert [ex.id for ex in make_eval_env(config).examples] == ["w8", "w9", "w10", "w11"]


def test_eval_dataset_without_the_task_fields_names_the_option_and_field(tiny_lm_dir, tmp_path):
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"id": 1, "source": "the cat", "label": "x"}])
    config = TrainConfig(model=tiny_lm_dir, eval_dataset=bad)
    with pytest.raises(DatasetError, match=r"--eval-dataset.*no 'reference' field"):
        make_eval_env(config)


def test_a_single_training_file_without_eval_dataset_warns(tiny_lm_dir, word_dataset, tmp_path):
    data = write_jsonl(tmp_path / "all.jsonl", word_dataset)
    config = TrainConfig(model=tiny_lm_dir, dataset=data, max_prompt_tokens=64)
    with pytest.warns(UserWarning, match="reads the rows training uses"):
        make_eval_env(config)


def test_train_cli_with_eval_dataset_and_samples(tiny_lm_dir, word_dataset, tmp_path, capsys):
    held_out = write_jsonl(tmp_path / "held.jsonl", word_dataset[6:])
    out = tmp_path / "run"
    args = ["train", "--model", tiny_lm_dir, "--timesteps", "16", "--n-envs", "2"]
    args += ["--n-steps", "4", "--batch-size", "8", "--max-new-tokens", "3"]
    args += ["--max-prompt-tokens", "64", "--eval-dataset", held_out, "--eval-samples", "2"]
    args += ["--out", str(out), "--no-progress", "--device", "cpu"]
    assert main(args) == 0
    printed = " ".join(capsys.readouterr().out.split())  # rich wraps the title
    assert "on 6 examples (greedy; *_sample_mean, *_best_of_n: 2 samples)" in printed
    after = json.loads((out / "metrics.json").read_text())["after"]
    assert after["example_ids"] == [f"w{i}" for i in range(6, 12)] and after["samples"] == 2
    assert {"corpus_bleu", "perplexity", "kl_to_init_exact", "own_reward_best_of_n"} <= set(
        after["metrics"]
    )


SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
HELD_OUT_SETS = {
    "TextSummarize-v0": "summarization/cnndm_250.jsonl",
    "TextTranslate-v0": "translation/multi30k_en-de_val.jsonl",
    "TextDialogue-v0": "dialogue/dailydialog_pp_1142.jsonl",
}


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is absent (a fresh clone)")
@pytest.mark.parametrize("env_id", HELD_OUT_SETS)
def test_the_shared_held_out_sets_give_at_least_100_examples(env_id, tiny_lm_dir):
    path = str(SHARED / HELD_OUT_SETS[env_id])
    config = TrainConfig(env_id=env_id, model=tiny_lm_dir, eval_dataset=path)
    examples = make_eval_env(config).examples
    assert len(examples) >= config.eval_examples == 100
    assert all(ex.references for ex in examples[:100])


def test_batched_kl_equals_one_sequence_at_a_time(tiny_lm_dir):
    trained, initial = load_causal_lm(tiny_lm_dir).eval(), load_causal_lm(tiny_lm_dir).eval()
    with th.no_grad():
        for p in trained.parameters():
            p.add_(0.05 * th.randn_like(p))
    sequences = [([3, 4, 5, 6, 7], [6, 7, 1]), ([8], [9]), ([], [4]), ([2, 3], [5, 6, 7, 8, 9])]
    batched = kl_to_initial(trained, initial, sequences, batch_size=3)
    single = kl_to_initial(trained, initial, sequences, batch_size=1)
    assert batched.n_tokens == single.n_tokens == 9 and batched.exact > 0
    for key in ("log_ratio", "exact", "nll"):
        assert getattr(batched, key) == pytest.approx(getattr(single, key), rel=1e-4)
        assert batched.per_sequence[key] == pytest.approx(
            single.per_sequence[key], rel=1e-4, nan_ok=True
        )
    assert math.isnan(batched.per_sequence["nll"][2])


def test_length_sorted_batches_give_each_example_its_own_greedy_output(
    lm, word_dataset, tiny_lm_dir
):
    from textgym.evaluation import generate_sequences

    rows = [  # sources of 1 to 6 sentences: prompts of several lengths
        {**row, "source": " ".join([row["source"]] * (1 + i % 6))}
        for i, row in enumerate(word_dataset)
    ]
    env = TextGenEnv("summarize", dataset=rows, tokenizer=tiny_lm_dir, max_new_tokens=4)
    indices = [4, 0, 2, 1, 3, 0]
    lengths = {len(env.prompts.build(env.examples[i])[0]) for i in indices}
    assert len(lengths) > 3
    batched = generate_sequences(lm, env, indices, batch_size=3)
    alone = [generate_sequences(lm, env, [i], batch_size=1)[0] for i in indices]
    assert batched == alone


def test_the_drift_from_the_generation_pass_equals_a_separate_forward(lm, other_lm, env):
    from textgym.evaluation.kl_to_initial import greedy_sequences

    result = evaluate_lm(lm, env, 6, reference=other_lm, batch_size=4)
    separate = kl_to_initial(lm, other_lm, greedy_sequences(lm, env, 6), env.vocab_size)
    names = {"kl_to_init": "log_ratio", "kl_to_init_exact": "exact", "ref_nll": "nll"}
    for key, name in names.items():
        assert result.per_example[key] == pytest.approx(separate.per_sequence[name], abs=1e-5)
    assert result.metrics["kl_to_init_exact"] > 1e-4


def test_the_evaluated_lm_runs_no_second_pass_over_prompts(lm, other_lm, env):
    """Only generate's prefills see whole prompts: the KL and NLL reuse the generation's logits."""
    widths: dict[str, list[int]] = {"lm": [], "reference": []}
    hooks = [
        model.register_forward_pre_hook(
            lambda _, args, kwargs, key=key: widths[key].append(kwargs["input_ids"].shape[1]),
            with_kwargs=True,
        )
        for key, model in (("lm", lm), ("reference", other_lm))
    ]
    try:
        evaluate_lm(lm, env, 6, batch_size=4)  # its own reference: no other forward at all
        assert sum(w > 1 for w in widths["lm"]) == 2  # one prefill per batch of 4
        widths["lm"].clear()
        evaluate_lm(lm, env, 6, reference=other_lm, batch_size=4)
        assert sum(w > 1 for w in widths["lm"]) == 2
        assert len(widths["reference"]) == 2  # one teacher-forced pass per batch
    finally:
        for hook in hooks:
            hook.remove()
