"""Guards against runs that learn nothing: zero-variance groups, capped episodes, dead rollouts."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from conftest import tiny_train_config

from textgym.errors import ConfigError
from textgym.training import TrainConfig, train
from textgym.training.signal_health import dead_message, group_zero_std_share


def test_zero_std_share_by_hand():
    starts = np.zeros((6, 4))
    starts[[0, 3]] = 1  # two rounds of 3-step episodes, groups of 2 envs
    returns = np.zeros((6, 4))
    returns[0] = [1.0, 1.0, 0.0, 0.5]  # group 0 equal, group 1 not
    returns[3] = [0.2, 0.2, 0.3, 0.3]  # both equal
    assert group_zero_std_share(returns, starts, 2) == pytest.approx(3 / 4)
    assert np.isnan(group_zero_std_share(returns, starts, 1))  # no groups


def test_dead_message_names_the_cause_and_the_fix():
    entry = {"zero_std_groups": 1.0, "length_capped": 1.0, "zero_advantages": 1.0}
    text = dead_message(entry, 32)
    assert "same reward" in text and "max_new_tokens=32" in text and "--max-new-tokens" in text


def grouped(tiny_lm_dir, tmp_path, **overrides):
    settings = dict(
        timesteps=64,
        n_envs=4,
        n_steps=4,
        batch_size=16,
        max_new_tokens=4,
        group_size=2,
        advantage="rloo",
        out=str(tmp_path / "run"),
        eval_examples=1,
        checkpoint_every=0,
    )
    return tiny_train_config(tiny_lm_dir, **{**settings, **overrides})


def test_a_reward_that_never_varies_warns_once_and_is_logged(tiny_lm_dir, tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = train(grouped(tiny_lm_dir, tmp_path, reward="none"), progress_bar=False)
    dead = [w for w in caught if "no gradient signal" in str(w.message)]
    assert len(dead) == 1 and "same reward" in str(dead[0].message)
    health = result.signal_health
    assert health["rollouts"] == 4 and health["dead_rollouts"] == 4 and health["stopped"] is None
    assert health["zero_std_groups"] == 1.0 and health["zero_advantages"] == 1.0
    metrics = json.loads((tmp_path / "run/metrics.json").read_text())
    assert [h["timesteps"] for h in metrics["signal_health"]] == [16, 32, 48, 64]
    assert all(h["length_capped"] >= 0 for h in metrics["signal_health"])


def test_stop_on_dead_signal_stops_training_with_the_reason(tiny_lm_dir, tmp_path):
    config = grouped(tiny_lm_dir, tmp_path, reward="none", stop_on_dead_signal=2)
    with pytest.warns(UserWarning, match="after 2 dead rollouts in a row"):
        result = train(config, progress_bar=False)
    assert result.model.num_timesteps < config.timesteps
    assert result.signal_health["rollouts"] == 2
    assert "--stop-on-dead-signal 2" in result.signal_health["stopped"]


def text_code(generations, references, sources):
    """A reward that differs between almost any two texts."""
    return [sum(map(ord, text)) % 97 / 97 for text in generations]


def test_a_varying_reward_is_not_dead(tiny_lm_dir, word_dataset, tmp_path):
    words = {"dataset": word_dataset, "eval_dataset": word_dataset, "n_envs": 8, "group_size": 4}
    config = grouped(tiny_lm_dir, tmp_path, reward=text_code, stop_on_dead_signal=1, **words)
    result = train(config, progress_bar=False)
    assert (
        result.model.num_timesteps == config.timesteps and result.signal_health["stopped"] is None
    )
    assert result.signal_health["zero_advantages"] < 0.5


def test_length_capped_share_counts_episodes_without_eos(tiny_lm_dir, tmp_path):
    config = grouped(
        tiny_lm_dir, tmp_path, reward="canary_length", env_kwargs={"eos_token_ids": [0]}
    )
    capped = train(config, progress_bar=False).signal_health["length_capped"]
    assert 0 <= capped <= 1


def test_stop_on_dead_signal_must_be_positive():
    with pytest.raises(ConfigError, match="stop_on_dead_signal"):
        TrainConfig(stop_on_dead_signal=0)
