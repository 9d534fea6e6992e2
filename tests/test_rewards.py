"""Reward functions: hand-checked values, the length contract, pickling, registry, light import."""

from __future__ import annotations

import math
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from textgym.errors import ConfigError, RewardError, TextGymError, UnknownNameError
from textgym.rewards import (
    Bleu,
    CallableReward,
    Chrf,
    EvaluateMetric,
    LengthPenalty,
    Rouge,
    WeightedSum,
    list_rewards,
    make_reward,
    register_reward,
    score,
)
from textgym.rewards import registry as registry_module

FIXTURE_METRIC = Path(__file__).parent / "fixtures" / "word_overlap.py"
CAT = "the cat sat"
CAT_MAT = "the cat sat on the mat"


def run(reward, generations, references):
    return reward(generations, references, ["source"] * len(generations))


def word_count(generations, references, sources):
    """A module-level user reward (pickles)."""
    return [float(len(g.split())) for g in generations]


# --- ROUGE ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "expected"),
    [
        # P = 3/3, R = 3/6: F = 2PR / (P + R) = 2/3
        ("rouge1", 2 / 3),
        # bigrams: 2 in the generation, 5 in the reference, 2 shared: P = 1, R = 2/5, F = 4/7
        ("rouge2", 4 / 7),
        # LCS = 3 words: same as rouge1 here
        ("rougeL", 2 / 3),
        ("rougeLsum", 2 / 3),
    ],
)
def test_rouge_hand_values(variant, expected):
    out = run(Rouge(variant), [CAT], [[CAT_MAT]])
    assert out.dtype == np.float64 and out.shape == (1,)
    assert out[0] == pytest.approx(expected)


@pytest.mark.parametrize("variant", ["rouge1", "rouge2", "rougeL", "rougeLsum"])
def test_rouge_identical_and_disjoint(variant):
    out = run(Rouge(variant), [CAT_MAT, "dogs bark loudly"], [[CAT_MAT], [CAT_MAT]])
    np.testing.assert_allclose(out, [1.0, 0.0])


def test_rouge_uses_stemmer():
    # Porter stemming maps "cats" -> "cat" and "running" -> "run"
    assert run(Rouge("rouge1"), ["cats running"], [["cat run"]])[0] == pytest.approx(1.0)


def test_rougelsum_splits_sentences_on_newlines():
    gen, ref = "b c\na", "a\nb c"
    # as one sequence "b c a" vs "a b c": LCS = 2 of 3 words -> 2/3; per line both match fully
    assert run(Rouge("rougeL"), [gen], [[ref]])[0] == pytest.approx(2 / 3)
    assert run(Rouge("rougeLsum"), [gen], [[ref]])[0] == pytest.approx(1.0)


def test_rouge_multi_reference_takes_max():
    refs = [["dogs bark", CAT_MAT, CAT]]
    assert run(Rouge("rouge1"), [CAT], refs)[0] == pytest.approx(1.0)
    assert run(Rouge("rouge1"), [CAT], [["dogs bark", CAT_MAT]])[0] == pytest.approx(2 / 3)


def test_rouge_unknown_variant_suggests():
    with pytest.raises(UnknownNameError, match="rougeL"):
        Rouge("rougel")


ROUGE_VARIANTS = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
NON_LATIN = [
    "Привет, мир! Как у тебя дела сегодня?",
    "我们今天下午去公园散步。",
    "مرحبا بالعالم، كيف حالك اليوم؟",
    "שלום עולם, מה שלומך היום?",
    "🎉🔥 👍🏽 👨‍👩‍👧",
    "हिन्दी एक भाषा है।",
    "今日は東京へ行きます。",
    "ภาษาไทยเขียนติดกัน",
]


@pytest.mark.parametrize("variant", ROUGE_VARIANTS)
def test_rouge_exact_copy_of_non_latin_text_scores_one(variant):
    out = run(Rouge(variant), NON_LATIN, [[text] for text in NON_LATIN])
    np.testing.assert_allclose(out, 1.0)


def test_rouge_non_latin_partial_overlap_is_between_zero_and_one():
    # Chinese is split into characters: 4 of the generation's 4 characters are in the
    # 6-character reference -> P = 1, R = 4/6, F = 0.8
    assert run(Rouge("rouge1"), ["今天下午"], [["我们今天下午"]])[0] == pytest.approx(0.8)
    # Russian words: "мир" is shared, "привет" is not -> P = R = 1/2
    assert run(Rouge("rouge1"), ["привет мир"], [["пока мир"]])[0] == pytest.approx(0.5)


ENGLISH = [
    ("The cats were running quickly, weren't they?", "A cat runs quickly; they weren't."),
    ("snake_case and CamelCase: 3.14 in 2024-05!", "camelcase snake case 314 2024 05"),
    ("Line one.\nLine two is longer here.", "line two is here\nline one"),
    ("Generously generalized organizations", "generous general organization"),
    ("e-mail me @ 10am (ok?)", "Email me at 10 a.m."),
]


@pytest.mark.parametrize("variant", ROUGE_VARIANTS)
def test_rouge_english_scores_match_rouge_score_default_tokenizer(variant):
    from rouge_score import rouge_scorer

    default = rouge_scorer.RougeScorer([variant], use_stemmer=True)
    expected = [default.score(ref, gen)[variant].fmeasure for gen, ref in ENGLISH]
    out = run(Rouge(variant), [gen for gen, _ in ENGLISH], [[ref] for _, ref in ENGLISH])
    np.testing.assert_array_equal(out, expected)
    assert any(0 < value < 1 for value in expected)  # the cases are not trivial


def test_rouge_tokenizer_tokens():
    from textgym.rewards.rouge_tokenizer import RougeTokenizer

    tokens = RougeTokenizer(use_stemmer=True).tokenize
    assert tokens("Running CATS, don't_stop!") == ["run", "cat", "don", "t", "stop"]
    assert tokens("Привет, Мир") == ["привет", "мир"]
    assert tokens("我们a公园") == ["我", "们", "a", "公", "园"]
    assert tokens("हिन्दी") == ["हिन्दी"]  # combining vowel signs stay in the word


def test_rougel_caps_tokens_and_warns_once():
    ref = " ".join(f"w{i}" for i in range(10))
    gen = " ".join(f"w{i}" for i in range(5)) + " x y z"
    reward = Rouge("rougeL", max_tokens=5)
    with pytest.warns(UserWarning, match=r"first 5 tokens.*max_tokens=N"):
        out = run(reward, [gen], [[ref]])
    assert out[0] == pytest.approx(1.0)  # both cut to "w0 ... w4"
    assert run(Rouge("rougeL", max_tokens=None), [gen], [[ref]])[0] == pytest.approx(2 * 5 / 18)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run(reward, [gen], [[ref]])  # one warning per reward, not one per call


def test_rougelsum_cap_keeps_sentences_and_short_texts_are_untouched():
    reward = Rouge("rougeLsum", max_tokens=4)
    with pytest.warns(UserWarning, match="rougeLsum"):
        out = run(reward, ["c d\na b"], [["a b\nc d\ne f g"]])
    # the reference is cut to "a b\nc d": each line matches one of the generation's lines
    # (without the line break it would be one sentence: LCS 2 of 4 -> 0.5)
    assert out[0] == pytest.approx(1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run(Rouge("rougeL", max_tokens=4), [CAT], [[CAT]])[0] == 1.0
        assert run(Rouge("rouge1", max_tokens=1), [CAT_MAT], [[CAT_MAT]])[0] == 1.0


def test_rouge_default_cap_and_bad_caps():
    assert Rouge("rougeL").max_tokens == 2048 == make_reward("rougeLsum").max_tokens
    for bad in (0, -1, 2.5, True, "10"):
        with pytest.raises(ConfigError, match="max_tokens"):
            Rouge("rougeL", max_tokens=bad)


# --- sacrebleu -----------------------------------------------------------------------------


def test_bleu_hand_value_with_effective_order():
    # "the cat" vs "the cat sat": 1-gram precision 2/2, 2-gram 1/1, no 3/4-grams in the
    # generation (effective order 2) -> geometric mean 1; brevity penalty exp(1 - 3/2).
    out = run(Bleu(), ["the cat"], [["the cat sat"]])
    assert out[0] == pytest.approx(math.exp(-0.5), abs=1e-6)


@pytest.mark.parametrize("reward", [Bleu(), Chrf()], ids=["bleu", "chrf"])
def test_sacrebleu_identical_is_one_and_ordering(reward):
    gens = [CAT_MAT, "the cat sat on a rug", "xyz qqq"]
    out = run(reward, gens, [[CAT_MAT]] * 3)
    assert out[0] == 1.0  # clipped: sacrebleu can give 100.00000000000004
    assert 0.0 < out[1] < 1.0
    assert out[2] < out[1]
    assert np.all((out >= 0) & (out <= 1))


def test_chrf_disjoint_is_zero_and_multi_reference_takes_best():
    assert run(Chrf(), ["xyz"], [["abc"]])[0] == 0.0
    multi = run(Chrf(), [CAT], [["dogs bark", CAT]])[0]
    assert multi == pytest.approx(1.0)


def test_bleu_multi_reference_beats_single():
    single = run(Bleu(), [CAT_MAT], [["the cat sat on a rug"]])[0]
    multi = run(Bleu(), [CAT_MAT], [["the cat sat on a rug", "a dog sat on the mat"]])[0]
    assert multi > single


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda: Bleu(smooth_method="bogus"), "Known: add-k, exp, floor, none"),
        (lambda: Bleu(tokenize="13A"), "Did you mean '13a'"),
        (lambda: Chrf(beta="2"), "beta='2' must be an integer"),
        (lambda: Chrf(char_order=-1), "char_order=-1"),
        (lambda: Chrf(char_order=0, word_order=0), "count no n-grams"),
    ],
)
def test_sacrebleu_bad_settings_are_textgym_errors(make, fragment):
    with pytest.raises(TextGymError, match=fragment):
        run(make(), [CAT], [[CAT]])


def test_chrf_plus_plus_name():
    assert Chrf().name == "chrf" and Chrf(word_order=2).name == "chrf++"


# --- length --------------------------------------------------------------------------------


def words(n):
    return " ".join(["w"] * n)


@pytest.mark.parametrize(
    ("n", "expected"),
    # T = 10, tolerance 0.2 -> band [8, 12]; decay 0.5 -> falls to 0 over 5 words
    [(10, 1.0), (8, 1.0), (12, 1.0), (6, 0.6), (15, 0.4), (3, 0.0), (17, 0.0), (30, 0.0)],
)
def test_length_fixed_target(n, expected):
    reward = LengthPenalty(target_words=10, tolerance=0.2, decay=0.5)
    assert run(reward, [words(n)], [["ref"]])[0] == pytest.approx(expected)


def test_length_ratio_of_reference_and_multi_reference():
    reward = LengthPenalty(target_ratio=0.5, tolerance=0.0, decay=1.0)
    # reference of 20 words -> T = 10; 7 words: 1 - 3/10
    assert run(reward, [words(7)], [[words(20)]])[0] == pytest.approx(0.7)
    # the closest reference counts: T = 7 from a 14-word reference
    assert run(reward, [words(7)], [[words(20), words(14)]])[0] == pytest.approx(1.0)


def test_length_default_is_reference_length():
    assert run(LengthPenalty(), [CAT_MAT], [[CAT_MAT]])[0] == 1.0


def test_length_empty_generation_and_empty_reference_score_zero():
    reward = LengthPenalty(target_ratio=1.0, tolerance=5.0)  # band would include 0 words
    np.testing.assert_array_equal(run(reward, ["", CAT], [[CAT], [""]]), [0.0, 0.0])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"target_words": 10, "target_ratio": 1.0},
        {"target_words": 0},
        {"target_ratio": float("nan")},
        {"tolerance": -0.1},
        {"decay": 0},
        {"target_words": True},
    ],
)
def test_length_rejects_bad_settings(kwargs):
    with pytest.raises(ConfigError):
        LengthPenalty(**kwargs)


# --- weighted sum --------------------------------------------------------------------------


def test_weighted_sum_hand_value_and_components():
    reward = WeightedSum({"rouge1": 0.5, LengthPenalty(target_words=3): 2.0})
    total, parts = reward.score_components([CAT], [[CAT_MAT]], ["s"])
    assert total[0] == pytest.approx(0.5 * 2 / 3 + 2.0 * 1.0)
    assert set(parts) == {"rouge1", "length"}
    assert parts["rouge1"][0] == pytest.approx(2 / 3)
    assert parts["length"][0] == pytest.approx(1.0)
    np.testing.assert_array_equal(run(reward, [CAT], [[CAT_MAT]]), total)


def test_weighted_sum_matches_parts_on_a_batch():
    gens = [CAT, CAT_MAT, "", "a dog ran"]
    refs = [[CAT_MAT]] * 4
    reward = make_reward({"rougeL": 0.7, "chrf": 0.3})
    expected = 0.7 * run(Rouge("rougeL"), gens, refs) + 0.3 * run(Chrf(), gens, refs)
    total, parts = score(reward, gens, refs, ["s"] * 4)
    np.testing.assert_allclose(total, expected)
    np.testing.assert_allclose(parts["chrf"], run(Chrf(), gens, refs))


@pytest.mark.parametrize(
    "weights", [{}, {"rougeL": float("nan")}, {"rougeL": "0.5"}, {"rougeL": math.inf}, [1]]
)
def test_weighted_sum_rejects_bad_weights(weights):
    with pytest.raises(ConfigError):
        WeightedSum(weights)


def test_weighted_sum_rejects_duplicate_part_names():
    with pytest.raises(ConfigError, match="two parts named 'rougeL'"):
        WeightedSum({"rougeL": 0.5, Rouge("rougeL"): 0.5})


# --- user callables, registry ---------------------------------------------------------------


def test_callable_reward_wraps_function():
    reward = make_reward(word_count)
    assert isinstance(reward, CallableReward) and reward.name == "word_count"
    out = run(reward, [CAT, CAT_MAT], [["r"], ["r"]])
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [3.0, 6.0])
    assert CallableReward(lambda g, r, s: [0.0] * len(g)).name == "lambda"
    with pytest.raises(ConfigError):
        CallableReward(3)


def test_make_reward_forms():
    rouge = Rouge("rouge2")
    assert make_reward(rouge) is rouge
    assert isinstance(make_reward("rougeLsum"), Rouge)
    assert isinstance(make_reward("bleu"), Bleu) and isinstance(
        make_reward("length"), LengthPenalty
    )
    metric = make_reward(f"evaluate:{FIXTURE_METRIC}")
    assert isinstance(metric, EvaluateMetric) and metric.name == "evaluate:word_overlap"
    assert {"rouge1", "rouge2", "rougeL", "rougeLsum", "bleu", "chrf", "length"} <= set(
        list_rewards()
    )


@pytest.mark.parametrize(
    ("spec", "fragment"), [(42, "int"), (Rouge, "instance"), ("evaluate:", "names no module")]
)
def test_make_reward_rejects_other_specs(spec, fragment):
    with pytest.raises(ConfigError, match=fragment):
        make_reward(spec)


def test_unknown_name_suggests_close_match():
    with pytest.raises(UnknownNameError) as info:
        make_reward("rougel")
    assert "Did you mean 'rougeL'" in str(info.value)
    assert "register_reward" in str(info.value)


def test_register_reward(monkeypatch):
    monkeypatch.setattr(registry_module, "_FACTORIES", dict(registry_module._FACTORIES))
    register_reward("words", lambda: CallableReward(word_count))
    assert "words" in list_rewards()
    assert run(make_reward("words"), [CAT], [["r"]])[0] == 3.0
    with pytest.raises(ConfigError, match="already registered"):
        register_reward("words", Bleu)
    register_reward("words", Bleu, overwrite=True)
    assert isinstance(make_reward("words"), Bleu)
    with pytest.raises(ConfigError):
        register_reward("evaluate:x", Bleu)
    with pytest.raises(ConfigError):
        register_reward("nothing", None)


# --- the contract: score(), empty generations, input checks, pickling ----------------------


def test_score_rejects_nan_and_wrong_length():
    nan = CallableReward(lambda g, r, s: [float("nan")] * len(g), name="nan")
    with pytest.raises(RewardError, match="finite"):
        score(nan, [CAT], [[CAT]], ["s"])
    short = CallableReward(lambda g, r, s: [1.0], name="short")
    with pytest.raises(RewardError, match="shape"):
        score(short, [CAT, CAT], [[CAT], [CAT]], ["s", "s"])


BUILT_INS = ["rouge1", "rouge2", "rougeL", "rougeLsum", "bleu", "chrf", "length"]


@pytest.mark.parametrize("name", BUILT_INS)
def test_empty_generation_scores_zero(name):
    total, _ = score(make_reward(name), ["", "   "], [[CAT_MAT], [CAT_MAT]], ["s", "s"])
    np.testing.assert_array_equal(total, [0.0, 0.0])


@pytest.mark.parametrize("name", [*BUILT_INS, "evaluate"])
def test_lone_surrogates_are_scored(name, offline):
    reward = make_reward(f"evaluate:{FIXTURE_METRIC}" if name == "evaluate" else name)
    text = "the cat \ud800 sat on the mat"
    out = run(reward, [text, "the cat sat \udcff"], [[text], [CAT]])
    assert out.shape == (2,) and np.all(np.isfinite(out)) and out[1] > 0
    assert out[0] == pytest.approx(1.0)  # an exact copy


def test_clean_text_replaces_only_lone_surrogates():
    from textgym.unicode_text import clean_text

    assert clean_text("a\ud800b") == "a\ufffdb"
    assert clean_text("\ud83d\ude00") == "\U0001f600"  # a split pair becomes its character
    assert clean_text("plain é 中 🎉") == "plain é 中 🎉"


@pytest.mark.parametrize("name", BUILT_INS)
def test_bad_references_are_rejected(name):
    reward = make_reward(name)
    with pytest.raises(ValueError, match="Wrap it in a list"):
        reward([CAT], [CAT_MAT], ["s"])
    with pytest.raises(ValueError, match="at least one reference"):
        reward([CAT], [[]], ["s"])
    with pytest.raises(ValueError, match="one reference list"):
        reward([CAT, CAT], [[CAT]], ["s", "s"])


@pytest.mark.parametrize("name", BUILT_INS)
def test_bad_inputs_raise_textgym_errors_that_stay_value_errors(name):
    reward = make_reward(name)
    for refs, sources in (([CAT_MAT], ["s"]), ([[]], ["s"]), ([[CAT]], ["s", "s"])):
        with pytest.raises(RewardError) as info:
            reward([CAT], refs, sources)
        assert isinstance(info.value, TextGymError) and isinstance(info.value, ValueError)
    with pytest.raises(RewardError, match="one reference list and one source"):
        score(reward, [CAT, CAT], [[CAT]], ["s", "s"])


@pytest.mark.parametrize("spec", [*BUILT_INS, {"rougeL": 0.7, "chrf": 0.3}, word_count], ids=str)
def test_pickle_round_trip(spec):
    reward = make_reward(spec)
    gens, refs = [CAT, CAT_MAT, "a dog"], [[CAT_MAT], [CAT_MAT], [CAT, "a dog ran"]]
    before = run(reward, gens, refs)  # builds any lazy scorer first
    clone = pickle.loads(pickle.dumps(reward))
    assert clone.name == reward.name
    np.testing.assert_array_equal(run(clone, gens, refs), before)


@pytest.mark.parametrize(("reward", "attr"), [(Rouge(), "_scorer"), (Bleu(), "_metric")])
def test_pickle_drops_lazy_scorer(reward, attr):
    run(reward, [CAT], [[CAT]])
    assert getattr(reward, attr) is not None
    assert getattr(pickle.loads(pickle.dumps(reward)), attr) is None


# --- evaluate adapter ----------------------------------------------------------------------


@pytest.fixture
def offline(monkeypatch):
    """Make ``evaluate`` and ``huggingface_hub`` refuse the network."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")
    import evaluate.config
    import huggingface_hub.constants

    monkeypatch.setattr(evaluate.config, "HF_EVALUATE_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def test_evaluate_metric_from_local_script(offline):
    reward = EvaluateMetric(str(FIXTURE_METRIC))
    gens = ["the cat sat", "a b", "", "x y"]
    refs = [["the dog sat"], ["x", "a b z"], ["q"], ["p"]]
    # word_overlap: 2 of 3 words; max over references (0 and 1); empty -> 0; none shared
    out = run(reward, gens, refs)
    np.testing.assert_allclose(out, [2 / 3, 1.0, 0.0, 0.0])
    assert type(reward._module).__name__ == "WordOverlap"  # the fixture's class, loaded
    clone = pickle.loads(pickle.dumps(reward))
    assert clone._module is None
    np.testing.assert_allclose(run(clone, gens, refs), out)


def test_evaluate_metric_key_selection(offline):
    kwargs = {"return_counts": True}
    with pytest.raises(ConfigError, match="pass key="):
        run(EvaluateMetric(str(FIXTURE_METRIC), compute_kwargs=kwargs), [CAT], [[CAT]])
    counts = EvaluateMetric(str(FIXTURE_METRIC), key="n_words", compute_kwargs=kwargs)
    assert run(counts, [CAT_MAT], [[CAT]])[0] == 5.0  # distinct words: the cat sat on mat
    with pytest.raises(ConfigError, match="not 'missing'"):
        run(EvaluateMetric(str(FIXTURE_METRIC), key="missing"), [CAT], [[CAT]])


def test_evaluate_metric_hub_name_offline_is_config_error(offline):
    reward = make_reward("evaluate:surely_not_a_metric_xyz")
    with pytest.raises(ConfigError) as info:
        run(reward, [CAT], [[CAT]])
    message = str(info.value)
    assert "couldn't be loaded" in message and "internet" in message and "local path" in message


def test_evaluate_reference_list_detection():
    from datasets import Features, Sequence, Value

    from textgym.rewards.evaluate_metric import _accepts_reference_lists

    single = Features({"predictions": Value("string"), "references": Value("string")})
    multi = Features({"predictions": Value("string"), "references": Sequence(Value("string"))})

    class Module:
        def __init__(self, features):
            self.features = features

    assert not _accepts_reference_lists(Module(single))
    assert _accepts_reference_lists(Module([multi, single]))


# --- import cost ---------------------------------------------------------------------------


def test_import_is_light():
    code = (
        "import sys, textgym.rewards as r\n"
        "heavy = ('rouge_score', 'sacrebleu', 'evaluate', 'datasets', 'nltk')\n"
        "r.make_reward({'rougeL': 0.5, 'bleu': 0.3, 'chrf': 0.2})\n"
        "r.make_reward('evaluate:exact_match')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "r.make_reward('rouge1')(['a b'], [['a b']], ['s'])\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[0] == "[]"
    assert "rouge_score" in out[1]  # the check can see a heavy import when one happens
