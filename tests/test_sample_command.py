"""``textgym sample``: k responses per prompt as pairs in train-rm's format, written safely."""

from __future__ import annotations

import json

import pytest

from textgym.cli import main
from textgym.errors import DatasetError
from textgym.evaluation.candidates import FIELDS
from textgym.reward_models import load_pairs


@pytest.fixture
def prompt_file(tmp_path, word_dataset):
    """A prompt-only JSONL dataset (no references)."""
    path = tmp_path / "prompts.jsonl"
    rows = [{"id": row["id"], "source": row["source"]} for row in word_dataset]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def sample(tiny_lm_dir, prompt_file, out, *extra):
    args = ["sample", "--model", tiny_lm_dir, "--dataset", str(prompt_file), "--out", str(out)]
    return main([*args, "--max-new-tokens", "4", "--limit", "5", "--device", "cpu", *extra])


def read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_sample_writes_unjudged_pairs(tiny_lm_dir, prompt_file, tmp_path, word_dataset):
    out = tmp_path / "candidates.jsonl"
    assert sample(tiny_lm_dir, prompt_file, out, "--k", "3") == 0
    rows = read(out)
    assert all(set(row) == set(FIELDS) for row in rows)
    assert len({row["id"] for row in rows}) == len(rows) and len(rows) <= 5 * 3
    assert {row["example_id"] for row in rows} <= {f"w{i}" for i in range(5)}
    sources = {row["id"]: row["source"] for row in word_dataset}
    for row in rows:
        i, j = row["candidates"]
        assert row["id"] == f"{row['example_id']}:{i}-{j}" and 0 <= i < j < 3
        assert row["prompt"] == sources[row["example_id"]]
        assert row["response_a"] != row["response_b"]
        assert row["chosen"] is None and row["rejected"] is None
        assert row["model"] == tiny_lm_dir and row["written_by"] == "textgym sample"
    with pytest.raises(DatasetError, match="'chosen' is a NoneType"):
        load_pairs(out)  # train-rm refuses unjudged comparisons


def test_judged_file_feeds_train_rm_as_is(tiny_lm_dir, prompt_file, tmp_path):
    out = tmp_path / "candidates.jsonl"
    sample(tiny_lm_dir, prompt_file, out)
    rows = read(out)
    for row in rows:  # a person prefers the second response
        row["chosen"], row["rejected"] = row["response_b"], row["response_a"]
    judged = tmp_path / "judged.jsonl"
    judged.write_text("".join(json.dumps(row) + "\n" for row in rows))
    pairs = load_pairs(judged)
    assert [p.chosen for p in pairs] == [row["response_b"] for row in rows]
    assert [p.prompt for p in pairs] == [row["prompt"] for row in rows]


def test_same_seed_same_file(tiny_lm_dir, prompt_file, tmp_path):
    first, second, other = (tmp_path / name for name in ("a.jsonl", "b.jsonl", "c.jsonl"))
    sample(tiny_lm_dir, prompt_file, first)
    sample(tiny_lm_dir, prompt_file, second)
    sample(tiny_lm_dir, prompt_file, other, "--seed", "1")
    assert first.read_text() == second.read_text() != other.read_text()


def test_overwrites_only_its_own_unjudged_files(tiny_lm_dir, prompt_file, tmp_path, capsys):
    out = tmp_path / "candidates.jsonl"
    sample(tiny_lm_dir, prompt_file, out)
    assert sample(tiny_lm_dir, prompt_file, out, "--seed", "1") == 0  # its own, unjudged
    rows = read(out)
    rows[0]["chosen"], rows[0]["rejected"] = rows[0]["response_a"], rows[0]["response_b"]
    out.write_text("".join(json.dumps(row) + "\n" for row in rows))
    judged = out.read_text()
    assert sample(tiny_lm_dir, prompt_file, out) == 2
    assert "holds judged comparisons" in capsys.readouterr().err and out.read_text() == judged
    notes = tmp_path / "notes.jsonl"
    notes.write_text('{"mine": 1}\n')
    assert sample(tiny_lm_dir, prompt_file, notes) == 2
    assert "not written by `textgym sample`" in capsys.readouterr().err
    assert notes.read_text() == '{"mine": 1}\n'
    assert sample(tiny_lm_dir, prompt_file, tmp_path) == 2
    assert "is a folder" in capsys.readouterr().err


def test_k_below_two_is_an_error(tiny_lm_dir, prompt_file, tmp_path, capsys):
    assert sample(tiny_lm_dir, prompt_file, tmp_path / "x.jsonl", "--k", "1") == 2
    assert "--k) must be an integer >= 2" in capsys.readouterr().err


def test_help_documents_the_fields(capsys):
    with pytest.raises(SystemExit):
        main(["sample", "--help"])
    text = capsys.readouterr().out
    assert all(name in text for name in FIELDS) and "textgym train-rm --pairs" in text
