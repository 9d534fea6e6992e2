"""Length-balanced reward-model training pairs (issue 17, item 2)."""

import json
import re

import pytest
from test_reward_model_training import make_tiny_classifier_dir, tiny_config, write_jsonl
from test_rm_length import length_pairs

from textgym.cli import main
from textgym.errors import ConfigError
from textgym.reward_models import PreferencePair, train_reward_model
from textgym.reward_models.length_balance import balance_by_length


def pairs_with_gaps(gaps):
    """One pair per gap: chosen has ``3 + gap`` words, rejected 3; ids in the prompt."""
    return [
        PreferencePair(f"p{i}", " ".join(["w"] * (3 + gap)), "w w w", {})
        for i, gap in enumerate(gaps)
    ]


def test_balance_keeps_as_many_longer_as_shorter_and_every_equal_pair():
    pairs = pairs_with_gaps([2, 1, -1, 5, 0, 3, -2, 4, 1])  # 6 longer, 2 shorter, 1 equal
    kept, counts = balance_by_length(pairs, seed=0)
    gaps = [len(p.chosen.split()) - 3 for p in kept]
    assert sum(g > 0 for g in gaps) == sum(g < 0 for g in gaps) == 2 and gaps.count(0) == 1
    assert (counts.longer, counts.shorter, counts.equal, counts.dropped) == (2, 2, 1, 4)
    order = [int(p.prompt[1:]) for p in kept]
    assert order == sorted(order)  # input order kept
    assert balance_by_length(pairs, seed=0)[0] == kept
    others = {tuple(p.prompt for p in balance_by_length(pairs, seed=s)[0]) for s in range(8)}
    assert len(others) > 1  # the seed picks which longer pairs stay


def test_balance_refuses_to_leave_fewer_than_two_pairs():
    with pytest.raises(ConfigError, match=r"leaves 1 of 4 .*longer in 3, shorter in 0"):
        balance_by_length(pairs_with_gaps([1, 2, 3, 0]), seed=0)


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory) -> str:
    return make_tiny_classifier_dir(tmp_path_factory.mktemp("tiny_cls_balance"))


def test_balanced_training_cannot_learn_that_longer_wins(tiny_base, tmp_path, capsys, monkeypatch):
    """Chosen is longer in 2 of 3 pairs and as long in the rest: balancing keeps the rest."""
    pairs = write_jsonl(tmp_path / "pairs.jsonl", length_pairs(400))
    settings = dict(epochs=6, max_length=32)
    plain = train_reward_model(tiny_config(pairs, tiny_base, tmp_path / "plain", **settings))
    config = tiny_config(pairs, tiny_base, tmp_path / "bal", length_balanced=True, **settings)
    with pytest.warns(UserWarning, match=r"drops all \d+ pairs of unequal lengths.*never shorter"):
        balanced = train_reward_model(config)
    counts = balanced.length_balance
    assert counts["longer"] == counts["shorter"] == 0 and counts["dropped"] > 150
    assert balanced.n_train == counts["equal"] < plain.n_train
    assert plain.length_fit["r2"] > 0.5 > 0.2 > balanced.length_fit["r2"]
    metrics = json.loads((tmp_path / "bal" / "metrics.json").read_text())
    assert metrics["length_balance"] == counts and metrics["config"]["length_balanced"] is True
    out = tmp_path / "cli"
    argv = ["train-rm", "--pairs", str(pairs), "--base", tiny_base, "--out", str(out)]
    argv += [
        "--val-fraction",
        "0.25",
        "--max-length",
        "32",
        "--epochs",
        "1",
        "--device",
        "cpu",
        "--no-progress",
    ]
    monkeypatch.setenv("COLUMNS", "200")  # one line per table row
    with pytest.warns(UserWarning, match="drops all"):
        assert main([*argv, "--length-balanced"]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"chosen longer in 0, shorter in 0, as long in \d+; \d+ dropped", printed)
    assert re.search(r'minus "longer wins".*\n.*\n.*trained model.* [+-]\d\.\d{3} \[', printed)


def test_options_example_trains_each_option_once_and_refuses_other_settings(tiny_base, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    rows = length_pairs(90)
    for i, row in enumerate(rows):
        row["worker"] = f"w{i % 6}"
        if i % 4 == 0:  # some pairs where the shorter response wins, for balancing
            row["chosen"], row["rejected"] = row["rejected"], row["chosen"]
    pairs = write_jsonl(tmp_path / "pairs.jsonl", rows)
    script = Path(__file__).resolve().parents[1] / "examples" / "rm_length_options.py"
    args = [sys.executable, str(script), "--pairs", str(pairs), "--out", str(tmp_path / "out")]
    args += ["--base", tiny_base, "--train-layers", "1", "--more-layers", "2", "--max-length", "32"]
    first = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    table = (tmp_path / "out" / "table.md").read_text()
    assert len(table.splitlines()) == 2 + 4 and "| length-balanced pairs |" in table
    stamp = (tmp_path / "out" / "option0" / "metrics.json").stat().st_mtime_ns
    again = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and again.stdout.count("|") == first.stdout.count("|")
    assert (tmp_path / "out" / "option0" / "metrics.json").stat().st_mtime_ns == stamp
    other = subprocess.run([*args, "--seed", "1"], capture_output=True, text=True, timeout=300)
    assert other.returncode != 0 and "trained with other settings" in other.stderr


def test_train_pairs_subsamples_training_and_keeps_the_held_out_pairs(tiny_base, tmp_path):
    pairs = write_jsonl(tmp_path / "pairs.jsonl", length_pairs(120))
    settings = dict(epochs=1, max_length=32)
    full = train_reward_model(tiny_config(pairs, tiny_base, tmp_path / "full", **settings))
    config = tiny_config(pairs, tiny_base, tmp_path / "few", train_pairs=20, **settings)
    few = train_reward_model(config)
    assert few.n_train == 20 < full.n_train and few.n_heldout == full.n_heldout
    assert few.heldout["accuracy"]["longer_wins"] == full.heldout["accuracy"]["longer_wins"]
    assert len(few.losses) == 20 // 8 + 1  # batches of 8 pairs
    with pytest.raises(ConfigError, match=r"train_pairs=500 \(--train-pairs\) is more than the"):
        train_reward_model(tiny_config(pairs, tiny_base, tmp_path / "x", train_pairs=500))
    with pytest.raises(ConfigError, match="train_pairs=1 must be an integer >= 2"):
        train_reward_model(tiny_config(pairs, tiny_base, tmp_path / "x", train_pairs=1))
