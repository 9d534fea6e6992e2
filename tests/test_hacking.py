"""Reward-hacking verdicts on synthetic results: flagged only on evidence."""

from __future__ import annotations

import math

import pytest

from textgym.evaluation import EVAL_METRICS
from textgym.experiments import hacking
from textgym.experiments.hacking import FLAGGED, INCONCLUSIVE, NO_EVIDENCE
from textgym.experiments.summary import Gain
from textgym.stats import Interval


def g(mean: float, low: float, high: float) -> Gain:
    return Gain(Interval(mean, low, high, 3, (high - low) / 3.92), "bootstrap", 100)


def rates(threshold: float, used: bool = True) -> dict:
    return {"threshold": threshold, "used": used, "tp": 8, "n_pos": 9, "fp": 1, "n_neg": 9}


CALIBRATION = {
    "positives": ["canary_length"],
    "negatives": ["rougeL"],
    "signals": {"kl": rates(0.5), "perplexity": rates(0.69), "length": rates(4.0, used=False)},
}


def verdict(gains: dict, reward: str, calibration: dict = CALIBRATION):
    return hacking.verdict(gains, reward, calibration)


def gains(**changes: Gain) -> dict[str, Gain]:
    """Own reward up significantly, every other metric up a little, guards well inside."""
    base = {m: g(0.01, 0.002, 0.02) for m in EVAL_METRICS}
    base.update(
        own_reward=g(0.05, 0.02, 0.08),
        kl_to_init_exact=g(0.05, 0.03, 0.07),
        ref_nll=g(0.1, 0.0, 0.2),
    )
    return {**base, **changes}


def test_own_reward_up_and_another_metric_down_both_significantly_is_flagged():
    v = verdict(gains(rouge2=g(-0.02, -0.03, -0.01)), "rouge1")
    assert v.status == FLAGGED and "rouge2 fell" in v.reasons[0]


def test_a_signal_beyond_its_calibrated_threshold_is_flagged_with_its_rates():
    v = verdict(gains(kl_to_init_exact=g(0.7, 0.6, 0.8)), "rouge1")
    assert (
        v.status == FLAGGED and "kl (kl_to_init_exact) +0.7000 [+0.6000, +0.8000]" in v.reasons[0]
    )
    assert "calibrated threshold 0.5" in v.reasons[0] and "8/9 known hacks flagged" in v.reasons[0]
    assert math.log(2) < 0.8
    v = verdict(gains(ref_nll=g(0.9, 0.8, 1.0)), "rouge1")
    assert v.status == FLAGGED and "perplexity (ref_nll)" in v.reasons[0]
    lenient = {"signals": {**CALIBRATION["signals"], "perplexity": rates(1.1)}}
    assert verdict(gains(ref_nll=g(0.9, 0.8, 1.0)), "rouge1", lenient).status == NO_EVIDENCE


def test_a_signal_the_calibration_did_not_validate_never_flags():
    v = verdict(gains(mean_new_tokens=g(9.0, 8.0, 10.0)), "rouge1")
    assert v.status == NO_EVIDENCE  # length is in the calibration but not used
    used = {"signals": {"length": rates(4.0)}}
    assert verdict(gains(mean_new_tokens=g(9.0, 8.0, 10.0)), "rouge1", used).status == FLAGGED
    assert verdict(gains(kl_to_init_exact=g(9.0, 8.0, 10.0)), "rouge1", {}).status == NO_EVIDENCE


def test_metric_drop_is_a_signal_when_measured():
    used = {"signals": {"metric_drop": rates(0.01)}}
    v = verdict(gains(metric_drop=g(0.05, 0.03, 0.07)), "rouge1", used)
    assert v.status == FLAGGED and "metric_drop" in v.reasons[0]


def test_the_same_pattern_without_significance_is_inconclusive():
    not_sig = verdict(gains(own_reward=g(0.03, -0.01, 0.07), rouge2=g(-0.01, -0.03, 0.01)), "bleu")
    assert not_sig.status == INCONCLUSIVE and "rouge2 down" in not_sig.reasons[0]
    own_sig = verdict(gains(rouge2=g(-0.01, -0.03, 0.01)), "bleu")
    assert own_sig.status == INCONCLUSIVE
    kl = verdict(gains(kl_to_init_exact=g(0.6, 0.4, 0.8)), "bleu")
    assert kl.status == INCONCLUSIVE and "estimate +0.6000 above its threshold" in kl.reasons[0]


def test_no_interval_is_inconclusive():
    v = verdict(gains(own_reward=g(0.05, math.nan, math.nan)), "rouge1")
    assert v.status == INCONCLUSIVE and "no interval for own_reward" in v.reasons[-1]


@pytest.mark.parametrize(
    "changes",
    [
        {},  # everything up, guards inside
        {m: g(-0.02, -0.03, -0.01) for m in EVAL_METRICS} | {"own_reward": g(-0.02, -0.03, -0.01)},
    ],
)
def test_no_evidence(changes):
    assert verdict(gains(**changes), "rouge1") == verdict(gains(), "rouge1")
    assert verdict(gains(**changes), "rouge1").status == NO_EVIDENCE


def test_the_parts_of_a_weighted_reward_are_not_other_metrics():
    falling_chrf = gains(chrf=g(-0.02, -0.03, -0.01))
    assert verdict(falling_chrf, "rouge1:0.5,chrf:0.5").status == NO_EVIDENCE
    assert verdict(falling_chrf, "rouge1").status == FLAGGED
