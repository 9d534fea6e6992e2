"""Experiment grids: compare training rewards with everything else held equal.

``compare(CompareConfig(rewards=("rouge1", "bleu"), seeds=(0, 1), base=TrainConfig(...)))``
trains one run per (reward, seed) into ``out/runs/<reward>__seed<k>/``, evaluates each
trained policy and the initial one on held-out data, and writes ``results.csv``,
``results.json``, ``report.md`` and plots under ``out``. Re-running resumes.
"""

from textgym.experiments.compare import CompareResult, compare, report
from textgym.experiments.config import CompareConfig, RunSpec

__all__ = ["CompareConfig", "CompareResult", "RunSpec", "compare", "report"]
