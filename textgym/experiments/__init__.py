"""Experiment grids: compare rewards and training settings with everything else held equal.

``compare(CompareConfig(rewards=("rouge1", "bleu"), seeds=(0, 1), base=TrainConfig(...)))``
trains one run per (reward, seed) into ``out/runs/<reward>__seed<k>/``, evaluates each
trained policy and the initial one on the same held-out examples, and writes
``results.csv``, ``results.json``, ``report.md`` and plots under ``out``: gains paired per
example and seed with bootstrap intervals, significance, detectable effects, a ranking and
reward-hacking verdicts. ``grid={"learning_rate": (1e-5, 5e-6)}`` adds sweep axes (folders
``<reward>__learning_rate=1e-05__seed<k>``); ``search="tpe"`` draws configurations with
Optuna instead. Re-running resumes.
"""

from textgym.experiments.compare import CompareResult, compare, report
from textgym.experiments.config import CompareConfig, RunSpec

__all__ = ["CompareConfig", "CompareResult", "RunSpec", "compare", "report"]
