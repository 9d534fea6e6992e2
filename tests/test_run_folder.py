"""A train output folder: finished runs marked last, unfinished sets cleaned, swaps recovered."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from textgym.atomic import MARKER, recover_interrupted, write_atomic, write_text_atomic
from textgym.errors import ConfigError
from textgym.training.checkpoints import checkpoint_folder
from textgym.training.run_folder import (
    DONE,
    clear_previous,
    finish_run,
    finished_run,
    recover_outputs,
    start_run,
)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def write_folder(files: dict[str, str]):
    def write(tmp: Path) -> None:
        tmp.mkdir()
        for name, text in files.items():
            (tmp / name).write_text(text)

    return write


def finished(out: Path, tag: str = "a", run_id: str = "run-a") -> Path:
    """A folder holding the outputs of a finished run (contents tagged ``tag``)."""
    for name in ("ppo.zip", "reward_curve.png", "metrics.json"):
        write_text_atomic(out / name, f"{name} of {tag}")
    write_atomic(out / "hf_model", write_folder({"model.safetensors": f"weights of {tag}"}))
    finish_run(out, run_id, {"timesteps": 48})
    return out


def checkpoint(out: Path, run_id: str, timesteps: int = 16) -> None:
    record = {"run_id": run_id, "config": {"timesteps": 48}, "num_timesteps": timesteps}
    files = {"checkpoint.json": json.dumps(record), "ppo.zip": "zip", "state.pkl": "state"}
    write_atomic(checkpoint_folder(out), write_folder(files))


def test_train_json_records_every_output_and_detects_a_mixed_set(tmp_path):
    out = finished(tmp_path / "run")
    record = json.loads((out / DONE).read_text())
    assert record["run_id"] == "run-a" and record["config"] == {"timesteps": 48}
    assert set(record["files"]) == {
        "ppo.zip",
        "reward_curve.png",
        "metrics.json",
        f"hf_model/{MARKER}",
        "hf_model/model.safetensors",
    }
    assert finished_run(out) == record
    other = finished(tmp_path / "other", tag="b")
    (other / "ppo.zip").replace(out / "ppo.zip")  # ppo.zip of run b beside hf_model of run a
    assert finished_run(out) is None
    start_run(out, resume=False)
    with pytest.warns(UserWarning, match=f"held {DONE}, ppo.zip, hf_model, reward_curve.png"):
        clear_previous(out, resume=False)
    assert names(out) == []


def test_a_new_run_replaces_a_finished_run_only_once_it_trains(tmp_path):
    write_text_atomic(tmp_path / "run" / "eval_history.json", "[]")  # written while training
    out = finished(tmp_path / "run")
    assert "eval_history.json" in finished_run(out)["files"]
    run_id = start_run(out, resume=False)
    assert run_id != "run-a" and finished_run(out)["run_id"] == "run-a"  # checks only
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a finished run is replaced without a warning
        clear_previous(out, resume=False)
    assert names(out) == []


def test_an_unfinished_hf_model_with_user_files_is_refused_and_nothing_removed(tmp_path):
    out = tmp_path / "run"
    write_text_atomic(out / "ppo.zip", "zip")
    write_atomic(out / "hf_model", write_folder({"model.safetensors": "w"}))
    (out / "hf_model" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"hf_model already exists.*notes\.txt"):
        clear_previous(out, resume=False)
    assert names(out) == ["hf_model", "ppo.zip"]
    assert (out / "hf_model" / "notes.txt").read_text() == "mine"


def test_a_new_run_refuses_the_checkpoint_of_an_unfinished_run(tmp_path):
    out = finished(tmp_path / "run")  # a finished run, then a new run killed mid-training
    checkpoint(out, "run-b")
    with pytest.raises(ConfigError, match=r"unfinished run \(16 of 48.*--resume .*run"):
        start_run(out, resume=False)
    assert start_run(out, resume=True) == "run-b"
    (out / "best_model.zip").write_text("run b's best so far")
    with pytest.warns(UserWarning, match=f"held {DONE}, ppo.zip, hf_model"):
        clear_previous(out, resume=True)  # keeps the checkpoint and the evaluations
    assert names(out) == ["best_model.zip", "checkpoints"]


def test_the_checkpoint_of_a_finished_run_is_removed_not_resumed(tmp_path):
    out = finished(tmp_path / "run")
    checkpoint(out, "run-a")  # killed between writing train.json and removing its checkpoint
    with pytest.raises(ConfigError, match="holds a finished run.*nothing to resume") as exc:
        start_run(out, resume=True)
    assert "metrics.json" in str(exc.value) and "without --resume" not in str(exc.value)
    start_run(out, resume=False)
    clear_previous(out, resume=False)
    assert names(out) == []


def test_a_folder_swap_killed_midway_is_undone(tmp_path):
    out = tmp_path / "run"
    write_atomic(out / "hf_model", write_folder({"model.safetensors": "old"}))
    swap = out / ".hf_model.k1ll3d"  # what write_atomic leaves when killed between renames
    swap.mkdir()
    (out / "hf_model").rename(swap / "hf_model.old")
    (swap / "hf_model").mkdir()
    (swap / "hf_model" / "model.safetensors").write_text("new, complete or not")
    leftover = out / ".ppo.zip.x1y2z3"  # a file write killed before its rename
    leftover.mkdir()
    (leftover / "ppo.zip").write_text("half")
    recover_outputs(out)
    assert names(out) == ["hf_model"]
    assert (out / "hf_model" / "model.safetensors").read_text() == "old"


def test_recovery_leaves_folders_it_did_not_write(tmp_path):
    foreign = tmp_path / ".hf_model.mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    (foreign / "hf_model.old").mkdir()
    recover_interrupted(tmp_path / "hf_model")
    assert names(tmp_path) == [".hf_model.mine"] and names(foreign) == ["hf_model.old", "notes.txt"]
