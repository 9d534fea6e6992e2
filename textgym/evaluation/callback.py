"""Periodic held-out evaluation during PPO training: log, keep the best model, stop early."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

from textgym.atomic import write_atomic, write_json_atomic
from textgym.env import TextGenEnv
from textgym.evaluation.evaluate import EvalResult, Reference, evaluate_lm
from textgym.evaluation.settings import check_eval_settings
from textgym.policies.kl_penalty import policy_reference


class PeriodicEval(BaseCallback):
    """Evaluate held-out text metrics every ``eval_every`` timesteps of ``model.learn``.

    Each evaluation (:func:`~textgym.evaluation.evaluate_lm`, greedy, on ``eval_env``'s
    first ``n_examples`` examples) runs between rollouts, after a PPO update, so it sees the
    weights the next rollout will use; one more runs when training ends. Every metric is
    recorded in the SB3 logger under ``eval/`` (so TensorBoard shows it) and in
    :attr:`history`. Sampled evaluations leave the training's random state untouched.

    Use: ``model.learn(n, callback=PeriodicEval(eval_env, 512, patience=3,
    best_path="best_model.zip"))``.

    Args:
        eval_env: The held-out env (e.g. :func:`~textgym.training.make_eval_env`).
        eval_every: Timesteps between evaluations (an int >= 1).
        n_examples: Examples per evaluation (None: all of ``eval_env``'s).
        metric: The metric to maximise (see
            :data:`~textgym.evaluation.settings.SELECTION_METRICS`); ``"own_reward"`` is
            ``eval_env``'s reward.
        patience: Stop after this many evaluations in a row without a new best (None: never).
        kl_budget: Stop once the exact KL to the reference (nats per token, on the greedy
            outputs) exceeds this (None: never).
        best_path: Save the model (``model.save``, an SB3 zip) here, atomically, at each new
            best (None: keep none).
        history_path: Write :attr:`history` and the best and stop reason here as JSON,
            atomically, after each evaluation (None: keep it in memory only).
        reference: The initial model (None: the KL penalty's reference, or a frozen copy of
            the initial model built when training starts).
        evaluate_kwargs: More keyword arguments of ``evaluate_lm`` (``samples``,
            ``sampling``, ``seed``).
        verbose: 1 prints each evaluation.

    Raises:
        ConfigError: an unusable setting (patience < 1, kl_budget <= 0, ...).
        UnknownNameError: an unknown ``metric``.
    """

    def __init__(
        self,
        eval_env: TextGenEnv,
        eval_every: int,
        n_examples: int | None = None,
        metric: str = "own_reward",
        patience: int | None = None,
        kl_budget: float | None = None,
        best_path: str | Path | None = None,
        history_path: str | Path | None = None,
        reference: Reference | None = None,
        evaluate_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
    ) -> None:
        check_eval_settings(eval_every, patience, kl_budget, metric)
        super().__init__(verbose)
        self.eval_env, self.eval_every, self.n_examples = eval_env, eval_every, n_examples
        self.metric, self.patience, self.kl_budget = metric, patience, kl_budget
        self.best_path, self.history_path = best_path, history_path
        self.reference = reference
        self.evaluate_kwargs = dict(evaluate_kwargs or {})
        self.history: list[dict[str, float]] = []
        self.best: dict[str, float] | None = None
        self.stop_reason: str | None = None
        self._last_eval = 0
        self._since_best = 0

    def _init_callback(self) -> None:
        if self.reference is None:
            self.reference = policy_reference(self.model)

    def _on_rollout_start(self) -> None:
        if self.num_timesteps - self._last_eval >= self.eval_every:
            self.evaluate()

    def _on_step(self) -> bool:
        return self.stop_reason is None

    def _on_training_end(self) -> None:
        if self.stop_reason is None and self.num_timesteps > self._last_eval:
            self.evaluate()

    def restore(self, timesteps: int) -> None:
        """Continue the history saved at ``history_path`` by a run resumed at ``timesteps``.

        Evaluations at or after ``timesteps`` are dropped (the resumed run repeats them);
        the best so far and the count of evaluations without a new best are recomputed.
        """
        path = None if self.history_path is None else Path(self.history_path)
        if path is None or not path.is_file():
            return
        for entry in json.loads(path.read_text(encoding="utf-8"))["evaluations"]:
            if entry["timesteps"] < timesteps:
                self.history.append(entry)
                self._last_eval = int(entry["timesteps"])
                self._track_best(entry)

    def evaluate(self) -> EvalResult:
        """Evaluate now; log, keep a new best, and decide whether to stop."""
        policy = self.model.policy
        restriction = getattr(policy, "generation_restriction", None)
        result = evaluate_lm(
            policy.lm,
            self.eval_env,
            self.n_examples,
            reference=self.reference,
            own_reward=self.eval_env.reward_fn,
            restrict=restriction() if restriction else None,
            **self.evaluate_kwargs,
        )
        self._last_eval = self.num_timesteps
        entry = {"timesteps": float(self.num_timesteps), **result.metrics}
        self.history.append(entry)
        for key, value in result.metrics.items():
            self.logger.record(f"eval/{key}", value)
        self._update_best(entry)
        if self.best is not None:
            self.logger.record(f"eval/best_{self.metric}", self.best[self.metric])
        self.logger.dump(self.num_timesteps)
        self._check_stop(entry)
        self._write_history()
        if self.verbose:
            print(f"eval at {self.num_timesteps}: {self.metric}={entry[self.metric]:.4f}")
        return result

    def _update_best(self, entry: dict[str, float]) -> None:
        """Keep ``entry`` and save the model if it beats the best so far."""
        if self._track_best(entry) and self.best_path is not None:
            write_atomic(self.best_path, lambda tmp: self.model.save(tmp))

    def _track_best(self, entry: dict[str, float]) -> bool:
        """Whether ``entry`` is a new best (a NaN or missing value never is); count if not."""
        value = entry.get(self.metric)
        if value is not None and (self.best is None or value > self.best[self.metric]):
            self.best, self._since_best = entry, 0
            return True
        self._since_best += 1
        return False

    def _check_stop(self, entry: dict[str, float]) -> None:
        """Set :attr:`stop_reason` when patience runs out or the KL budget is spent."""
        kl = entry["kl_to_init_exact"]
        if self.kl_budget is not None and not math.isnan(kl) and kl > self.kl_budget:
            self.stop_reason = f"KL to the initial model {kl:.4f} > budget {self.kl_budget}"
        elif self.patience is not None and self._since_best >= self.patience:
            self.stop_reason = (
                f"no new best {self.metric} in {self._since_best} evaluations "
                f"(patience {self.patience})"
            )

    def _write_history(self) -> None:
        if self.history_path is not None:
            record = {
                "metric": self.metric,
                "best": self.best,
                "stop_reason": self.stop_reason,
                "evaluations": self.history,
            }
            write_json_atomic(self.history_path, record)
