"""Honest reward-model evaluation: duplicates, group splits, length baselines (issue 17)."""

import json
from pathlib import Path

import numpy as np
import pytest
from test_reward_model_training import TOPICS, make_tiny_classifier_dir, tiny_config, write_jsonl

from textgym.cli import main
from textgym.errors import ConfigError
from textgym.reward_models import PreferencePair, load_pairs, train_reward_model
from textgym.reward_models.duplicates import DuplicateCounts, resolve_duplicates
from textgym.reward_models.heldout_report import heldout_report
from textgym.reward_models.lengths import length_matched
from textgym.reward_models.splitting import split_pairs

SHIPPED = (
    Path(__file__).resolve().parents[2] / "shared/data/preferences/tldr_comparisons_1097.jsonl"
)


def pair(prompt, chosen, rejected, **meta):
    return PreferencePair(prompt, chosen, rejected, meta)


def test_duplicates_collapse_and_conflicts_take_the_majority_or_drop():
    pairs = [
        pair("p1", "a", "b", worker="w1"),
        pair("p1", "a", "b", worker="w2"),  # same judgment again: collapsed
        pair("p2", "c", "d", worker="w1"),
        pair("p2", "d", "c", worker="w2"),  # one vote each way: dropped
        pair("p3", "f", "e", worker="w1"),
        pair("p3", "e", "f", worker="w2"),
        pair("p3", "e", "f", worker="w3"),  # 2 to 1 for 'e'
        pair("p4", "g", "h", worker="w4"),
    ]
    kept, counts = resolve_duplicates(pairs)
    assert [(p.prompt, p.chosen) for p in kept] == [("p1", "a"), ("p3", "e"), ("p4", "g")]
    assert kept[1].meta["worker"] == "w2"  # the first line that voted for the winner
    assert (counts.lines, counts.comparisons, counts.repeated_lines) == (8, 4, 4)
    assert (counts.conflicting, counts.dropped_ties, counts.kept) == (2, 1, 3)


def test_length_matched_rule_is_three_words_or_ten_percent():
    chosen = np.array([10, 10, 40, 40, 100, 100])
    rejected = np.array([13, 14, 44, 45, 90, 89])
    assert length_matched(chosen, rejected).tolist() == [True, False, True, False, True, False]


def test_report_puts_length_heuristics_beside_the_model():
    pairs = [
        pair("p", "a b c d e f", "a b"),  # chosen longer
        pair("p", "a b c d e f g h", "a"),  # chosen longer
        pair("p", "a", "a b c d e f g"),  # chosen shorter
        pair("p", "a b c", "x y z"),  # same length: matched, a tie for the heuristics
    ]
    report = heldout_report(pairs, {"model": np.array([1.0, -1.0, 1.0, 1.0])})
    acc = report["accuracy"]
    assert report["n_pairs"] == 4 and report["n_length_matched"] == 1
    assert acc["longer_wins"]["all"]["accuracy"] == pytest.approx((1 + 1 + 0 + 0.5) / 4)
    assert acc["shorter_wins"]["all"]["accuracy"] == pytest.approx((0 + 0 + 1 + 0.5) / 4)
    assert acc["longer_wins"]["length_matched"] == {
        "accuracy": 0.5,
        "ci": pytest.approx([0.0546, 0.9454], abs=1e-3),
        "n": 1,
    }
    assert acc["model"]["all"]["accuracy"] == 0.75
    low, high = acc["model"]["all"]["ci"]
    assert 0 < low < 0.75 < high < 1
    empty = heldout_report(pairs[:1], {"model": np.array([1.0])})["accuracy"]["model"]
    assert empty["length_matched"] == {"accuracy": None, "ci": [0.0, 1.0], "n": 0}
    json.dumps(report)  # JSON-ready


def grouped_pairs(n=60):
    """Six workers; three policies, each policy pair winning and losing in turn."""
    pairs = []
    for i in range(n):
        policies = [f"m{i % 3}", f"m{(i + 1) % 3}"][:: 1 if i % 2 else -1]
        meta = {"worker": f"w{i % 6}", "policy_chosen": policies[0], "policy_rejected": policies[1]}
        pairs.append(pair(f"p{i}", "x good", "x bad", **meta))
    return pairs


def test_split_by_a_field_holds_out_whole_groups():
    pairs = grouped_pairs()
    train, held = split_pairs(pairs, 0.3, seed=0, by=("worker",))
    assert {p.meta["worker"] for p in train}.isdisjoint({p.meta["worker"] for p in held})
    assert len(held) >= 18 and len(train) + len(held) == 60
    assert (train, held) == split_pairs(pairs, 0.3, seed=0, by=("worker",))
    train, held = split_pairs(pairs, 0.3, seed=0, by=("policy_chosen", "policy_rejected"))
    policy_pairs = [
        {frozenset((p.meta["policy_chosen"], p.meta["policy_rejected"])) for p in side}
        for side in (train, held)
    ]
    assert policy_pairs[0].isdisjoint(policy_pairs[1])  # (A, B) and (B, A) are one group


def test_split_errors_name_the_problem_and_the_fix():
    pairs = grouped_pairs()
    with pytest.raises(
        ConfigError,
        match=r"'annotator': no pair has.*prompt, chosen, rejected, "
        r"policy_chosen, policy_rejected, worker",
    ):
        split_pairs(pairs, 0.2, 0, by=("annotator",))
    partial = [*pairs, pair("q", "a", "b")]
    with pytest.raises(ConfigError, match=r"'worker': 1 of 61 lack"):
        split_pairs(partial, 0.2, 0, by=("worker",))
    same = [pair(f"p{i}", "a", "b", worker="w1") for i in range(10)]
    with pytest.raises(ConfigError, match=r"1 distinct group.*leaves no training pairs"):
        split_pairs(same, 0.2, 0, by=("worker",))


@pytest.mark.skipif(not SHIPPED.is_file(), reason="needs ../shared/data (the shipped TL;DR pairs)")
def test_shipped_tldr_pairs_duplicates_and_groups():
    pairs, counts = resolve_duplicates(load_pairs(SHIPPED))
    expected = dict(lines=1097, comparisons=905, repeated_lines=192, conflicting=26)
    assert counts == DuplicateCounts(**expected, dropped_ties=6, kept=899)
    assert set(pairs[0].meta) == {
        "id",
        "title",
        "confidence",
        "worker",
        "policy_chosen",
        "policy_rejected",
        "split",
    }
    train, held = split_pairs(pairs, 0.2, 0, by=("worker",))
    assert {p.meta["worker"] for p in train}.isdisjoint({p.meta["worker"] for p in held})
    with pytest.raises(ConfigError, match="1 distinct group"):  # one policy pair only
        split_pairs(pairs, 0.2, 0, by=("policy_chosen", "policy_rejected"))
    report = heldout_report(pairs, {})["accuracy"]
    assert report["longer_wins"]["all"]["accuracy"] > 0.64  # humans prefer longer TL;DRs
    low, high = report["longer_wins"]["length_matched"]["ci"]
    assert low < 0.5 < high  # ... but length cannot decide the length-matched pairs


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory) -> str:
    return make_tiny_classifier_dir(tmp_path_factory.mktemp("tiny_cls_eval"))


def worker_pairs(n=80, seed=0):
    """'good' beats 'bad'; every pair also has a worker, and every 10th is repeated."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        body = " ".join(rng.choice(TOPICS, size=int(rng.integers(2, 6))))
        row = {
            "prompt": " ".join(rng.choice(TOPICS, size=6)),
            "chosen": f"{body} good",
            "rejected": f"{body} bad",
            "worker": f"w{i % 8}",
        }
        rows += [row, {**row, "worker": "w9"}] if i % 10 == 0 else [row]
    return rows


def test_every_run_reports_baselines_duplicates_and_split(tiny_base, tmp_path):
    pairs_file = write_jsonl(tmp_path / "pairs.jsonl", worker_pairs())
    out = tmp_path / "rm"
    result = train_reward_model(tiny_config(pairs_file, tiny_base, out, split_by="worker"))
    assert result.duplicates["repeated_lines"] == 8 and result.duplicates["kept"] == 80
    assert result.n_train + result.n_heldout == 80
    metrics = json.loads((out / "metrics.json").read_text())
    acc = metrics["heldout"]["accuracy"]
    assert set(acc) == {"trained", "initial", "longer_wins", "shorter_wins"}
    assert acc["trained"]["all"]["accuracy"] == metrics["accuracy_after"] == 1.0
    assert acc["longer_wins"]["all"]["accuracy"] == 0.5  # same-length pairs: all ties
    assert acc["trained"]["length_matched"]["n"] == metrics["heldout"]["n_pairs"]
    assert metrics["config"]["split_by"] == "worker" and "length_fit" in metrics
    with pytest.raises(
        ConfigError, match="Fields every pair has: prompt, chosen, rejected, worker"
    ):
        train_reward_model(tiny_config(pairs_file, tiny_base, tmp_path / "x", split_by="batch"))


def test_cli_prints_the_honest_table(tiny_base, tmp_path, capsys):
    pairs_file = write_jsonl(tmp_path / "pairs.jsonl", worker_pairs(40))
    argv = [
        "train-rm",
        "--pairs",
        pairs_file,
        "--base",
        tiny_base,
        "--out",
        str(tmp_path / "rm"),
        "--epochs",
        "1",
        "--max-length",
        "16",
        "--no-progress",
        "--split-by",
        "worker",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    for text in (
        '"longer wins"',
        '"shorter wins"',
        "length-matched",
        "4 repeated judgments",
        "held out by worker",
        "word_count:",
    ):
        assert text in printed
    assert main([*argv[:-1], "nope"]) == 2
    assert "Cannot split by 'nope'" in capsys.readouterr().err


def test_report_gives_each_model_minus_longer_wins_with_a_paired_interval():
    rng = np.random.default_rng(0)
    pairs = [
        pair("p", " ".join(["w"] * int(a)), " ".join(["w"] * int(b)))
        for a, b in rng.integers(1, 30, size=(80, 2))
    ]
    longer = np.array([len(p.chosen.split()) - len(p.rejected.split()) for p in pairs], float)
    perfect = np.ones(len(pairs))
    report = heldout_report(pairs, {"copy": longer, "perfect": perfect})
    copy = report["minus_longer_wins"]["copy"]
    assert copy["all"] == {"difference": 0.0, "ci": [0.0, 0.0], "n": 80}
    best = report["minus_longer_wins"]["perfect"]["all"]
    gap = 1 - report["accuracy"]["longer_wins"]["all"]["accuracy"]
    assert best["difference"] == pytest.approx(gap) and gap > 0.3
    assert best["ci"][0] < gap < best["ci"][1] and best["ci"][0] > 0  # clearly better
    assert best["ci"][1] - best["ci"][0] < 0.3
    matched = report["minus_longer_wins"]["perfect"]["length_matched"]
    assert matched["n"] == report["n_length_matched"]
    lone = heldout_report(pairs[:1], {"m": np.ones(1)})["minus_longer_wins"]["m"]["all"]
    assert lone == {"difference": None, "ci": None, "n": 1}
    json.dumps(report, allow_nan=False)  # strict JSON
