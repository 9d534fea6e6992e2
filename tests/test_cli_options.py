"""The training options of `textgym train` and `textgym compare`, from one table, and --config."""

from __future__ import annotations

import argparse
import json
from dataclasses import fields

import pytest

from textgym.cli import main
from textgym.commands import compare as compare_command
from textgym.commands import train as train_command
from textgym.commands.config_options import OPTIONS
from textgym.experiments.config import VARIED
from textgym.training import TrainConfig
from textgym.training.checks import flag

# A value other than the default for every TrainConfig field, all usable together.
VALUES = {
    "env_id": "TextTranslate-v0",
    "reward": "rougeL:0.7,chrf:0.3",
    "model": "some/model",
    "timesteps": 64,
    "n_envs": 4,
    "n_steps": 16,
    "batch_size": 32,
    "n_epochs": 3,
    "learning_rate": 1e-5,
    "gamma": 0.99,
    "max_prompt_tokens": 48,
    "max_new_tokens": 8,
    "dataset": "train.jsonl",
    "eval_dataset": "eval.jsonl",
    "eval_split": "validation",
    "eval_examples": 5,
    "eval_samples": 2,
    "eval_every": 32,
    "eval_metric": "chrf",
    "patience": 2,
    "kl_budget": 0.5,
    "temperature": 0.7,
    "top_k": 50,
    "top_p": 0.9,
    "kl_coef": 0.05,
    "target_kl": 6.0,
    "kl_horizon": 500.0,
    "kl_reference_device": "cpu",
    "group_size": 2,
    "advantage": "rloo",
    "seed": 3,
    "device": "cpu",
    "out": "runs/elsewhere",
    "checkpoint_every": 0,
    "env_kwargs": {"reward_mode": "dense"},
    "ppo_kwargs": {"ent_coef": 0.01},
    "policy_kwargs": {"bad_words": ["darn"]},
}
FIELDS = [f.name for f in fields(TrainConfig)]


@pytest.fixture
def captured(monkeypatch):
    """Run a command up to its train()/compare() call; return the configs it would run."""
    configs = []
    monkeypatch.setattr(train_command, "train", lambda config, **_: configs.append(config))
    monkeypatch.setattr(train_command, "print_report", lambda result: None)
    monkeypatch.setattr(compare_command, "compare", configs.append)
    monkeypatch.setattr(compare_command, "print_summary", lambda result: None)
    return configs


def command_line(names: list[str]) -> list[str]:
    """``--flag value`` for each field in ``names``, set to its value in VALUES."""
    args = []
    for name in names:
        value = VALUES[name]
        args += [flag(name), json.dumps(value) if isinstance(value, dict) else str(value)]
    return args


def parser(command) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"textgym {command.__name__.rsplit('.', 1)[-1]}")
    command.add_arguments(p)
    return p


def test_the_table_covers_every_field_with_help_text():
    assert [name for name in FIELDS if not OPTIONS.get(name, None)] == []
    assert [name for name in FIELDS if not OPTIONS[name].help] == []
    assert sorted(OPTIONS) == sorted(FIELDS)  # no entry for a field that is gone


def test_the_test_values_differ_from_the_defaults():
    assert sorted(VALUES) == sorted(FIELDS), "give each new TrainConfig field a value here"
    defaults = TrainConfig()
    assert [k for k, v in VALUES.items() if getattr(defaults, k) == v] == []


def test_every_train_config_field_is_reachable_from_train(captured):
    assert main(["train", *command_line(FIELDS)]) == 0
    config = captured[-1]
    assert {name: getattr(config, name) for name in FIELDS} == VALUES


def test_every_train_config_field_is_reachable_from_compare(captured, tmp_path):
    shared = [name for name in FIELDS if name not in VARIED]
    assert main(["compare", "--out", str(tmp_path), *command_line(shared)]) == 0
    base = captured[-1].base
    assert {name: getattr(base, name) for name in shared} == {k: VALUES[k] for k in shared}
    assert captured[-1].out == str(tmp_path)


def test_compare_has_the_options_it_lacked_and_train_its_own():
    dests = {a.dest for a in parser(compare_command)._actions}
    lacked = ("gamma", "temperature", "top_k", "top_p", "kl_horizon", "checkpoint_every")
    assert set(lacked) | {"env_kwargs", "ppo_kwargs", "policy_kwargs"} <= dests
    assert not dests & {"reward", "seed"}  # set per run
    assert {"resume", "no_progress", "config"} <= {a.dest for a in parser(train_command)._actions}


def test_defaults_and_help_come_from_the_dataclass_and_the_table():
    args = parser(compare_command).parse_args([])
    defaults = TrainConfig()
    assert all(getattr(args, n) == getattr(defaults, n) for n in FIELDS if n not in VARIED)
    assert parser(train_command).parse_args([]).out is None  # runs/textgym, or --resume DIR
    text = parser(compare_command).format_help()
    assert OPTIONS["kl_horizon"].help.split()[0] in text and "--env ENV_ID" in text


CONFIG = {
    "env_id": "TextTranslate-v0",
    "n_envs": 4,
    "learning_rate": "1e-5",  # text, parsed as on the command line (YAML reads 1e-5 as text)
    "ppo_kwargs": {"ent_coef": 0.01},
    "policy_kwargs": '{"bad_words": ["darn"]}',
    "kl_coef": None,
    "timesteps": 128,
}


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_config_file_sets_defaults_and_flags_override(captured, tmp_path, suffix):
    path = tmp_path / f"run{suffix}"
    text = json.dumps(CONFIG)  # JSON is YAML too
    path.write_text(text)
    assert main(["train", "--timesteps", "256", "--config", str(path), "--no-progress"]) == 0
    config = captured[-1]
    assert (config.env_id, config.n_envs, config.learning_rate) == ("TextTranslate-v0", 4, 1e-5)
    assert config.ppo_kwargs == {"ent_coef": 0.01} and config.policy_kwargs == {
        "bad_words": ["darn"]
    }
    assert config.timesteps == 256  # the flag wins, before or after --config
    assert main(["train", "--config", str(path), "--n-envs", "2"]) == 0
    assert (captured[-1].n_envs, captured[-1].timesteps) == (2, 128)


def test_compare_config_file_takes_its_own_keys(captured, tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text(
        "rewards: [rouge1, 'rougeL:0.5,chrf:0.5']\n"
        "seeds: [5]\n"
        "grid: {learning_rate: [1e-5, 5e-6], kl_coef: '0,0.05', n_epochs: [3]}\n"
        "workers: 2\n"
        "no_keep_models: true\n"
        "timesteps: 64\n"
        f"out: {tmp_path / 'out'}\n"
    )
    assert main(["compare", "--config", str(path)]) == 0
    config = captured[-1]
    assert config.rewards == ("rouge1", "rougeL:0.5,chrf:0.5") and config.seeds == (5,)
    grid = {"learning_rate": (1e-5, 5e-6), "kl_coef": (0.0, 0.05), "n_epochs": (3,)}
    assert config.grid == grid
    assert (config.workers, config.keep_models, config.base.timesteps) == (2, False, 64)
    assert config.out == str(tmp_path / "out")
    # list options given on the command line replace the file's lists, not extend them
    flags = ["--rewards", "bleu", "--grid", "n_epochs=1,2", "--seeds", "2"]
    assert main(["compare", "--config", str(path), *flags]) == 0
    config = captured[-1]
    assert (config.rewards, config.seeds) == (("bleu",), (0, 1))
    assert config.grid == {"n_epochs": (1, 2)}


def test_a_parser_forgets_the_config_file_after_parsing(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("n_envs: 4\n")
    p = parser(train_command)
    assert p.parse_args(["--config", str(path)]).n_envs == 4
    assert p.parse_args([]).n_envs == TrainConfig().n_envs


def usage_error(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    return " ".join(capsys.readouterr().err.split())


@pytest.mark.parametrize("command", ["train", "compare"])
def test_bad_config_key_names_it_and_suggests(command, tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text("n_env: 4\n")
    err = usage_error([command, "--config", str(path)], capsys)
    assert f"--config {path}: unknown key 'n_env'. Did you mean 'n_envs'" in err
    assert "Valid keys:" in err and "learning_rate" in err
    assert ("workers" in err) == (command == "compare")


def test_bad_config_values_name_the_file_and_option(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text("timesteps: many\n")
    err = usage_error(["train", "--config", str(path)], capsys)
    assert f"--config {path}: argument --timesteps: invalid int value: 'many'" in err
    path.write_text("reward: 'rougeL:0.5,chrf'\n")
    assert "'chrf' has no weight" in usage_error(["train", "--config", str(path)], capsys)
    path.write_text("no_progress: maybe\n")
    assert "no_progress takes true or false" in usage_error(
        ["train", "--config", str(path)], capsys
    )
    path.write_text("- n_envs\n")
    assert "must hold a mapping" in usage_error(["train", "--config", str(path)], capsys)
    missing = tmp_path / "missing.yaml"
    assert "cannot read it" in usage_error(["train", "--config", str(missing)], capsys)


def test_a_bool_field_becomes_a_flag_pair_also_in_config_files(monkeypatch, tmp_path):
    from textgym.commands import config_options

    monkeypatch.setattr(config_options, "field_type", lambda name: bool)
    p = argparse.ArgumentParser()
    p.add_argument("--fast", **config_options.option_kwargs("fast", True))
    config_options.add_config_option(p)
    assert (p.parse_args([]).fast, p.parse_args(["--no-fast"]).fast) == (True, False)
    path = tmp_path / "c.yaml"
    path.write_text("fast: false\n")
    assert p.parse_args(["--config", str(path)]).fast is False
    assert p.parse_args(["--config", str(path), "--fast"]).fast is True


def test_compare_takes_gpus_per_run_and_a_ray_address(captured, tmp_path):
    args = ["compare", "--rewards", "rouge1", "--out", str(tmp_path / "o"), "--backend", "ray"]
    main([*args, "--gpus-per-run", "0.5", "--ray-address", "10.0.0.1:6379"])
    (config,) = captured
    assert config.gpus_per_run == 0.5 and config.ray_address == "10.0.0.1:6379"
