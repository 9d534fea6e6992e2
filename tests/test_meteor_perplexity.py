"""METEOR (offline, WordNet optional) and perplexity as rewards: values, specs, bad input."""

from __future__ import annotations

import math
import pickle
import sys
import warnings

import numpy as np
import pytest
import torch as th

from textgym.errors import ConfigError
from textgym.models import DEFAULT_MODEL
from textgym.rewards import (
    Meteor,
    Perplexity,
    WeightedSum,
    list_rewards,
    make_reward,
    needs_references,
    parse_reward_spec,
)
from textgym.rewards import meteor as meteor_module


def run(reward, generations, references=None):
    references = references or [["unused"]] * len(generations)
    return reward(generations, references, ["source"] * len(generations))


@pytest.fixture
def without_wordnet(monkeypatch):
    """METEOR as on a machine without nltk's WordNet corpus (a fresh one-time warning)."""
    monkeypatch.setattr(meteor_module, "wordnet_available", lambda: False)
    meteor_module._scorer.cache_clear()
    yield
    meteor_module._scorer.cache_clear()


# --- METEOR --------------------------------------------------------------------------------


def test_meteor_by_hand(without_wordnet):
    with pytest.warns(UserWarning, match="WordNet corpus is not installed"):
        out = run(
            Meteor(),
            ["The cat sat on the mat.", "", "cats sat"],
            [["the cat sat on the mat ."]] * 3,
        )
    # 7 of 7 tokens match in one chunk: 1 - 0.5 * (1/7)^3
    assert out[0] == pytest.approx(1 - 0.5 * (1 / 7) ** 3)
    assert out[1] == 0.0
    # "cats" matches "cat" by its Porter stem: P = 2/2, R = 2/7, one chunk of two
    precision, recall = 1.0, 2 / 7
    fmean = precision * recall / (0.9 * precision + 0.1 * recall)
    assert out[2] == pytest.approx(fmean * (1 - 0.5 * (1 / 2) ** 3))


def test_meteor_warns_once_and_matches_no_synonyms_without_wordnet(without_wordnet):
    reward = make_reward("meteor")
    with pytest.warns(UserWarning):
        run(reward, ["a big dog"], [["a large dog"]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = run(Meteor(), ["big", "large"], [["large"], ["large"]])
    assert out[0] == 0.0 and out[1] == 0.5  # one word in one chunk: penalty 0.5 * 1^3
    assert not Meteor().uses_wordnet


@pytest.mark.skipif(not meteor_module.wordnet_available(), reason="nltk's WordNet not installed")
def test_meteor_matches_synonyms_with_wordnet():
    assert run(Meteor(), ["big"], [["large"]])[0] > 0


def test_meteor_references_and_registry(without_wordnet):
    reward = make_reward("meteor")
    assert isinstance(reward, Meteor) and {"meteor", "perplexity"} <= set(list_rewards())
    refs = [["the cat sat", "a dog ran"]]
    with pytest.warns(UserWarning):
        best = run(reward, ["the cat sat"], refs)[0]
    mean = run(Meteor(multi_reference="mean"), ["the cat sat"], refs)[0]
    assert mean == pytest.approx(best / 2)  # the second reference matches nothing
    restored = pickle.loads(pickle.dumps(reward))
    assert run(restored, ["the cat sat"], refs)[0] == best
    assert needs_references(reward)


@pytest.mark.parametrize("language", ["de", "fr", "EN", ""])
def test_meteor_rejects_other_languages(language):
    with pytest.raises(ConfigError, match="English only.*'chrf' or 'bleu'"):
        Meteor(language=language)


def test_meteor_rejects_bad_multi_reference():
    with pytest.raises(ConfigError, match="multi_reference"):
        Meteor(multi_reference="min")


# --- perplexity ----------------------------------------------------------------------------


def hand_log_probs(tiny_lm_dir, text):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_lm_dir)
    lm = AutoModelForCausalLM.from_pretrained(tiny_lm_dir).eval()
    ids = [tokenizer.eos_token_id, *tokenizer(text, add_special_tokens=False)["input_ids"]]
    with th.no_grad():
        logits = lm(input_ids=th.tensor([ids])).logits[0]
    return [float(logits[t].log_softmax(-1)[ids[t + 1]]) for t in range(len(ids) - 1)]


def test_perplexity_by_hand_and_batched(tiny_lm_dir):
    from transformers import AutoTokenizer

    reward = Perplexity(tiny_lm_dir, batch_size=2, device="cpu")
    texts = ["the cat sat on the mat", "dog", "the cat sat on the mat", "  ", "a big red sun"]
    out = run(reward, texts)
    for text, value in zip(texts, out, strict=True):
        if text.strip():  # padding in a batch changes nothing
            assert value == pytest.approx(np.mean(hand_log_probs(tiny_lm_dir, text)), abs=1e-5)
    vocab = len(AutoTokenizer.from_pretrained(tiny_lm_dir))
    assert out[3] == pytest.approx(-math.log(vocab))  # empty: a uniform guess over the vocabulary
    assert out[0] == out[2]
    assert run(Perplexity(tiny_lm_dir, batch_size=16, device="cpu"), texts) == pytest.approx(out)


def test_perplexity_specs(tiny_lm_dir):
    assert make_reward("perplexity").model == DEFAULT_MODEL
    chosen = make_reward(f"perplexity:{tiny_lm_dir}")
    assert isinstance(chosen, Perplexity) and chosen.model == tiny_lm_dir
    assert chosen.name == f"perplexity:{tiny_lm_dir}" and not needs_references(chosen)
    assert parse_reward_spec("perplexity:0.1,rougeL:0.9") == {"perplexity": 0.1, "rougeL": 0.9}
    mixed = make_reward(f"perplexity:{tiny_lm_dir}:0.5,rougeL:0.5")
    assert isinstance(mixed, WeightedSum) and needs_references(mixed)
    with pytest.raises(ConfigError, match="empty weight"):
        make_reward("perplexity:")
    with pytest.raises(ConfigError, match="names no model"):
        WeightedSum({"perplexity: ": 1.0})


def test_perplexity_pickles_without_its_model(tiny_lm_dir):
    reward = Perplexity(tiny_lm_dir, device="cpu")
    before = run(reward, ["the cat"])
    restored = pickle.loads(pickle.dumps(reward))
    assert len(pickle.dumps(reward)) < 2000 and run(restored, ["the cat"]) == pytest.approx(before)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"max_length": 1}, "max_length"),
        ({"model": ""}, "names no model"),
        ({"device": "gpu"}, "not a torch device"),
    ],
)
def test_perplexity_rejects_bad_settings(kwargs, fragment):
    with pytest.raises(ConfigError, match=fragment):
        Perplexity(**kwargs)


def test_perplexity_rejects_missing_models(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        Perplexity(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="Could not load"):
        run(Perplexity(str(tmp_path / "empty"), device="cpu"), ["text"])


def test_meteor_without_nltk_names_the_install(without_wordnet, monkeypatch):
    monkeypatch.setitem(sys.modules, "nltk.translate.meteor_score", None)  # import fails
    with pytest.raises(ConfigError, match=r"textgym\[meteor\]"):
        run(Meteor(), ["the cat"], [["the cat"]])
