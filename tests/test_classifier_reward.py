"""Classifier rewards (`clf:PATH[label=...,transform=...]`) on a tiny random classifier."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch as th
from conftest import make_word_tokenizer, tiny_llama_config

from textgym.cli import main
from textgym.errors import ConfigError
from textgym.rewards import (
    ClassifierReward,
    WeightedSum,
    format_pair,
    make_reward,
    needs_references,
    parse_reward_spec,
    register_reward,
    score,
)
from textgym.rewards.classifier import transform_logits
from textgym.rewards.classifier_spec import parse_classifier_spec
from textgym.rewards.spec import split_reward_list

TEXTS = ["the cat sat on the mat", "good", "a big red dog ran in the park and it was happy", ""]
SOURCES = ["the dog sat", "hello", "a day in the park", "rain"]
NO_REFS = [[""]] * len(TEXTS)


def make_classifier(problem_type: str | None = None, labels=("neg", "pos"), seed: int = 0):
    """A tiny random Llama sequence classifier over the word tokenizer, and the tokenizer."""
    from transformers import LlamaForSequenceClassification

    tokenizer = make_word_tokenizer()
    th.manual_seed(seed)
    config = tiny_llama_config(
        len(tokenizer),
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
        problem_type=problem_type,
    )
    return LlamaForSequenceClassification(config).eval(), tokenizer


@pytest.fixture(scope="module")
def clf_dir(tmp_path_factory) -> str:
    """A folder with a two-label classifier {0: 'neg', 1: 'pos'} and its tokenizer."""
    path = tmp_path_factory.mktemp("tiny_clf")
    model, tokenizer = make_classifier()
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def manual_logits(folder: str, texts: list[str]) -> np.ndarray:
    """The classifier's logits, one unpadded text at a time, shape ``(n, labels)``."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    rows = []
    with th.no_grad():
        for text in texts:
            ids = th.tensor([tokenizer(text)["input_ids"] or [tokenizer.pad_token_id]])
            rows.append(model(input_ids=ids).logits[0].double().numpy())
    return np.stack(rows)


def run(reward, texts=TEXTS, sources=SOURCES):
    return score(reward, texts, [[""]] * len(texts), sources)[0]


def test_prob_is_the_softmax_of_the_models_logits(clf_dir):
    scores = run(ClassifierReward(clf_dir, label="pos"))
    logits = manual_logits(clf_dir, TEXTS)  # the empty text is read as one pad token
    expected = np.exp(logits[:, 1]) / np.exp(logits).sum(axis=1)
    assert np.all((scores >= 0) & (scores <= 1))
    np.testing.assert_allclose(scores, expected, atol=1e-5)


def test_transforms_and_label_by_name_or_index(clf_dir):
    prob = run(ClassifierReward(clf_dir, label="pos"))
    for label in (1, "1", "POS"):
        np.testing.assert_allclose(run(ClassifierReward(clf_dir, label=label)), prob)
    neg = run(ClassifierReward(clf_dir, label="neg"))
    np.testing.assert_allclose(neg, 1 - prob, atol=1e-12)
    not_prob = run(ClassifierReward(clf_dir, label="pos", transform="not_prob"))
    np.testing.assert_allclose(not_prob, 1 - prob, atol=1e-12)
    logprob = run(ClassifierReward(clf_dir, label="pos", transform="logprob"))
    np.testing.assert_allclose(logprob, np.log(prob), atol=1e-12)
    logit = run(ClassifierReward(clf_dir, label="neg", transform="logit"))
    np.testing.assert_allclose(logit, manual_logits(clf_dir, TEXTS)[:, 0], atol=1e-5)


def test_prompt_plus_response_reads_format_pair(clf_dir):
    scores = run(ClassifierReward(clf_dir, label="pos", text="prompt+response"))
    pairs = [format_pair(s, t) for t, s in zip(TEXTS, SOURCES, strict=True)]
    logits = manual_logits(clf_dir, pairs)
    np.testing.assert_allclose(scores, np.exp(logits[:, 1]) / np.exp(logits).sum(1), atol=1e-5)


def test_batching_equals_one_at_a_time(clf_dir):
    texts = [" ".join(["the cat sat"] * k) for k in (1, 5, 2, 9, 3)]
    one = run(ClassifierReward(clf_dir, label="pos", batch_size=1), texts, ["s"] * 5)
    many = run(ClassifierReward(clf_dir, label="pos", batch_size=4), texts, ["s"] * 5)
    np.testing.assert_allclose(many, one, atol=1e-5)


def test_a_model_object_scores_like_its_folder(clf_dir):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(clf_dir)
    reward = ClassifierReward(model, label="pos", tokenizer=clf_dir)
    assert reward.name == "clf[label=pos]" and reward.labels() == {0: "neg", 1: "pos"}
    np.testing.assert_allclose(run(reward), run(ClassifierReward(clf_dir, label="pos")))


def test_multi_label_and_one_label_models_use_a_sigmoid():
    model, tokenizer = make_classifier("multi_label_classification", ("toxic", "insult", "threat"))
    reward = ClassifierReward(model, label="insult", tokenizer=tokenizer)
    logits = ClassifierReward(model, label="insult", transform="logit", tokenizer=tokenizer)
    np.testing.assert_allclose(run(reward), 1 / (1 + np.exp(-run(logits))), atol=1e-12)
    single, _ = make_classifier(labels=("score",))
    one = ClassifierReward(single, tokenizer=tokenizer)  # one label: no label= needed
    raw = ClassifierReward(single, transform="logit", tokenizer=tokenizer)
    np.testing.assert_allclose(run(one), 1 / (1 + np.exp(-run(raw))), atol=1e-12)


def test_transform_logits_by_hand():
    logits = np.array([[0.0, np.log(3.0)], [2.0, 2.0]])
    np.testing.assert_allclose(transform_logits(logits, 1, "prob", False), [0.75, 0.5])
    np.testing.assert_allclose(transform_logits(logits, 1, "not_prob", False), [0.25, 0.5])
    np.testing.assert_allclose(transform_logits(logits, 0, "logprob", False), np.log([0.25, 0.5]))
    np.testing.assert_allclose(transform_logits(logits, 0, "prob", True), [0.5, 1 / (1 + np.e**-2)])
    np.testing.assert_array_equal(transform_logits(logits, 0, "logit", True), [0.0, 2.0])


@pytest.mark.parametrize(
    ("label", "fragment"),
    [("toxic", "has no label 'toxic'"), (None, "has 2 labels; pick one"), (5, "no label 5")],
)
def test_a_label_the_model_lacks_lists_its_labels(clf_dir, label, fragment):
    with pytest.raises(ConfigError) as info:
        ClassifierReward(clf_dir, label=label)  # checked when built, not at the first rollout
    message = str(info.value)
    assert fragment in message and "0='neg', 1='pos'" in message and "label=" in message


def test_a_model_without_a_classification_head_is_refused(tiny_lm_dir, word_tokenizer):
    from transformers import AutoModelForCausalLM

    with pytest.raises(ConfigError, match="LlamaForCausalLM, not a sequence classifier"):
        make_reward(f"clf:{tiny_lm_dir}[label=pos]")
    lm = AutoModelForCausalLM.from_pretrained(tiny_lm_dir)
    with pytest.raises(ConfigError, match="no trained classification head"):
        ClassifierReward(lm, label=0, tokenizer=word_tokenizer)


def test_bad_settings(clf_dir, tmp_path):
    with pytest.raises(ConfigError, match="transform='neg_prob' is not one of"):
        ClassifierReward(clf_dir, label="pos", transform="neg_prob")
    with pytest.raises(ConfigError, match="text='source' is not one of"):
        ClassifierReward(clf_dir, label="pos", text="source")
    with pytest.raises(ConfigError, match="does not exist"):
        ClassifierReward(str(tmp_path / "missing"), label="pos")
    with pytest.raises(ConfigError, match="no tokenizer"):
        ClassifierReward(make_classifier()[0], label="pos")


def test_reads_no_references_and_pickles_without_the_model(clf_dir):
    reward = ClassifierReward(clf_dir, label="pos")
    assert not needs_references(reward)
    before = run(reward)
    copy = pickle.loads(pickle.dumps(reward))
    assert copy._loaded is None
    np.testing.assert_allclose(run(copy), before)


# --- specs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("clf:org/tox[label=toxic]", "clf:org/tox[label=toxic]"),
        ("clf:C:/m/tox[label=1,transform=logit]", "clf:C:/m/tox[label=1,transform=logit]"),
        (
            "rougeL:0.8,clf:org/tox[label=toxic,transform=not_prob]:0.2",
            {"rougeL": 0.8, "clf:org/tox[label=toxic,transform=not_prob]": 0.2},
        ),
        ("clf:org/tox[label=a:1]:-1", {"clf:org/tox[label=a:1]": -1.0}),
    ],
)
def test_parse_classifier_specs(text, expected):
    assert parse_reward_spec(text) == expected


def test_parse_classifier_spec_options():
    assert parse_classifier_spec("clf:org/tox") == ("org/tox", {})
    spec = "clf:/m/run[1][ label = pos , text=prompt+response ]"
    assert parse_classifier_spec(spec) == ("/m/run[1]", {"label": "pos", "text": "prompt+response"})
    assert parse_classifier_spec("clf:/m/run[1][]") == ("/m/run[1]", {})


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("clf:org/tox[lable=toxic]", "unknown option 'lable'. Did you mean 'label'?"),
        ("clf:org/tox[toxic]", "'toxic', not KEY=VALUE"),
        ("clf:org/tox[label=]", "'label=', not KEY=VALUE"),
        ("clf:org/tox[label=a,label=b]", "gives 'label' twice"),
        ("clf:org/tox[transform=neg]", "transform=neg, not one of prob|not_prob|logprob|logit"),
        ("clf:[label=toxic]", "names no model"),
        ("clf:org/tox[label=toxic:0.2", "opens a '[' it never closes"),
        ("rougeL:0.8,clf:org/tox[label=toxic", "opens a '[' it never closes"),
    ],
)
def test_bad_classifier_specs_name_the_problem_and_an_example(text, fragment):
    with pytest.raises(ConfigError) as info:
        parse_reward_spec(text)
    message = str(info.value)
    assert fragment in message
    assert "clf:unitary/toxic-bert[label=toxic,transform=not_prob]" in message


def test_a_classifier_part_without_a_weight_gets_a_fixed_example():
    with pytest.raises(ConfigError, match=r"'rougeL:0.8,clf:org/tox\[label=toxic\]:0.5'"):
        parse_reward_spec("rougeL:0.8,clf:org/tox[label=toxic]")


def test_make_reward_alone_and_in_a_weighted_sum_with_rouge(clf_dir):
    alone = make_reward(f"clf:{clf_dir}[label=pos,transform=not_prob]")
    assert isinstance(alone, ClassifierReward)
    assert (alone.label, alone.transform, alone.text) == ("pos", "not_prob", "response")
    mixed = make_reward(f"rougeL:0.8,clf:{clf_dir}[label=pos,transform=not_prob]:0.2")
    name = f"clf:{alone.name.split(':', 1)[1]}"
    assert isinstance(mixed, WeightedSum) and mixed.weights == {"rougeL": 0.8, name: 0.2}
    refs = [["the cat sat"]] * len(TEXTS)
    total, parts = score(mixed, TEXTS, refs, SOURCES)
    np.testing.assert_allclose(parts[name], run(alone))
    np.testing.assert_allclose(total, 0.8 * parts["rougeL"] + 0.2 * parts[name])
    assert not needs_references(make_reward(f"clf:{clf_dir}[label=pos]:1,word_count:-0.1"))


def test_make_reward_reports_unknown_labels(clf_dir):
    with pytest.raises(ConfigError, match="has no label 'toxic'.*0='neg', 1='pos'"):
        make_reward(f"rougeL:0.5,clf:{clf_dir}[label=toxic]:0.5")


def test_compare_lists_split_outside_brackets():
    spec = "clf:org/tox[label=toxic,transform=not_prob]"
    assert split_reward_list(f"rougeL, {spec}") == ("rougeL", spec)
    assert split_reward_list(f"rougeL:0.8,{spec}:0.2") == (f"rougeL:0.8,{spec}:0.2",)


def test_the_clf_prefix_is_reserved():
    with pytest.raises(ConfigError, match="'clf:'"):
        register_reward("clf:mine", lambda: None)


# --- the commands (parse only; nothing is trained) -----------------------------------------


@pytest.fixture
def captured_train(monkeypatch):
    """Run `textgym train` up to the call to train(); return the configs it would train."""
    from textgym.commands import train as train_command

    configs = []
    monkeypatch.setattr(train_command, "train", lambda config, **_: configs.append(config))
    monkeypatch.setattr(train_command, "print_report", lambda result: None)
    return configs


def test_train_cli_takes_a_weighted_sum_with_a_classifier(captured_train, clf_dir, tmp_path):
    spec = f"rougeL:0.8,clf:{clf_dir}[label=pos,transform=not_prob]:0.2"
    assert main(["train", "--reward", spec, "--out", str(tmp_path / "out")]) == 0
    assert captured_train[-1].reward == spec
    reward = make_reward(captured_train[-1].reward)
    assert isinstance(reward, WeightedSum) and reward.weights["rougeL"] == 0.8


def test_train_cli_rejects_a_bad_classifier_spec(captured_train, capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--reward", "rougeL:0.8,clf:org/tox[lable=toxic]:0.2"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and not captured_train
    assert "unknown option 'lable'" in err and "clf:unitary/toxic-bert[label=toxic" in err


def test_compare_cli_takes_classifier_rewards(monkeypatch, clf_dir, tmp_path):
    from textgym.commands import compare as compare_command

    configs = []
    monkeypatch.setattr(compare_command, "compare", configs.append)
    monkeypatch.setattr(compare_command, "print_summary", lambda result: None)
    spec = f"clf:{clf_dir}[label=pos]"
    assert main(["compare", "--rewards", f"rougeL,{spec}", "--out", str(tmp_path)]) == 0
    assert configs[-1].rewards == ("rougeL", spec)


def test_reward_models_and_classifiers_take_a_device(clf_dir):
    from textgym.rewards import RewardModel, make_reward
    from textgym.rewards.classifier_spec import parse_rm_spec

    assert parse_rm_spec("rm:runs/rm[device=cuda:1]") == ("runs/rm", {"device": "cuda:1"})
    assert parse_rm_spec("rm:runs/rm") == ("runs/rm", {})
    rm = make_reward(f"rm:{clf_dir}[device=cpu]")
    assert isinstance(rm, RewardModel) and str(rm.device) == "cpu"
    clf = make_reward(f"clf:{clf_dir}[label=pos,device=cpu]")
    assert str(clf.device) == "cpu" and run(clf).shape == (len(TEXTS),)
    total = make_reward(f"rougeL:0.5,rm:{clf_dir}[device=cpu]:0.5")
    assert sorted(total.weights.values()) == [0.5, 0.5]
    with pytest.raises(ConfigError, match=r"unknown option 'label'.*rm:runs/rm\[device=cuda:1\]"):
        make_reward(f"rm:{clf_dir}[label=pos]")
    with pytest.raises(ConfigError, match="device"):
        make_reward(f"rm:{clf_dir}[device=cuda:7]")
