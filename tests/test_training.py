"""The main job (`textgym train`) and the example scripts, on the tiny model."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from stable_baselines3 import PPO
from transformers import AutoModelForCausalLM

from textgym import atomic
from textgym.cli import main
from textgym.errors import ConfigError, UnknownNameError
from textgym.evaluation import evaluate_lm
from textgym.training import TrainConfig, train, trainer

ROOT = Path(__file__).resolve().parents[1]


def strict_json(text: str):
    """``json.loads`` that refuses NaN and Infinity (which are not JSON)."""

    def refuse(constant):
        raise ValueError(f"{constant} is not valid JSON")

    return json.loads(text, parse_constant=refuse)


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
    metrics = strict_json((out / "metrics.json").read_text())
    assert set(metrics["after"]["metrics"]) == {
        *("rouge1", "rouge2", "rougeL", "rougeLsum", "bleu", "chrf", "own_reward"),
        *("corpus_bleu", "kl_to_init", "kl_to_init_exact", "ref_nll", "perplexity"),
        *("mean_new_tokens", "copy_rate", "repetition"),
    }
    assert len(metrics["after"]["generations"]) == 3 and metrics["episode_rewards"]
    health = metrics["signal_health"]
    assert health and set(health[0]) == {
        "timesteps",
        "zero_std_groups",
        "length_capped",
        "zero_advantages",
    }
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
    fit = {"coef": 0.5, "intercept": 0.0, "r2": 1.0, "unit": "words"}
    (tmp_path / "rm" / "metrics.json").write_text(json.dumps({"length_fit": fit}))
    args = ["--rm", str(tmp_path / "rm"), "--model", tiny_lm_dir, "--timesteps", "32"]
    args += ["--n-envs", "2", "--max-new-tokens", "4", "--eval-examples", "3"]
    script = str(ROOT / "examples" / "train_with_reward_model.py")
    runs = {}
    for extra in ([], ["--length-corrected"]):
        result = subprocess.run(
            [sys.executable, script, *args, *extra], capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stderr[-2000:]
        found = re.findall(
            r"held-out (.+?) \(3 prompts, greedy\): before (\S+), after (\S+)", result.stdout
        )
        runs[bool(extra)] = {name: (float(a), float(b)) for name, a, b in found}
    assert set(runs[False]) == {"reward-model score", "words per summary"}
    plain, corrected = runs[False], runs[True]
    assert plain["words per summary"][0] == corrected["words per summary"][0]  # same start
    # the corrected score is the plain one minus 0.5 per word, before any training
    words = plain["words per summary"][0]
    expected = plain["reward-model score"][0] - 0.5 * words
    assert abs(corrected["reward-model score"][0] - expected) < 2e-3


BAD_SETTINGS = [
    ({"n_envs": 0}, r"n_envs=0 \(--n-envs\) must be an integer >= 1"),
    ({"n_steps": 0}, r"n_steps=0 \(--n-steps\) must be an integer >= 1"),
    ({"batch_size": 0}, r"batch_size=0 \(--batch-size\) must be an integer >= 1"),
    ({"batch_size": 1}, r"batch_size=1 \(--batch-size\) must be at least 2"),
    ({"n_envs": 1, "n_steps": 1}, "PPO needs at least 2"),
    ({"timesteps": 0}, r"timesteps=0 \(--timesteps\) must be an integer >= 1"),
    (
        {"seed": 2**32 - 1, "n_envs": 2},
        r"seed=4294967295 \(--seed\) is too large.*at most 4294967294",
    ),
    ({"eval_examples": 0}, r"eval_examples=0 \(--eval-examples\) must be an integer >= 1"),
    ({"eval_examples": -1}, r"eval_examples=-1 \(--eval-examples\) must be an integer >= 1"),
    ({"max_new_tokens": True}, r"max_new_tokens=True \(--max-new-tokens\) must be an integer"),
    ({"max_prompt_tokens": 0}, r"max_prompt_tokens=0 \(--max-prompt-tokens\)"),
    ({"seed": -1}, r"seed=-1 \(--seed\) must be an integer >= 0"),
    ({"top_k": -2}, r"top_k=-2 \(--top-k\) must be an integer >= 0"),
    ({"gamma": 1.5}, r"gamma=1.5 \(--gamma\) must be a number in \[0, 1\]"),
    ({"learning_rate": float("nan")}, r"learning_rate=nan \(--learning-rate\) must be a finite"),
    ({"temperature": float("inf")}, r"temperature=inf \(--temperature\) must be a finite"),
    ({"device": "nope"}, r"device='nope' \(--device\) is not a torch device"),
]


@pytest.mark.parametrize(("settings", "message"), BAD_SETTINGS)
def test_bad_settings_are_clear_errors_in_the_api_and_the_cli(settings, message, tmp_path, capsys):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**settings)
    config = TrainConfig()
    for name, value in settings.items():
        setattr(config, name, value)  # changed after construction: train() checks again
    with pytest.raises(ConfigError, match=message):
        train(config)
    if all(type(v) is int or isinstance(v, str) for v in settings.values()):
        flags = [f"--{k.replace('_', '-')}={v}" for k, v in settings.items()]
        assert main(["train", "--out", str(tmp_path / "out"), *flags]) == 2
        assert re.search(message, capsys.readouterr().err)
        assert not (tmp_path / "out").exists()


def test_evaluate_lm_refuses_a_count_that_is_not_positive():
    for n in (0, -1, True):
        with pytest.raises(ConfigError, match=f"n_examples={n!r} must be an integer >= 1"):
            evaluate_lm(None, None, n)


def test_unknown_env_id_suggests_the_textgym_envs(capsys):
    assert main(["train", "--env", "TextSumarize-v0"]) == 2
    assert "Did you mean 'TextSummarize-v0'" in capsys.readouterr().err
    with pytest.raises(UnknownNameError, match="Known: TextDialogue-v0, TextSummarize-v0") as err:
        TrainConfig(env_id="Nope-v0")
    assert "Hopper" not in str(err.value)
    with pytest.raises(ConfigError, match="'CartPole-v1' is not a textgym text env"):
        TrainConfig(env_id="CartPole-v1")


def test_bad_out_fails_before_training(tiny_lm_dir, tmp_path, monkeypatch, capsys):
    def no_training(config):
        raise AssertionError("training started")

    monkeypatch.setattr(trainer, "build_ppo", no_training)
    (tmp_path / "file").write_text("mine")
    cases = {
        str(tmp_path / "file"): "is an existing file, not a folder",
        str(tmp_path / "file" / "sub"): "cannot be created or written into",
    }
    for out, message in cases.items():
        assert main(["train", "--model", tiny_lm_dir, "--out", out]) == 2
        assert message in capsys.readouterr().err
    monkeypatch.setattr(atomic.tempfile, "TemporaryFile", deny)
    assert main(["train", "--model", tiny_lm_dir, "--out", str(tmp_path / "ro")]) == 2
    assert "cannot be created or written into (Permission denied)" in capsys.readouterr().err
    assert (tmp_path / "file").read_text() == "mine"


def deny(*args, **kwargs):
    raise PermissionError(13, "Permission denied")


def test_json_outputs_are_strict_json(tmp_path):
    path = atomic.write_json_atomic(
        tmp_path / "m.json", {"a": float("nan"), "b": [float("inf"), 1.5], "c": tmp_path}
    )
    data = strict_json(path.read_text())
    assert data == {"a": None, "b": [None, 1.5], "c": str(tmp_path)}


def test_train_with_groups_and_rloo_from_the_cli(tiny_lm_dir, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--model", tiny_lm_dir, "--timesteps", "64", "--n-envs", "4", "--n-steps", "8"]
    args += ["--batch-size", "32", "--max-new-tokens", "4", "--max-prompt-tokens", "64"]
    args += ["--eval-examples", "2", "--out", str(out), "--no-progress"]
    args += ["--group-size", "2", "--advantage", "rloo"]
    assert main(args) == 0
    metrics = strict_json((out / "metrics.json").read_text())
    assert metrics["config"]["group_size"] == 2 and metrics["config"]["advantage"] == "rloo"
    model = PPO.load(out / "ppo.zip", device="cpu")
    assert model.policy.value_net is None and model.normalize_advantage is False
    assert model.rollout_buffer.advantage == "rloo" and model.rollout_buffer.group_size == 2


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"group_size": 3, "n_envs": 8}, "does not divide n_envs=8"),
        ({"advantage": "rloo"}, "needs group_size >= 2"),
        ({"advantage": "ppo2", "group_size": 2}, "not an advantage mode"),
        ({"group_size": 2, "n_steps": 50, "max_new_tokens": 32}, "multiple of the episode's"),
        ({"group_size": 0}, "integer >= 1"),
    ],
)
def test_bad_group_settings_name_the_fix(settings, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**settings)


def test_every_train_config_field_is_reachable_from_the_cli():
    """`textgym train` cannot drift from TrainConfig: each field has an option of its name."""
    import argparse
    from dataclasses import fields

    from textgym.commands.train import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    options = {action.dest for action in parser._actions}
    assert [f.name for f in fields(TrainConfig) if f.name not in options] == []
    args = parser.parse_args(["--ppo-kwargs", '{"ent_coef": 0.01}', "--kl-horizon", "500"])
    assert args.ppo_kwargs == {"ent_coef": 0.01} and args.kl_horizon == 500


def test_json_options_must_be_objects(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--policy-kwargs", "[1, 2]"])
    assert "must be a JSON object" in capsys.readouterr().err


def test_a_failed_train_leaves_no_trace_but_keeps_a_folder_it_did_not_create(
    tmp_path, capsys, monkeypatch
):
    from textgym.commands import train as train_command
    from textgym.errors import DatasetError

    def fail(config, **_):
        assert (tmp_path / "new" / ".lock").is_file() or (tmp_path / "mine").is_dir()
        raise DatasetError("no rows in missing.jsonl")

    monkeypatch.setattr(train_command, "train", fail)
    args = ["train"]
    assert main([*args, "--out", str(tmp_path / "new")]) == 2
    assert "missing.jsonl" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
    (tmp_path / "mine").mkdir()
    assert main([*args, "--out", str(tmp_path / "mine")]) == 2
    assert (tmp_path / "mine").is_dir()


def test_a_second_train_into_the_same_folder_is_refused(tiny_lm_dir, tmp_path, capsys):
    from textgym.output_lock import locked

    out = tmp_path / "run"
    args = ["train", "--model", tiny_lm_dir, "--timesteps", "16", "--n-envs", "2", "--n-steps", "8"]
    args += ["--batch-size", "16", "--max-new-tokens", "4", "--max-prompt-tokens", "64"]
    args += ["--eval-examples", "2", "--no-progress", "--out", str(out)]
    with locked(out, "train"):  # as a first `textgym train` running in this folder would
        assert main(args) == 2
        assert sorted(p.name for p in out.iterdir()) == [".lock"]  # nothing written
    assert "in use by another textgym train (pid" in capsys.readouterr().err
    assert not out.exists()  # the holder created the folder and wrote nothing: it is gone
    assert main(args) == 0  # the lock went with its holder
    assert (out / "train.json").is_file()
    (tmp_path / "file").write_text("mine")
    assert main([*args[:-1], str(tmp_path / "file")]) == 2
    assert "is an existing file, not a folder" in capsys.readouterr().err
    assert (tmp_path / "file").read_text() == "mine"
