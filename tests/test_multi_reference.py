"""Multi-reference rules (max, mean) of ROUGE, BLEU and chrF, and validate-rewards using them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from textgym.cli import main
from textgym.errors import ConfigError
from textgym.rewards import Bleu, Chrf, Rouge, make_reward
from textgym.rewards.multi_reference import with_multi_reference
from textgym.validity import load_judgments, validate_rewards

GEN = "the cat sat on the mat"
REFS = ["the cat sat on the mat", "a dog ran in the park"]


def one(reward, refs=REFS, gen=GEN) -> float:
    return float(reward([gen], [refs], [""])[0])


@pytest.mark.parametrize(
    "make", [lambda r: Rouge("rouge1", multi_reference=r), lambda r: Chrf(multi_reference=r)]
)
def test_max_and_mean_are_the_max_and_mean_of_single_reference_scores(make):
    singles = [one(make("max"), [ref]) for ref in REFS]
    assert singles[0] == pytest.approx(1.0) and singles[1] < 0.5
    assert one(make("max")) == pytest.approx(max(singles))
    assert one(make("mean")) == pytest.approx(np.mean(singles))


def test_default_rule_is_max_for_rouge_and_chrf_and_native_for_bleu():
    assert Rouge("rougeL").multi_reference == "max" and Chrf().multi_reference == "max"
    assert Bleu().multi_reference == "native"
    refs = ["the cat sat on a rug", "a dog sat on the mat"]
    native, best = one(Bleu(), refs, GEN), one(Bleu(multi_reference="max"), refs, GEN)
    mean = one(Bleu(multi_reference="mean"), refs, GEN)
    singles = [one(Bleu(), [ref], GEN) for ref in refs]
    assert best == pytest.approx(max(singles)) and mean == pytest.approx(np.mean(singles))
    assert native > best  # clipped counts over both references at once


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (
            lambda: Rouge("rouge1", multi_reference="min"),
            r"Rouge\('rouge1'\) multi_reference='min'",
        ),
        (lambda: Chrf(multi_reference="native"), "use 'max' or 'mean'"),
        (lambda: Bleu(multi_reference="best"), "use 'native' or 'max' or 'mean'"),
    ],
)
def test_unknown_rule_is_a_config_error(make, fragment):
    with pytest.raises(ConfigError, match=fragment):
        make()


def test_with_multi_reference_copies_and_refuses_rewards_without_a_rule():
    rouge = make_reward("rouge1")
    mean = with_multi_reference(rouge, "mean")
    assert mean.multi_reference == "mean" and rouge.multi_reference == "max"
    assert with_multi_reference(rouge, None) is rouge
    with pytest.raises(ConfigError, match="'length' has no multi-reference rule"):
        with_multi_reference(make_reward("length"), "mean")


def write_rows(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def multi_ref_judgments(tmp_path, key):
    rows = []
    for d in range(4):
        refs = [f"the cat sat on mat {d}", "a dog ran in the park"]
        for k, summary in enumerate(["the cat sat", "a dog ran in the park", "the dog"]):
            rows.append(
                {
                    "doc_id": d,
                    "system": k,
                    "source": "s",
                    "summary": summary,
                    key: refs,
                    "human": float(k + d),
                }
            )
    return write_rows(tmp_path / f"{key}.jsonl", rows)


@pytest.mark.parametrize("key", ["references", "reference"])
def test_judgments_read_a_list_of_references(tmp_path, key):
    data = load_judgments(multi_ref_judgments(tmp_path, key))
    assert data.references[0] == ["the cat sat on mat 0", "a dog ran in the park"]


def test_references_field_wins_over_reference(tmp_path):
    row = {"doc_id": 0, "system": 0, "source": "s", "summary": "x", "human": 1.0}
    path = write_rows(tmp_path / "j.jsonl", [{**row, "reference": "one", "references": ["a", "b"]}])
    assert load_judgments(path).references == [["a", "b"]]


def test_validate_rewards_rule_changes_the_ranking_and_is_recorded(tmp_path):
    # A copies one reference (max 1.0, mean 0.5); B half-matches both (max = mean = 0.6);
    # humans prefer B to A to C: only the mean rule agrees fully.
    systems = {"A": ("x1 x2 x3 x4", 1.0), "B": ("x1 x2 x3 y1 y2 y3", 2.0), "C": ("z", 0.0)}
    rows = [
        {
            "doc_id": d,
            "system": name,
            "source": "s",
            "summary": text,
            "human": human + d,
            "references": ["x1 x2 x3 x4", "y1 y2 y3 y4"],
        }
        for d in range(3)
        for name, (text, human) in systems.items()
    ]
    path = write_rows(tmp_path / "j.jsonl", rows)
    best = validate_rewards(path, ["rouge1"], bootstrap=0)
    mean = validate_rewards(path, ["rouge1"], bootstrap=0, multi_reference="mean")
    assert best.multi_reference is None and mean.multi_reference == "mean"
    assert best.get("rouge1", "human", "system").kendall == pytest.approx(1 / 3)
    assert mean.get("rouge1", "human", "system").kendall == pytest.approx(1.0)


def test_validate_rewards_cli_exposes_the_rule(tmp_path, capsys):
    path = multi_ref_judgments(tmp_path, "references")
    args = ["validate-rewards", "--judgments", str(path), "--rewards", "rouge1,chrf"]
    assert (
        main([*args, "--bootstrap", "0", "--multi-reference", "mean", "--out", str(tmp_path)]) == 0
    )
    saved = json.loads((tmp_path / "validity.json").read_text())
    assert saved["multi_reference"] == "mean"
    assert main([*args, "--rewards", "length", "--multi-reference", "mean"]) == 2
    assert "'length' has no multi-reference rule" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*args, "--multi-reference", "min"])
