"""Canary rewards reward their documented exploit; the text signals measure copying and repeats."""

import math

import pytest

from textgym.errors import ConfigError
from textgym.evaluation.text_signals import copy_rate, repetition
from textgym.rewards import list_rewards, make_reward

SOURCE = "Anna: I will bring the cake to the party tonight"


def score(name, texts):
    return list(make_reward(name)(texts, [["unused"]] * len(texts), [SOURCE] * len(texts)))


def test_canaries_are_registered_and_need_no_references():
    for name in ("canary_length", "canary_length_capped", "canary_copy", "canary_keyword"):
        assert name in list_rewards()
        assert make_reward(name).needs_references is False


def test_length_canary_rewards_longer_outputs_and_the_capped_one_stops():
    short, long = "Anna brings cake.", " ".join(["word"] * 30)
    assert score("canary_length", [short, long]) == pytest.approx([3 / 20, 30 / 20])
    assert score("canary_length_capped", [short, long]) == pytest.approx([3 / 12, 1.0])


def test_copy_canary_rewards_copying_the_source_over_a_summary():
    copied, summary = score("canary_copy", [SOURCE, "Anna is bringing dessert."])
    assert copied == pytest.approx(1.0)
    assert summary < 0.5


def test_keyword_canary_rewards_stuffing():
    plain, stuffed, empty = score("canary_keyword", ["Anna brings a cake", "the the cake", ""])
    assert (plain, empty) == (0.0, 0.0)
    assert stuffed == pytest.approx(2 / 3)


def test_bad_canary_settings_are_named():
    from textgym.rewards.canaries import KeywordCanary, LengthCanary

    with pytest.raises(ConfigError, match="cap=0"):
        LengthCanary(cap=0)
    with pytest.raises(ConfigError, match="one word"):
        KeywordCanary("two words")


def test_copy_rate_counts_source_trigrams():
    assert copy_rate("I will bring the cake", SOURCE) == pytest.approx(1.0)
    assert copy_rate("Anna bakes a cake", SOURCE) == 0.0
    # "will bring the" is in the source, "bring the pie" is not
    assert copy_rate("will bring the pie", SOURCE) == pytest.approx(0.5)
    assert math.isnan(copy_rate("too short", SOURCE))


def test_repetition_is_the_share_of_repeated_bigrams():
    assert repetition("a b c d") == 0.0
    assert repetition("a b a b a b") == pytest.approx(1 - 2 / 5)
    assert math.isnan(repetition("alone"))
