"""Length in reward models: the fitted correction used in PPO, and length-debiased training."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch as th
from conftest import make_word_tokenizer
from test_reward_model_training import TOPICS, make_tiny_classifier_dir, tiny_config, write_jsonl

from textgym.errors import ConfigError
from textgym.reward_models import load_pairs, train_reward_model
from textgym.reward_models.duplicates import resolve_duplicates
from textgym.reward_models.length_decorrelation import length_correlation
from textgym.reward_models.length_fit import fit_length
from textgym.reward_models.splitting import split_pairs
from textgym.rewards import RewardModel, WordCount, make_reward


class LengthOnlyRM(th.nn.Module):
    """A 'reward model' whose logit is 1 + 0.25 per token: length alone sets the score."""

    def __init__(self):
        super().__init__()
        self.per_token = th.nn.Parameter(th.tensor(0.25))
        self.config = SimpleNamespace(num_labels=1, pad_token_id=0)

    def forward(self, input_ids, attention_mask):
        return SimpleNamespace(logits=(1.0 + self.per_token * attention_mask.sum(1))[:, None])


def texts_of_many_lengths(n=30, seed=0):
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(TOPICS, size=int(rng.integers(1, 20)))) for _ in range(n)]


def test_subtracting_the_fitted_length_term_leaves_a_constant_reward():
    tokenizer = make_word_tokenizer()  # one token per word
    texts, sources = texts_of_many_lengths(), ["the cat sat"] * 30
    raw = RewardModel(LengthOnlyRM(), tokenizer)(texts, [[""]] * 30, sources)
    fit = fit_length(raw, texts)
    assert fit.coef == pytest.approx(0.25) and fit.r2 == pytest.approx(1.0)
    assert np.std(raw) > 1.0
    corrected = RewardModel(LengthOnlyRM(), tokenizer, length_penalty=fit.coef)
    assert np.ptp(corrected(texts, [[""]] * 30, sources)) < 1e-5
    spec_form = {RewardModel(LengthOnlyRM(), tokenizer): 1.0, WordCount(): -fit.coef}
    assert np.ptp(make_reward(spec_form)(texts, [[""]] * 30, sources)) < 1e-5


def test_fit_without_length_variation_is_zero():
    fit = fit_length(np.array([1.0, 2.0, 3.0]), ["a b", "c d", "e f"])
    assert (fit.coef, fit.r2, fit.intercept) == (0.0, 0.0, 2.0)
    with pytest.raises(ValueError, match="one score per response"):
        fit_length(np.array([1.0]), ["a", "b"])


def length_pairs(n, seed=0):
    """Chosen is 5-8 words longer in 2 of 3 pairs; in the 3rd the two are equally long."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        short, gap = int(rng.integers(2, 6)), 0 if i % 3 == 0 else int(rng.integers(5, 9))
        rows.append(
            {
                "prompt": " ".join(rng.choice(TOPICS, size=4)),
                "chosen": " ".join(rng.choice(TOPICS, size=short + gap)),
                "rejected": " ".join(rng.choice(TOPICS, size=short)),
            }
        )
    return rows


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory) -> str:
    return make_tiny_classifier_dir(tmp_path_factory.mktemp("tiny_cls_length"))


@pytest.fixture(scope="module")
def length_file(tmp_path_factory) -> str:
    return write_jsonl(tmp_path_factory.mktemp("length") / "pairs.jsonl", length_pairs(400))


def train(length_file, tiny_base, out, **overrides):
    settings = dict(epochs=6, max_length=32, **overrides)
    return train_reward_model(tiny_config(length_file, tiny_base, out, **settings))


def test_plain_training_learns_length_and_the_fit_removes_it(length_file, tiny_base, tmp_path):
    out = tmp_path / "rm"
    result = train(length_file, tiny_base, out)
    acc = result.heldout["accuracy"]
    assert abs(acc["trained"]["all"]["accuracy"] - acc["longer_wins"]["all"]["accuracy"]) < 0.1
    matched = acc["trained"]["length_matched"]
    assert matched["n"] > 25 and abs(matched["accuracy"] - 0.5) < 0.25  # length cannot decide
    fit = json.loads((out / "metrics.json").read_text())["length_fit"]
    assert fit["coef"] > 0.1 and fit["r2"] > 0.5 and fit["unit"] == "words"
    assert fit["reward_spec"] == f"rm:{out}:1,word_count:{-fit['coef']:.6g}"
    train_pairs, _ = split_pairs(resolve_duplicates(load_pairs(length_file))[0], 0.25, seed=0)
    texts = [t for p in train_pairs for t in (p.chosen, p.rejected)]
    prompts = [p.prompt for p in train_pairs for _ in range(2)]
    words, refs = [len(t.split()) for t in texts], [[""]] * len(texts)
    raw = RewardModel(out)(texts, refs, prompts)
    corrected = RewardModel(out, length_penalty="fit")(texts, refs, prompts)
    assert np.corrcoef(raw, words)[0, 1] > 0.7
    assert abs(np.corrcoef(corrected, words)[0, 1]) < 1e-3  # least squares: no length left
    spec_form = make_reward(fit["reward_spec"])(texts, refs, prompts)  # coef to 6 digits
    np.testing.assert_allclose(spec_form, corrected, atol=1e-4)
    option = make_reward(f"rm:{out}[length_penalty=fit]")
    np.testing.assert_allclose(option(texts, refs, prompts), corrected, atol=1e-6)
    half = make_reward(f"rm:{out}[length_penalty=0.5,device=cpu]")
    np.testing.assert_allclose(half(texts, refs, prompts), raw - 0.5 * np.array(words), atol=1e-5)
    with pytest.raises(ConfigError, match=r"length_penalty=much, not 'fit' or a number"):
        make_reward(f"rm:{out}[length_penalty=much]")


def test_length_decorrelation_stops_the_model_paying_for_length(length_file, tiny_base, tmp_path):
    plain = train(length_file, tiny_base, tmp_path / "plain")
    debiased = train(length_file, tiny_base, tmp_path / "odin", length_decorrelation=1.0)
    assert plain.length_fit["r2"] > 0.5 and debiased.length_fit["r2"] < 0.1
    longer_wins = debiased.heldout["accuracy"]["longer_wins"]["all"]["accuracy"]
    assert debiased.accuracy_after < longer_wins - 0.1 < plain.accuracy_after
    assert debiased.config.length_decorrelation == 1.0


def test_length_correlation_term():
    words = th.tensor([1.0, 2.0, 3.0, 4.0])
    assert length_correlation(2 * words + 1, words).item() == pytest.approx(1.0)
    assert length_correlation(-words, words).item() == pytest.approx(1.0)
    assert length_correlation(th.ones(4), words).item() == 0.0
    rewards = th.tensor([0.3, -1.0, 2.0, 0.5], requires_grad=True)
    length_correlation(rewards, words).backward()
    assert th.isfinite(rewards.grad).all() and rewards.grad.abs().sum() > 0


def test_length_penalty_errors(tiny_base, tmp_path):
    tokenizer = make_word_tokenizer()
    with pytest.raises(ConfigError, match="local model folder"):
        RewardModel(LengthOnlyRM(), tokenizer, length_penalty="fit")
    with pytest.raises(ConfigError, match=r"metrics\.json.*does not exist.*train-rm"):
        RewardModel(tiny_base, length_penalty="fit")  # a model folder without a fit
    with pytest.raises(ConfigError, match="finite number"):
        RewardModel(tiny_base, length_penalty="auto")
    with pytest.raises(ConfigError, match="length_decorrelation=-1"):
        train_reward_model(tiny_config("x.jsonl", tiny_base, tmp_path, length_decorrelation=-1))
    with pytest.raises(ConfigError, match="split_by=''"):
        train_reward_model(tiny_config("x.jsonl", tiny_base, tmp_path, split_by=""))
