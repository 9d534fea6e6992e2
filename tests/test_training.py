"""The main job (`textgym train`) and the example scripts, on the tiny model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from stable_baselines3 import PPO
from transformers import AutoModelForCausalLM

from textgym.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_train_command_writes_every_output(tiny_lm_dir, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--model", tiny_lm_dir, "--timesteps", "64", "--n-envs", "2", "--n-steps", "8"]
    args += ["--batch-size", "16", "--max-new-tokens", "4", "--max-prompt-tokens", "64"]
    args += [
        "--eval-examples",
        "3",
        "--out",
        str(out),
        "--no-progress",
        "--reward",
        "rouge1:0.5,chrf:0.5",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "rougeL" in printed and "trained" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["after"]["metrics"]) == {
        "rouge1",
        "rouge2",
        "rougeL",
        "rougeLsum",
        "bleu",
        "chrf",
    }
    assert len(metrics["after"]["generations"]) == 3 and metrics["episode_rewards"]
    assert (out / "reward_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert AutoModelForCausalLM.from_pretrained(out / "hf_model").config.hidden_size == 16
    assert PPO.load(out / "ppo.zip", device="cpu").policy.n_actions > 0


def test_bad_reward_is_a_clean_cli_error(tiny_lm_dir, tmp_path, capsys):
    code = main(["train", "--model", tiny_lm_dir, "--reward", "rougel", "--out", str(tmp_path)])
    assert code == 2 and "Did you mean 'rougeL'" in capsys.readouterr().err


def test_example_script_runs(tiny_lm_dir):
    args = ["--model", tiny_lm_dir, "--timesteps", "32", "--n-envs", "2", "--max-new-tokens", "4"]
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "train_summarize.py"),
            *args,
            "--eval-examples",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "rougeL:" in result.stdout


def test_reward_model_example_runs(tiny_lm_dir, word_tokenizer, tmp_path):
    from conftest import tiny_llama_config
    from transformers import LlamaForSequenceClassification

    config = tiny_llama_config(len(word_tokenizer), num_hidden_layers=1, num_labels=1)
    LlamaForSequenceClassification(config).save_pretrained(tmp_path / "rm")
    word_tokenizer.save_pretrained(tmp_path / "rm")
    args = ["--rm", str(tmp_path / "rm"), "--model", tiny_lm_dir, "--timesteps", "32"]
    args += ["--n-envs", "2", "--max-new-tokens", "4"]
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "train_with_reward_model.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "reward-model score" in result.stdout
