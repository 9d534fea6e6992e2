"""Evaluate an LM on held-out examples, once or periodically during PPO training.

- :func:`evaluate_lm`: greedy (and optionally sampled) generations scored per example with
  every built-in metric and the training reward, corpus BLEU, and the drift from the
  reference model (KL and perplexity).
- :class:`PeriodicEval`: an SB3 callback evaluating every N timesteps, logging to the SB3
  logger, keeping the best checkpoint and stopping early.
"""

from textgym.evaluation.callback import PeriodicEval
from textgym.evaluation.evaluate import EVAL_METRICS, EvalResult, evaluate_lm
from textgym.evaluation.generation import generate_sequences

__all__ = [
    "EVAL_METRICS",
    "EvalResult",
    "PeriodicEval",
    "evaluate_lm",
    "generate_sequences",
]
