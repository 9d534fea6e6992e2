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
    "stop_on_dead_signal": 3,
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


# --- the policy flags: one table, one home (policy_kwargs) -----------------------------------


@pytest.mark.parametrize("command", ["train", "compare"])
def test_policy_flags_set_their_policy_kwargs(captured, tmp_path, command, monkeypatch):
    from textgym.commands import policy_flags

    monkeypatch.setattr(policy_flags, "cpu_has_bf16", lambda: True)
    flags = ["--bf16", "--lora-r", "16", "--lora-alpha", "32", "--bad-words", "darn,heck"]
    flags += ["--allowed-tokens", "yes,no", "--gradient-checkpointing", "--device", "cpu"]
    extra = ["--policy-kwargs", '{"lora": {"lora_dropout": 0.1}}']
    assert main([command, "--out", str(tmp_path / "out"), *flags, *extra]) == 0
    config = captured[-1] if command == "train" else captured[-1].base
    assert config.policy_kwargs == {
        "autocast": "bfloat16",
        "lora": {"lora_dropout": 0.1, "r": 16, "lora_alpha": 32.0},
        "bad_words": ["darn", "heck"],
        "allowed_tokens": ["yes", "no"],
        "gradient_checkpointing": True,
    }


def test_policy_flags_unset_leave_policy_kwargs_alone(captured):
    assert main(["train", "--policy-kwargs", '{"bad_words": ["x"]}']) == 0
    assert captured[-1].policy_kwargs == {"bad_words": ["x"]}


def test_policy_flags_appear_in_both_helps(capsys):
    for command in ("train", "compare"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        flags = ("--bf16", "--lora-r", "--lora-alpha", "--bad-words", "--allowed-tokens")
        assert all(f in text for f in (*flags, "--gradient-checkpointing"))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--bad-words", "x", "--policy-kwargs", '{"bad_words": ["y"]}'], "give it in one place"),
        (["--lora-r", "8", "--policy-kwargs", '{"lora": {"r": 4}}'], "policy_kwargs lora.r"),
        (["--lora-alpha", "16"], "add --lora-r"),
    ],
)
def test_policy_flag_conflicts_are_clear_errors(args, message, capsys):
    assert main(["train", *args]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "args", [["--lora-r", "0"], ["--lora-r", "x"], ["--lora-alpha", "-1"], ["--bad-words", "a,,b"]]
)
def test_bad_policy_flag_values_are_usage_errors(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", *args])
    assert exc.value.code == 2
    assert args[1] in capsys.readouterr().err


def test_bf16_without_native_support_says_so(monkeypatch, capsys):
    from textgym.commands import policy_flags

    monkeypatch.setattr(policy_flags, "cpu_has_bf16", lambda: False)
    assert main(["train", "--bf16", "--device", "cpu"]) == 2
    assert "this CPU has no native bfloat16 support" in capsys.readouterr().err


def test_policy_flags_in_a_config_file(captured, tmp_path, monkeypatch):
    from textgym.commands import policy_flags

    monkeypatch.setattr(policy_flags, "cpu_has_bf16", lambda: True)
    path = tmp_path / "c.yaml"
    path.write_text("bf16: true\nlora_r: 8\nbad_words: darn\ndevice: cpu\n")
    assert main(["train", "--config", str(path)]) == 0
    assert captured[-1].policy_kwargs == {
        "autocast": "bfloat16",
        "lora": {"r": 8},
        "bad_words": ["darn"],
    }


# --- *_kwargs keys are checked against their targets before anything loads -------------------


@pytest.mark.parametrize(
    "option, value, target, suggestion",
    [
        ("--ppo-kwargs", '{"ent_cof": 0.01}', "stable-baselines3's PPO", "'ent_coef'"),
        ("--env-kwargs", '{"reward_mod": "dense"}', "TextSummarize-v0 (gym.make)", "'reward_mode'"),
        ("--policy-kwargs", '{"autocst": "bfloat16"}', "LMPolicy", "'autocast'"),
    ],
)
@pytest.mark.parametrize("command", ["train", "compare"])
def test_unknown_kwargs_keys_name_the_closest_valid_key(
    command, option, value, target, suggestion, capsys, tmp_path, monkeypatch
):
    from textgym.training import trainer

    monkeypatch.setattr(trainer, "build_ppo", lambda *a: pytest.fail("loaded before the check"))
    assert main([command, "--out", str(tmp_path / "o"), option, value]) == 2
    err = capsys.readouterr().err
    assert target in err and f"Did you mean {suggestion}" in err and option in err
    assert err.count("\n") == 1  # one line, no traceback


def test_valid_kwargs_keys_pass(captured):
    args = ["--ppo-kwargs", '{"ent_coef": 0.01}', "--env-kwargs", '{"reward_mode": "dense"}']
    assert main(["train", *args, "--policy-kwargs", '{"dropout": true}']) == 0
    assert captured[-1].ppo_kwargs == {"ent_coef": 0.01}


def test_each_kwargs_option_has_its_own_example(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert (
        text.count("ent_coef") == 1 and "reward_mode" in text and "gradient_checkpointing" in text
    )


# --- Ctrl-C: one line saying what was kept and how to go on, status 130 -----------------------


def interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def test_ctrl_c_in_train_without_a_checkpoint(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(train_command, "train", interrupt)
    assert main(["train", "--out", str(tmp_path / "run")]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "interrupted" in err and "nothing to resume" in err


def test_ctrl_c_in_train_after_a_checkpoint_says_how_to_resume(monkeypatch, tmp_path, capsys):
    out = tmp_path / "run"
    (out / "checkpoints" / "latest").mkdir(parents=True)
    (out / "checkpoints" / "latest" / "checkpoint.json").write_text('{"num_timesteps": 64}')
    monkeypatch.setattr(train_command, "train", interrupt)
    assert main(["train", "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"textgym train --resume {out}" in err and "64 timesteps" in err


def test_ctrl_c_in_compare_says_the_same_command_continues(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(compare_command, "compare", interrupt)
    assert main(["compare", "--out", str(tmp_path / "cmp")]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "run the same command again" in err


def test_resume_on_a_compare_folder_says_to_use_compare(tmp_path, capsys):
    (tmp_path / "cmp").mkdir()
    (tmp_path / "cmp" / "compare.json").write_text("{}")
    assert main(["train", "--resume", str(tmp_path / "cmp")]) == 2
    err = capsys.readouterr().err
    assert "is a `textgym compare` folder" in err and "without --resume" not in err


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "grid: learning_rate\n",
            "key 'grid' holds 'learning_rate'; write a mapping of NAME: VALUES",
        ),
        ("rewards:\n  rougeL: 1\n", "key 'rewards' holds a mapping"),
        ("seeds: {a: 1}\n", "but --seeds takes one value or a list"),
    ],
)
def test_compare_config_file_of_the_wrong_form_names_file_key_and_form(
    text, message, tmp_path, capsys
):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SystemExit):
        main(["compare", "--config", str(path), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert f"--config {path}:" in err and message in err
    assert not (tmp_path / "o").exists()


def test_compare_config_grid_as_a_mapping_or_a_list(captured, tmp_path):
    forms = ("grid: {learning_rate: [1.0e-5, 2.0e-5]}\n", "grid: ['learning_rate=1e-5,2e-5']\n")
    for text in forms:
        (tmp_path / "g.yaml").write_text(text)
        assert main(["compare", "--config", str(tmp_path / "g.yaml"), "--out", str(tmp_path)]) == 0
        assert dict(captured[-1].grid) == {"learning_rate": (1e-5, 2e-5)}


def test_a_one_item_list_in_a_config_file_is_not_a_seed_list(captured, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("bad_words: [darn]\nallowed_tokens: [hello]\n")
    assert main(["train", "--config", str(path)]) == 0
    assert captured[-1].policy_kwargs == {"bad_words": ["darn"], "allowed_tokens": ["hello"]}


def test_policy_flags_next_to_a_non_object_in_policy_kwargs(capsys):
    assert main(["train", "--lora-r", "8", "--policy-kwargs", '{"lora": null}']) == 2
    assert "sets lora to None, not a JSON object" in capsys.readouterr().err


def test_bf16_on_cuda_without_a_gpu_names_the_device_not_bf16(capsys, monkeypatch):
    import torch as th

    monkeypatch.setattr(th.cuda, "is_available", lambda: False)
    assert main(["train", "--bf16", "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "no CUDA GPU" in err and "bfloat16" not in err


def test_policy_kwargs_inside_ppo_kwargs_is_refused(capsys):
    assert main(["train", "--ppo-kwargs", '{"policy_kwargs": {"dropout": true}}']) == 2
    assert "give the policy's options with --policy-kwargs" in capsys.readouterr().err
