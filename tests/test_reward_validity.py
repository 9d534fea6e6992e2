import json

import numpy as np
import pytest
from scipy import stats

from textgym.cli import main
from textgym.errors import ConfigError, DatasetError, UnknownNameError
from textgym.rewards import make_reward
from textgym.validity import (
    correlate,
    kendall_spearman,
    load_judgments,
    validate_rewards,
)
from textgym.validity import run as validity_run

REFERENCES = [
    "the cat sat on the mat and read a red book",
    "a dog ran in the park on a sunny day with a ball",
    "she went home to drink tea and read the news",
    "the big blue bus came late to the small town",
    "we saw rain at night and sun in the morning",
]
NOISE = "zebra quartz violin".split()


def summaries_for(reference: str) -> list[str]:
    """Four systems: system k copies k+1 more reference words (rouge1 rises with k)."""
    words = reference.split()
    return [" ".join(words[: 2 + 2 * k] + NOISE[: 3 - k]) for k in range(4)]


def write_judgments(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def judgments(tmp_path):
    rouge1 = make_reward("rouge1")
    rows = []
    rng = np.random.default_rng(0)
    for d, ref in enumerate(REFERENCES):
        summaries = summaries_for(ref)
        r1 = rouge1(summaries, [[ref]] * 4, [""] * 4)
        for k, (summary, value) in enumerate(zip(summaries, r1, strict=True)):
            rows.append(
                {
                    "doc_id": f"d{d}",
                    "system": f"s{k}",
                    "source": ref,
                    "summary": summary,
                    "reference": ref if d % 2 else [ref],
                    "good": 1.0 + 4.0 * value,  # affine in rouge1: tau = +1 at both levels
                    "bad": 5.0 - 3.0 * value,  # decreasing affine: tau = -1
                    "noise": float(rng.normal()),
                    "flat_doc0": 3.0 if d == 0 else float(k),  # doc 0 is constant
                    "note": "not a number",
                }
            )
    return write_judgments(tmp_path / "judgments.jsonl", rows)


def test_auto_detects_numeric_human_columns(judgments):
    data = load_judgments(judgments)
    assert list(data.human) == ["good", "bad", "noise", "flat_doc0"]
    assert data.systems == ["s0", "s1", "s2", "s3"]
    assert data.references[0] == [REFERENCES[0]] and data.references[4] == [REFERENCES[1]]


def test_known_correlations_by_construction(judgments):
    result = validate_rewards(judgments, ["rouge1"], ["good", "bad"], bootstrap=200)
    for level in ("system", "summary"):
        good, bad = result.get("rouge1", "good", level), result.get("rouge1", "bad", level)
        assert good.kendall == pytest.approx(1.0) and good.spearman == pytest.approx(1.0)
        assert bad.kendall == pytest.approx(-1.0) and bad.spearman == pytest.approx(-1.0)
        assert good.kendall_low == pytest.approx(1.0) and good.kendall_high == pytest.approx(1.0)
    assert result.get("rouge1", "good", "system").n == 4
    assert result.get("rouge1", "good", "summary").n == 5


def test_matches_scipy_on_a_hand_made_grid():
    metric = np.array([[0.1, 0.4, 0.2, 0.9], [0.3, 0.3, 0.8, 0.5], [0.2, 0.7, 0.1, 0.6]])
    human = np.array([[1.0, 2.0, 2.0, 5.0], [4.0, 1.0, 3.0, 3.0], [2.0, 2.0, 2.0, 2.0]])
    system, summary = correlate(metric, human, np.zeros((0, 3), dtype=int))
    expected = stats.kendalltau(metric.mean(0), human.mean(0)).statistic
    assert system.kendall == pytest.approx(expected)
    assert system.spearman == pytest.approx(stats.spearmanr(metric.mean(0), human.mean(0))[0])
    per_doc = [stats.kendalltau(metric[d], human[d]).statistic for d in (0, 1)]  # doc 2 flat
    assert summary.kendall == pytest.approx(np.mean(per_doc))
    assert summary.n == 2
    assert np.isnan(system.kendall_low)  # no bootstrap, no interval


def test_missing_summaries_are_left_out():
    metric = np.array([[0.1, 0.5, np.nan], [0.2, np.nan, 0.9]])
    human = np.array([[1.0, 3.0, np.nan], [2.0, np.nan, 4.0]])
    system, summary = correlate(metric, human, np.zeros((0, 2), dtype=int))
    assert system.kendall == pytest.approx(1.0) and system.n == 3
    assert summary.kendall == pytest.approx(1.0) and summary.n == 2
    assert np.all(np.isnan(kendall_spearman(np.array([1.0, 1.0]), np.array([1.0, 2.0]))))


def test_constant_documents_are_skipped_and_bootstrap_is_seeded(judgments):
    first = validate_rewards(judgments, ["rouge1"], ["flat_doc0", "noise"], bootstrap=100, seed=3)
    again = validate_rewards(judgments, ["rouge1"], ["flat_doc0", "noise"], bootstrap=100, seed=3)
    assert first.get("rouge1", "flat_doc0", "summary").n == 4
    assert first.to_dict() == again.to_dict()
    noise = first.get("rouge1", "noise", "system")
    assert noise.kendall_low <= noise.kendall <= noise.kendall_high


def test_cli_writes_csv_json_and_heatmap(judgments, tmp_path, capsys):
    out = tmp_path / "report"
    argv = ["validate-rewards", "--judgments", str(judgments), "--rewards", "rouge1,bleu"]
    assert main([*argv, "--human-columns", "good,bad", "--bootstrap", "20", "--out", str(out)]) == 0
    assert "Kendall" in capsys.readouterr().out
    rows = (out / "validity.csv").read_text().splitlines()
    assert rows[0].startswith("reward,human,level,kendall") and len(rows) == 1 + 2 * 2 * 2
    data = json.loads((out / "validity.json").read_text())
    assert data["rewards"] == ["rouge1", "bleu"] and data["n_documents"] == 5
    assert (out / "validity_kendall_system.png").read_bytes()[:4] == b"\x89PNG"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left


def test_errors_name_the_problem(judgments, tmp_path):
    with pytest.raises(DatasetError, match="Did you mean 'good'"):
        validate_rewards(judgments, ["rouge1"], ["godo"], bootstrap=0)
    with pytest.raises(ConfigError, match="at least one reward"):
        validate_rewards(judgments, [], bootstrap=0)
    row = {"doc_id": "a", "system": "x", "source": "s", "summary": "t", "reference": "r", "h": 1}
    dup = write_judgments(tmp_path / "dup.jsonl", [row, row])
    with pytest.raises(DatasetError, match="more than once"):
        load_judgments(dup)
    missing = write_judgments(tmp_path / "missing.jsonl", [{"doc_id": "a", "summary": "t"}])
    with pytest.raises(DatasetError, match="lacks the field"):
        load_judgments(missing)
    with pytest.raises(DatasetError, match="empty"):
        load_judgments(write_judgments(tmp_path / "empty.jsonl", []))
    assert main(["validate-rewards", "--judgments", str(tmp_path / "nope.jsonl")]) == 2


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("summary", None, "summary is None, not a string"),
        ("source", 3, "source is 3, not a string"),
        ("reference", None, "reference None must be a string or a non-empty list"),
        ("doc_id", None, "doc_id is None; use a string or integer"),
    ],
)
def test_null_text_is_an_error_naming_the_line(tmp_path, field, value, message):
    row = {"doc_id": "a", "system": "x", "source": "s", "summary": "t", "reference": "r", "h": 1}
    path = write_judgments(tmp_path / "null.jsonl", [row, {**row, "system": "y", field: value}])
    with pytest.raises(DatasetError, match=r"null\.jsonl:2: " + message):
        load_judgments(path)


def test_non_numeric_scores_skip_their_lines_for_that_column_only(judgments, tmp_path):
    rows = [json.loads(line) for line in judgments.read_text().splitlines()]
    rows[5]["good"] = "n/a"
    del rows[9]["good"]
    path = write_judgments(tmp_path / "gaps.jsonl", rows)
    with pytest.warns(UserWarning, match="'good': 2 of 20 lines have no numeric score"):
        data = load_judgments(path)
    assert list(data.human) == ["good", "bad", "noise", "flat_doc0"]
    assert np.isnan(data.human["good"]).sum() == 2 and not np.isnan(data.human["bad"]).any()
    out = tmp_path / "report"
    with pytest.warns(UserWarning, match="left out of 'good'"):
        result = validate_rewards(path, ["rouge1"], ["good", "bad"], bootstrap=0, out=out)
    assert result.skipped_scores == {"good": 2}
    assert json.loads((out / "validity.json").read_text())["skipped_scores"] == {"good": 2}
    assert result.get("rouge1", "good", "system").kendall == pytest.approx(1.0)
    assert result.get("rouge1", "good", "summary").n == 5  # docs 1 and 2 keep 3 systems
    assert result.get("rouge1", "bad", "summary").kendall == pytest.approx(-1.0)


def test_out_that_is_a_file_fails_before_scoring(judgments, tmp_path, monkeypatch):
    monkeypatch.setattr(validity_run, "score_summaries", None)  # scoring would crash
    (tmp_path / "file").write_text("mine")
    with pytest.raises(ConfigError, match="is an existing file, not a folder"):
        validate_rewards(judgments, ["rouge1"], bootstrap=0, out=tmp_path / "file")
    with pytest.raises(UnknownNameError, match="Did you mean 'rougeL'"):
        validate_rewards(judgments, ["rouge1", "rougel"], bootstrap=0)


def test_rejected_input_leaves_no_out_folder(judgments, tmp_path):
    out = tmp_path / "new" / "validity"
    with pytest.raises(UnknownNameError):
        validate_rewards(judgments, ["rougel"], bootstrap=0, out=out)
    assert not (tmp_path / "new").exists()
    validate_rewards(judgments, ["rouge1"], bootstrap=0, out=out)
    assert (out / "validity.json").is_file()


def test_cli_reward_list_keeps_bracketed_options_together():
    from textgym.commands.validate_rewards import _rewards

    assert _rewards("rouge1, clf:m[label=pos,transform=not_prob]") == [
        "rouge1",
        "clf:m[label=pos,transform=not_prob]",
    ]
    assert _rewards("rougeL:0.5,chrf:0.5") == ["rougeL:0.5,chrf:0.5"]


@pytest.mark.parametrize(
    "kwargs, message", [({"seed": -1}, "seed=-1"), ({"batch_size": 0}, "batch_size=0")]
)
def test_bad_numbers_fail_before_scoring(judgments, kwargs, message, monkeypatch):
    monkeypatch.setattr(validity_run, "score_summaries", None)  # scoring would crash
    with pytest.raises(ConfigError, match=message):
        validate_rewards(judgments, ["rouge1"], bootstrap=0, **kwargs)
