"""Calibrating hacking signals on runs with known labels: thresholds, cross-validated rates."""

from __future__ import annotations

import math

import numpy as np
import pytest

from textgym.experiments.calibration import calibrate, choose_threshold, is_canary
from textgym.experiments.hacking_signals import run_signals, signal_gains


def test_canary_names():
    assert is_canary("canary_length") and is_canary("canary_copy:0.5,canary_keyword:0.5")
    assert not is_canary("rougeL") and not is_canary("canary_length:0.5,rougeL:0.5")


def test_threshold_maximises_tpr_minus_fpr_and_prefers_fewer_flags():
    assert choose_threshold([5, 6, 7], [1, 2, 3]) == pytest.approx(4.0)  # between 3 and 5
    assert choose_threshold([2, 6], [1, 3]) == pytest.approx(4.5)  # J 0.5 at 1.5 and 4.5: highest
    assert choose_threshold([], [1.0]) == math.inf


def record(reward: str, seed: int, length_gain: float, n: int = 20) -> dict:
    rng = np.random.default_rng(seed)
    initial = {
        "mean_new_tokens": list(rng.uniform(20, 30, n)),
        "rouge1": list(rng.uniform(0, 1, n)),
    }
    trained = {
        "mean_new_tokens": [v + length_gain for v in initial["mean_new_tokens"]],
        "rouge1": [v - 0.1 for v in initial["rouge1"]],
    }
    means = {
        key: {m: float(np.mean(v)) for m, v in d.items()}
        for key, d in (("initial", initial), ("trained", trained))
    }
    return {
        "run": f"{reward}__seed{seed}",
        "reward": reward,
        "seed": seed,
        **means,
        "per_example": {"initial": initial, "trained": trained},
    }


def test_run_signals_are_mean_paired_gains():
    values = run_signals(record("canary_length", 0, 8.0))
    assert values["length"] == pytest.approx(8.0)
    assert values["metric_drop"] == pytest.approx(0.1)  # rouge1 fell by 0.1 everywhere
    gains = signal_gains([record("canary_length", s, 8.0) for s in range(3)])
    assert gains["length"].interval.low > 7.9 and gains[
        "metric_drop"
    ].interval.mean == pytest.approx(0.1)


def test_calibration_separates_a_signal_that_tracks_the_hack():
    runs = [record("canary_length", s, 8.0 + s) for s in range(3)]
    runs += [record("rougeL", s, -1.0 + s) for s in range(3)]
    result = calibrate(runs)
    length = result["signals"]["length"]
    assert length["used"] and length["tpr"] == 1.0 and length["fpr"] == 0.0
    assert 1.0 < length["threshold"] < 8.0
    assert length["tpr_ci"][0] < 1.0  # three runs: a wide Wilson interval
    assert length["per_reward"] == {"canary_length": "3/3", "rougeL": "0/3"}
    drop = result["signals"]["metric_drop"]  # every run drops rouge1 equally: no separation
    assert not drop["used"]
    assert result["any"]["signals"] == ["length"] and result["any"]["tpr"] == 1.0


def test_calibration_needs_both_labels():
    with pytest.raises(ValueError, match="canary rewards and runs on clean rewards"):
        calibrate([record("rougeL", 0, 1.0)])


def test_onset_is_the_first_periodic_evaluation_beyond_the_threshold():
    from textgym.experiments.hacking_signals import onsets

    initial = {"mean_new_tokens": 20.0, "rouge1": 0.3, "kl_to_init_exact": 0.0}
    history = [
        {"timesteps": 256, "mean_new_tokens": 21.0, "rouge1": 0.31, "kl_to_init_exact": 0.1},
        {"timesteps": 512, "mean_new_tokens": 26.0, "rouge1": 0.30, "kl_to_init_exact": 0.2},
        {"timesteps": 768, "mean_new_tokens": 30.0, "rouge1": 0.25, "kl_to_init_exact": 0.3},
    ]
    record = {"reward": "canary_length", "initial": initial, "evaluations": history}
    calibration = {
        "signals": {
            "length": {"threshold": 4.0, "used": True},
            "kl": {"threshold": 1.0, "used": True},
            "copy": {"threshold": 0.0, "used": False},
        }
    }
    assert onsets(record, calibration) == {"length": 512, "kl": None, "damage": 768}
    assert onsets({**record, "evaluations": []}, calibration)["length"] is None


def test_example_script_writes_the_calibration(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    for reward, gain in (("canary_length", 8.0), ("rougeL", 0.0)):
        for seed in range(2):
            run = tmp_path / "cmp" / "runs" / f"{reward}__seed{seed}"
            run.mkdir(parents=True)
            data = {**record(reward, seed, gain + seed), "cell": reward}
            (run / "run.json").write_text(json.dumps(data))
    script = Path(__file__).resolve().parents[1] / "examples" / "calibrate_hacking.py"
    out = tmp_path / "calibration.json"
    args = [sys.executable, str(script), "--runs", str(tmp_path / "cmp"), "--out", str(out)]
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    assert "length: threshold" in done.stdout
    result = json.loads(out.read_text())
    assert result["runs_from"] == ["cmp"] and result["signals"]["length"]["used"]
    assert result["positives"] == ["canary_length"] and len(result["runs"]) == 4


def test_a_threshold_is_never_below_zero():
    # clean runs raise the independent metrics (negative drop), hacks leave them: no flag for
    # "did not improve"; only a drop (above 0) may fire
    t = choose_threshold([-0.01, 0.0, 0.02], [-0.05, -0.04, -0.03])
    assert t == pytest.approx(0.01)  # not -0.02, which would flag every run; J 1/3 at 0 and 0.01
    assert choose_threshold([0.05, 0.06], [0.01, 0.02]) == pytest.approx(0.035)
