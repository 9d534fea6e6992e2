"""One run of the grid: train, evaluate initial and trained policy, write the results.

A run's folder holds ``manifest.json`` (written first), the files of
:func:`textgym.training.train` (``metrics.json``, ``reward_curve.png``, ``ppo.zip``,
``hf_model/``, ``tensorboard/``, with periodic evaluation ``best_model.zip`` and
``eval_history.json``) and ``run.json`` (written last: the run is finished).

With a ``check_dataset`` the initial and trained policy are evaluated on it too, in the same
way, under ``check`` in ``run.json``.

``run.json`` holds, for the initial and the trained policy, every metric's mean
(``initial``, ``trained``) and its value on each held-out example (``per_example``; the
same examples, in the same order, for both and in every run of the comparison), so the
report can pair gains per example and per seed. Runs with the same evaluation settings share
one evaluation of the initial policy (see :mod:`textgym.experiments.initial_eval`).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch as th

from textgym.atomic import write_json_atomic, write_text_atomic
from textgym.env import TextGenEnv
from textgym.evaluation import EvalResult, evaluate_lm
from textgym.experiments.config import CompareConfig, RunSpec
from textgym.experiments.diversity import distinct_n
from textgym.experiments.grid import RUN_FILE, clear_unfinished, to_jsonable
from textgym.experiments.initial_eval import load_initial_eval, store_initial_eval
from textgym.experiments.manifest import build_manifest
from textgym.policies.kl_penalty import policy_reference
from textgym.training import TrainConfig, TrainResult, make_eval_env, train
from textgym.training.held_out import eval_options, evaluate_held_out
from textgym.training.run_folder import BEST_MODEL

# What a run's files dict names weights by (deleted with keep_models=False).
MODEL_FILES = ("sb3", "hf", "best")


def run_job(config: CompareConfig, spec: RunSpec, threads: int | None = None) -> dict[str, Any]:
    """Train and evaluate one run of the grid and write its files; return its record.

    An unfinished earlier attempt at ``spec.path`` is deleted first.

    Args:
        config: The comparison the run belongs to.
        spec: Which reward, settings and seed, and where to write.
        threads: ``torch.set_num_threads`` for this run (None: leave as is).
    """
    if threads:
        th.set_num_threads(threads)
    clear_unfinished(spec)
    train_config = config.train_config(spec)
    eval_env = make_eval_env(train_config)
    splits = {"train": make_env(train_config, "train").examples, "eval": eval_env.examples}
    manifest = json.dumps(build_manifest(train_config, splits), indent=1)
    write_text_atomic(spec.path / "manifest.json", manifest)
    start = time.perf_counter()
    initial = load_initial_eval(Path(config.out), train_config)
    result = train(train_config, progress_bar=False, initial=initial)
    store_initial_eval(Path(config.out), train_config, result.before)
    record = {
        "run": spec.name,
        "cell": spec.cell,
        "reward": spec.reward,
        "settings": dict(spec.settings),
        "seed": spec.seed,
        "config": to_jsonable(asdict(train_config)),
        **evaluate_run(result.before, result.after),
        "evaluations": result.evaluations,
        "signal_health": result.signal_health,
        "episode_rewards": [float(r) for r in result.episode_rewards],
        "files": run_files(result, spec),
    }
    if config.check_dataset is not None:
        record["check"] = evaluate_check(config, spec, result)
    if not config.keep_models:
        record["files"] = drop_models(record["files"], spec.path)
    record["wall_s"] = round(time.perf_counter() - start, 2)
    write_json_atomic(spec.path / RUN_FILE, record)
    return record


def make_env(config: TrainConfig, split: str) -> TextGenEnv:
    """The unwrapped env of ``config`` on ``split`` (as :func:`train` builds it)."""
    return gym.make(config.env_id, **config.make_env_kwargs(split)).unwrapped


def run_files(result: TrainResult, spec: RunSpec) -> dict[str, str]:
    """The files of the run: :func:`train`'s and the best checkpoint, if one was kept."""
    best = spec.path / BEST_MODEL
    return {**result.files, **({"best": str(best)} if best.is_file() else {})}


def evaluate_check(config: CompareConfig, spec: RunSpec, result: TrainResult) -> dict[str, Any]:
    """The initial and trained policy evaluated on ``config.check_dataset``, as on the eval set.

    The initial policy is the run's frozen reference (the model before training); its
    evaluation is shared between runs like the eval set's.
    """
    check_config = config.check_train_config(spec)
    env = make_eval_env(check_config)
    policy, reference = result.model.policy, policy_reference(result.model)
    initial = load_initial_eval(Path(config.out), check_config)
    if initial is None:
        model, mode = reference
        with mode():
            initial = evaluate_lm(
                model,
                env,
                own_reward=env.reward_fn,
                restrict=policy.generation_restriction(),
                **eval_options(check_config),
            )
        store_initial_eval(Path(config.out), check_config, initial)
    trained = evaluate_held_out(policy, env, check_config, reference)
    return {"dataset": config.check_dataset, **evaluate_run(initial, trained)}


def evaluate_run(before: EvalResult, after: EvalResult) -> dict[str, Any]:
    """The initial and trained policy's metrics, per-example values and generations."""
    policies = {"initial": before, "trained": after}
    return {
        **{key: policy_metrics(ev) for key, ev in policies.items()},
        "per_example": {key: ev.per_example for key, ev in policies.items()},
        "bleu_stats": {key: ev.bleu_stats for key, ev in policies.items()},
        "example_ids": after.example_ids,
        "samples": after.samples,
        "generations": {key: ev.generations for key, ev in policies.items()},
    }


def policy_metrics(ev: EvalResult) -> dict[str, float]:
    """Every metric of one evaluation, plus the diversity of its greedy outputs."""
    return {
        **{name: float(value) for name, value in ev.metrics.items()},
        "distinct_1": distinct_n(ev.generations, 1),
        "distinct_2": distinct_n(ev.generations, 2),
    }


def drop_models(files: dict[str, str], run_dir: Path) -> dict[str, str]:
    """Delete the saved model weights (:data:`MODEL_FILES`) and return the remaining files.

    Only weights the run wrote are deleted: a path missing from ``files`` or outside
    ``run_dir`` is left alone.
    """
    inside = run_dir.resolve()
    for key in MODEL_FILES:
        if not files.get(key):
            continue
        path = Path(files[key]).resolve()
        if path == inside or not path.is_relative_to(inside):
            continue
        if path.is_dir():
            shutil.rmtree(path)
        elif path.is_file():
            path.unlink()
    return {key: path for key, path in files.items() if key not in MODEL_FILES}
