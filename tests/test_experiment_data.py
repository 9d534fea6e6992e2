"""The experiments' data is rebuilt from a name a user can fetch and the ids the repo keeps."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPLITS = ROOT / "docs/results/reward_experiment/splits.json"


def run_splits(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    script = ROOT / "examples/samsum_splits.py"
    return subprocess.run(
        [sys.executable, str(script), *args], cwd=cwd, capture_output=True, text=True
    )


def test_the_split_definitions_hold_ids_only_and_do_not_overlap():
    definition = json.loads(SPLITS.read_text())
    sizes = {k: len(v) for k, v in definition["splits"].items()}
    assert sizes == {"train": 519, "validation": 100, "test": 200}
    ids = [i for v in definition["splits"].values() for i in v]
    assert len(set(ids)) == len(ids) == 819 and all(isinstance(i, str) for i in ids)
    assert definition["dataset"] == "knkarthick/samsum" and "CC BY-NC-ND" in definition["licence"]


def test_samsum_splits_rebuild_from_a_local_copy_of_the_hub_dataset(tmp_path):
    # A folder in the hub dataset's own columns (id, dialogue, summary), read through the
    # same datasets.load_dataset path as the hub id, offline; extra rows are left out.
    pytest.importorskip("datasets")
    ids = [i for v in json.loads(SPLITS.read_text())["splits"].values() for i in v]
    repo = tmp_path / "samsum"
    repo.mkdir()
    rows = [{"id": i, "dialogue": f"A: text {i}", "summary": f"sum {i}"} for i in [*ids, "x"]]
    (repo / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in reversed(rows)))
    done = run_splits("--data", str(repo), "--out", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    test = [json.loads(x) for x in (tmp_path / "out/samsum_test.jsonl").read_text().splitlines()]
    expected = json.loads(SPLITS.read_text())["splits"]["test"]
    assert [r["id"] for r in test] == expected
    assert test[0] == {
        "id": expected[0],
        "source": f"A: text {expected[0]}",
        "reference": f"sum {expected[0]}",
    }


def test_samsum_splits_name_missing_ids(tmp_path):
    data = tmp_path / "few.jsonl"
    data.write_text(json.dumps({"id": "1", "source": "A: hi", "reference": "hi"}) + "\n")
    done = run_splits("--data", str(data), "--out", "out", cwd=tmp_path)
    assert done.returncode != 0 and "lacks 519 of the train ids" in done.stderr
    assert not (tmp_path / "out").exists()


TLDR_KEYS = ROOT / "docs/results/rm_length_options/pairs.json"
SHARED_PAIRS = ROOT.parent / "shared/data/preferences/tldr_comparisons_1097.jsonl"


def hub_row(pair: dict, choice: int) -> dict:
    """A comparison in the form of openai/summarize_from_feedback's rows."""
    chosen = {"text": pair["chosen"], "policy": pair["policy_chosen"], "note": None}
    rejected = {"text": pair["rejected"], "policy": pair["policy_rejected"], "note": None}
    summaries = [chosen, rejected] if choice == 0 else [rejected, chosen]
    info = {"id": pair["id"], "post": pair["prompt"], "title": pair.get("title"), "subreddit": "x"}
    extra = {"confidence": pair.get("confidence")}
    return {"info": info, "summaries": summaries, "choice": choice, "worker": pair["worker"],
            "batch": "b", "split": pair.get("split"), "extra": extra}  # fmt: skip


def run_script(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, str(ROOT / "examples" / name), *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True)


def test_tldr_pairs_rebuild_the_experiment_pairs_from_hub_rows(tmp_path):
    pytest.importorskip("datasets")
    keys = json.loads(TLDR_KEYS.read_text())["comparisons"]
    if SHARED_PAIRS.is_file():  # the real pairs: the rebuild must give them back exactly
        expected = [json.loads(line) for line in SHARED_PAIRS.read_text().splitlines()]
    else:
        names = ("id", "worker", "policy_chosen", "policy_rejected")
        texts = {"chosen": "a", "rejected": "b", "title": "t", "confidence": 1, "split": "v1"}
        expected = [{**dict(zip(names, k, strict=True)), "prompt": f"post {k[0]}", **texts}
                    for k in keys]  # fmt: skip
    repo = tmp_path / "hub"
    repo.mkdir()
    rows = [hub_row(p, i % 2) for i, p in enumerate(expected)]
    rows.append(hub_row({**expected[0], "worker": "someone else"}, 0))  # not in the keys
    (repo / "validation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in reversed(rows)))
    done = run_script("tldr_pairs.py", "--data", str(repo), "--out", "pairs.jsonl", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    got = [json.loads(line) for line in (tmp_path / "pairs.jsonl").read_text().splitlines()]
    order = [(p["id"], p["worker"], p["policy_chosen"], p["policy_rejected"]) for p in got]
    assert order == [tuple(k) for k in keys]
    assert got == expected
