"""Text drawn as an RGB image: the ``render_mode="rgb_array"`` of a text env.

SB3's ``make_vec_env`` builds every env with ``render_mode="rgb_array"`` and its
``VecVideoRecorder`` records such frames, so a text env draws its text rather than refuse.
"""

from __future__ import annotations

import textwrap

import numpy as np

WIDTH, HEIGHT, DPI = 640, 480, 100
COLUMNS, ROWS = 88, 30


def text_image(text: str) -> np.ndarray:
    """A ``(480, 640, 3)`` uint8 image of ``text``, wrapped; its last lines if it is long."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    lines = [w for line in text.splitlines() for w in textwrap.wrap(line, COLUMNS) or [""]]
    figure = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI, facecolor="white")
    canvas = FigureCanvasAgg(figure)
    text = "\n".join(lines[-ROWS:])
    figure.text(0.01, 0.99, text, va="top", family="monospace", size=8, parse_math=False)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
