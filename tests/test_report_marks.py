"""The report cannot be misread: KL in words, only significant cells coloured."""

from __future__ import annotations

import numpy as np
import pytest

from textgym.experiments.plots import gain_shades, plot_gain_matrix
from textgym.experiments.report_md import kl_words


@pytest.mark.parametrize(
    "config, words",
    [
        ({"kl_coef": None}, "KL penalty off"),
        ({"kl_coef": 0.0}, "KL penalty off"),
        ({"kl_coef": 0.02}, "KL penalty on, fixed β=0.02"),
        (
            {"kl_coef": None, "target_kl": 6.0},
            "adaptive β (target 6.0 nats per episode, from β=0.1)",
        ),
    ],
)
def test_kl_penalty_in_words(config, words):
    assert words in kl_words(config)


def test_only_significant_cells_are_coloured_on_a_scale_symmetric_around_zero():
    gains = np.array([[-0.004, -0.009], [0.05, -0.03], [0.01, 0.002]])
    intervals = np.stack([gains - 0.02, gains + 0.02], axis=2)
    intervals[2, 0] = [0.001, 0.09]  # a small gain with a wide interval
    significant = np.array([[False, False], [True, True], [True, True]])
    shades = gain_shades(gains, intervals, significant)
    assert shades.mask[0].all() and not shades.mask[1:].any()  # n.s. cells: grey
    assert shades[1, 0] > 0 > shades[1, 1]  # blue up, red down
    assert np.abs(shades).max() <= 1
    assert shades[2, 0] < 0.15  # pale: scaled by the largest interval end, 0.09
    assert shades[2, 0] == pytest.approx(0.01 / 0.09)


def test_gain_matrix_is_drawn(tmp_path):
    gains = np.array([[-0.004, np.nan]])
    path = tmp_path / "m.png"
    plot_gain_matrix(gains, ["a"], ["rougeL", "chrf"], path, None, np.array([[False, True]]))
    assert path.read_bytes()[:4] == b"\x89PNG"
