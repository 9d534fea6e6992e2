"""Reward specs as text: one grammar for make_reward, `textgym train` and `textgym compare`."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import fake_model_folder

from textgym.cli import main
from textgym.errors import ConfigError, UnknownNameError
from textgym.experiments import CompareConfig
from textgym.rewards import (
    RewardModel,
    Rouge,
    WeightedSum,
    make_reward,
    parse_reward_spec,
    register_reward,
    score,
)
from textgym.rewards.spec import check_model_folders, split_reward_list

CAT, CAT_MAT = "the cat sat", "the cat sat on the mat"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rougeL", "rougeL"),
        (" rougeL ", "rougeL"),
        ("evaluate:exact_match", "evaluate:exact_match"),
        ("rm:runs/rm", "rm:runs/rm"),
        ("rm:/abs/rm", "rm:/abs/rm"),
        ("rm:C:/models/rm", "rm:C:/models/rm"),  # a ':' that is not followed by a number
        ("rougeL:0.7", {"rougeL": 0.7}),
        ("rougeL:0.7, chrf : 0.3", {"rougeL": 0.7, "chrf": 0.3}),
        ("rm:/abs/rm:0.5,rougeL:0.5", {"rm:/abs/rm": 0.5, "rougeL": 0.5}),
        ("rm:C:/models/rm:1e-1,length:-2", {"rm:C:/models/rm": 0.1, "length": -2.0}),
        ("evaluate:exact_match:0.25,bleu:0.75", {"evaluate:exact_match": 0.25, "bleu": 0.75}),
    ],
)
def test_parse_reward_spec(text, expected):
    assert parse_reward_spec(text) == expected


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("rougeL:0.5,chrf", ["'chrf' has no weight", "'rougeL:0.5,chrf:0.5'"]),
        ("rougeL,chrf:0.3,bleu", ["'rougeL', 'bleu' have no weight", "'rougeL:0.5,chrf:0.3,bleu"]),
        ("rouge1,rougeL", ["have no weight", "textgym compare --rewards rouge1,rougeL"]),
        ("rougeL:0.5,,chrf:0.5", ["empty part"]),
        ("rougeL:0.5,", ["empty part"]),
        ("", ["is empty"]),
        ("rougeL:,chrf:1", ["'rougeL:' has an empty weight", "'rougeL:0.5'"]),
        (":0.5", ["a weight without a reward"]),
        ("rougeL:1,rougeL:2", ["gives 'rougeL' twice"]),
    ],
)
def test_bad_specs_name_the_problem_and_the_fix(text, fragments):
    with pytest.raises(ConfigError) as info:
        parse_reward_spec(text)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_make_reward_builds_weighted_sums_from_text():
    reward = make_reward("rougeL:0.7,chrf:0.3")
    assert isinstance(reward, WeightedSum) and reward.weights == {"rougeL": 0.7, "chrf": 0.3}
    gens, refs = [CAT, CAT_MAT, ""], [[CAT_MAT]] * 3
    expected = score(make_reward({"rougeL": 0.7, "chrf": 0.3}), gens, refs, ["s"] * 3)[0]
    np.testing.assert_array_equal(score(reward, gens, refs, ["s"] * 3)[0], expected)
    with pytest.raises(ConfigError, match="finite"):
        make_reward("rougeL:nan")


def test_reward_model_paths_with_and_without_weights(tmp_path):
    folder = fake_model_folder(tmp_path / "my_rm")
    single = make_reward(f"rm:{folder}")
    assert isinstance(single, RewardModel) and single.model == str(folder)
    mixed = make_reward(f"rm:{folder}:0.5,rougeL:0.5")
    assert isinstance(mixed, WeightedSum) and mixed.weights == {"rm:my_rm": 0.5, "rougeL": 0.5}
    assert isinstance(mixed.parts["rm:my_rm"], RewardModel)


def test_weighted_sum_parts_are_not_reparsed():
    # a part's string is one reward: "rougeL:0.5" inside a mapping is not a nested sum
    with pytest.raises(UnknownNameError, match="Unknown reward .rougeL:0.5."):
        WeightedSum({"rougeL:0.5": 1.0})


def test_reward_names_cannot_hold_the_sum_separator():
    with pytest.raises(ConfigError, match="without commas"):
        register_reward("a,b", Rouge)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rouge1,rougeL,bleu", ("rouge1", "rougeL", "bleu")),
        ("rouge1, rm:runs/rm", ("rouge1", "rm:runs/rm")),
        ("rougeL:0.5,chrf:0.5", ("rougeL:0.5,chrf:0.5",)),
        ("rougeL:0.7", ("rougeL:0.7",)),
    ],
)
def test_split_reward_list(text, expected):
    assert split_reward_list(text) == expected


# --- the commands --------------------------------------------------------------------------


@pytest.fixture
def captured_train(monkeypatch):
    """Run `textgym train` up to the call to train(); return the config it would train."""
    from textgym.commands import train as train_command

    configs = []
    monkeypatch.setattr(train_command, "train", lambda config, **_: configs.append(config))
    monkeypatch.setattr(train_command, "print_report", lambda result: None)
    return configs


def test_train_accepts_reward_model_paths_and_mixed_sums(captured_train, tmp_path):
    folder = fake_model_folder(tmp_path / "rm")
    for spec in (f"rm:{folder}", f"rm:{folder}:0.5,rougeL:0.5", "rougeL:0.7,chrf:0.3"):
        assert main(["train", "--reward", spec, "--out", str(tmp_path / "out")]) == 0
        assert captured_train[-1].reward == spec
    assert isinstance(make_reward(captured_train[0].reward), RewardModel)
    assert set(make_reward(captured_train[1].reward).parts) == {"rm:rm", "rougeL"}


def test_train_names_the_part_without_a_weight(captured_train, capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--reward", "rougeL:0.5,chrf"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and not captured_train
    assert "'chrf' has no weight" in err and "'rougeL:0.5,chrf:0.5'" in err


@pytest.fixture
def captured_compare(monkeypatch):
    """Run `textgym compare` up to the call to compare(); return the config it would run."""
    from textgym.commands import compare as compare_command

    configs = []
    monkeypatch.setattr(compare_command, "compare", lambda config: configs.append(config))
    monkeypatch.setattr(compare_command, "print_summary", lambda result: None)
    return configs


def test_compare_takes_lists_and_weighted_sums(captured_compare, tmp_path):
    out = ["--out", str(tmp_path)]
    assert main(["compare", "--rewards", "rouge1,rougeL,bleu", *out]) == 0
    assert captured_compare[-1].rewards == ("rouge1", "rougeL", "bleu")
    args = ["--rewards", "rouge1,rougeL", "--rewards", "rougeL:0.5,chrf:0.5"]
    assert main(["compare", *args, *out]) == 0
    assert captured_compare[-1].rewards == ("rouge1", "rougeL", "rougeL:0.5,chrf:0.5")
    assert main(["compare", *out]) == 0
    assert captured_compare[-1].rewards == CompareConfig().rewards


def test_compare_rejects_a_sum_with_a_missing_weight(captured_compare, capsys):
    with pytest.raises(SystemExit) as info:
        main(["compare", "--rewards", "rougeL:0.5,chrf"])
    assert info.value.code == 2 and "'chrf' has no weight" in capsys.readouterr().err


def test_compare_help_documents_the_list_forms(capsys):
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--rewards rouge1,rougeL --rewards rougeL:0.5,chrf:0.5" in text


@pytest.mark.parametrize("spec", ["rougeL:abc", "rougeL:abc,chrf:0.3"])
def test_a_weight_that_is_not_a_number_is_named(spec):
    with pytest.raises(ConfigError, match="the weight 'abc' of 'rougeL' is not a number"):
        make_reward(spec)


@pytest.mark.parametrize("prefix, kind", [("rm:", "reward model"), ("clf:", "classifier")])
def test_a_model_folder_without_a_model_is_named_before_anything_loads(
    prefix, kind, tmp_path, capsys
):
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match=f"holds no {kind}: it lacks weights"):
        check_model_folders(f"rougeL:0.5,{prefix}{folder}:0.5")
    with pytest.raises(SystemExit):
        main(["train", "--reward", f"{prefix}{folder}"])
    assert f"holds no {kind}" in capsys.readouterr().err


@pytest.mark.parametrize("weight", ["nan", "inf", "-inf"])
def test_a_weight_must_be_finite(weight):
    with pytest.raises(ConfigError, match="must be a finite number"):
        parse_reward_spec(f"rougeL:{weight},chrf:0.5")


def test_an_adapter_folder_is_a_model_folder(tmp_path):
    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "adapter_config.json").write_text("{}")
    (folder / "adapter_model.safetensors").write_bytes(b"")
    check_model_folders(f"rm:{folder}")


def test_a_missing_folder_under_a_local_folder_is_not_taken_for_a_hub_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    with pytest.raises(ConfigError, match="The reward model folder 'runs/rm' does not exist"):
        check_model_folders("rm:runs/rm")
    check_model_folders("rm:org/name")  # a Hub name: checked when it loads
