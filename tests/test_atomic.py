"""Atomic writes never delete what textgym did not write: train-rm, train, compare run folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from textgym.atomic import MARKER, write_atomic, write_text_atomic
from textgym.cli import main
from textgym.errors import ConfigError
from textgym.experiments.config import RunSpec
from textgym.experiments.grid import clear_unfinished
from textgym.training import TrainConfig, train


def write_model(files: dict[str, str]):
    """A ``write`` callback making a folder with ``files`` (name -> text)."""

    def write(tmp: Path) -> None:
        tmp.mkdir()
        for name, text in files.items():
            (tmp / name).write_text(text)

    return write


def user_folder(path: Path) -> Path:
    """A folder holding a user's notes and a subfolder of their data."""
    (path / "data").mkdir(parents=True)
    (path / "notes.txt").write_text("mine")
    (path / "data" / "table.csv").write_text("a,b\n")
    return path


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_atomic_write_keeps_old_content_on_failure(tmp_path):
    target = write_text_atomic(tmp_path / "result.json", "old")

    def fail(tmp: Path) -> None:
        tmp.write_text("half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        write_atomic(target, fail)
    assert target.read_text() == "old"
    assert names(tmp_path) == ["result.json"]


def test_atomic_write_replaces_a_folder_it_wrote(tmp_path):
    write_atomic(tmp_path / "model", write_model({"stale.bin": "x", "config.json": "{}"}))
    write_atomic(tmp_path / "model", write_model({"new.bin": "y"}))
    assert names(tmp_path / "model") == [MARKER, "new.bin"]
    assert json.loads((tmp_path / "model" / MARKER).read_text())["entries"] == ["new.bin"]
    assert names(tmp_path) == ["model"]  # no temporary folder left


def test_atomic_write_replaces_an_empty_folder(tmp_path):
    (tmp_path / "model").mkdir()
    write_atomic(tmp_path / "model", write_model({"new.bin": "y"}))
    assert (tmp_path / "model" / "new.bin").read_text() == "y"


def test_atomic_write_refuses_a_folder_holding_user_files(tmp_path):
    folder = user_folder(tmp_path / "p")
    with pytest.raises(ConfigError) as error:
        write_atomic(folder, write_model({"new.bin": "y"}))
    message = str(error.value)
    assert str(folder) in message and "data, data/table.csv, notes.txt" in message
    assert "Choose a new or empty folder" in message and "remove those files" in message
    assert names(folder) == ["data", "notes.txt"] and (folder / "notes.txt").read_text() == "mine"
    assert names(tmp_path) == ["p"]


def test_atomic_write_refuses_its_own_folder_once_a_user_added_a_file(tmp_path):
    folder = write_atomic(tmp_path / "model", write_model({"config.json": "{}"}))
    (folder / "README.md").write_text("my notes on this model")
    with pytest.raises(ConfigError, match="README.md"):
        write_atomic(folder, write_model({"config.json": "{}"}))
    assert (folder / "README.md").read_text() == "my notes on this model"


def test_atomic_write_to_dot_keeps_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(user_folder(tmp_path / "work"))
    with pytest.raises(ConfigError, match="current directory"):
        write_atomic(".", write_model({"new.bin": "y"}))
    assert names(Path.cwd()) == ["data", "notes.txt"]
    monkeypatch.chdir(tmp_path / "work" / "data")
    with pytest.raises(ConfigError, match="current directory"):
        write_atomic("..", write_model({"new.bin": "y"}))  # a folder holding the cwd
    assert names(tmp_path) == ["work"]


def test_train_rm_refuses_an_out_folder_with_user_files_before_training(tmp_path, capsys):
    folder = user_folder(tmp_path / "p")
    argv = ["train-rm", "--pairs", str(tmp_path / "never_read.jsonl"), "--out", str(folder)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{folder} already exists" in err and "notes.txt" in err
    assert names(folder) == ["data", "notes.txt"]


def test_train_rm_refuses_out_dot(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["train-rm", "--pairs", "never_read.jsonl", "--out", "."]) == 2
    assert "current directory" in capsys.readouterr().err
    assert names(tmp_path) == ["notes.txt"]


def test_train_refuses_an_hf_model_folder_it_did_not_write_before_training(tmp_path):
    user_folder(tmp_path / "hf_model")
    with pytest.raises(ConfigError, match="hf_model already exists"):
        train(TrainConfig(model="not-loaded", out=str(tmp_path)))
    assert names(tmp_path / "hf_model") == ["data", "notes.txt"]


def test_train_into_a_folder_keeps_unrelated_files(tiny_lm_dir, tmp_path):
    out = user_folder(tmp_path / "run")
    args = ["train", "--model", tiny_lm_dir, "--timesteps", "16", "--n-envs", "2"]
    args += ["--n-steps", "4", "--batch-size", "8", "--max-new-tokens", "3"]
    args += ["--max-prompt-tokens", "64", "--eval-examples", "2", "--no-progress"]
    for _ in range(2):  # the re-run replaces its own outputs
        assert main([*args, "--out", str(out)]) == 0
    assert (out / "notes.txt").read_text() == "mine" and (out / "data" / "table.csv").is_file()
    own = {
        ".lock",
        "hf_model",
        "metrics.json",
        "ppo.zip",
        "reward_curve.png",
        "tensorboard",
        "train.json",
    }
    assert set(names(out)) == own | {"data", "notes.txt"}


def test_unfinished_run_with_user_files_is_not_deleted(tmp_path):
    spec = RunSpec("rouge1", 0, tmp_path / "rouge1__seed0")
    spec.path.mkdir()
    (spec.path / "manifest.json").write_text("{}")
    (spec.path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"notes\.txt.*new --out"):
        clear_unfinished(spec)
    assert names(spec.path) == ["manifest.json", "notes.txt"]
    (spec.path / "notes.txt").unlink()
    (spec.path / ".hf_model.x1y2").mkdir()  # what a run killed while saving leaves
    clear_unfinished(spec)
    assert not spec.path.exists()
