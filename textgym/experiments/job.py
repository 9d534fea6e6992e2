"""One run of the grid: train, evaluate initial and trained policy, write the results.

A run's folder holds ``manifest.json`` (written first), the files of
:func:`textgym.training.train` (``metrics.json``, ``reward_curve.png``, ``ppo.zip``,
``hf_model/``, ``tensorboard/``) and ``run.json`` (written last: the run is finished).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th

from textgym.atomic import write_text_atomic
from textgym.env import TextGenEnv
from textgym.evaluation import EVAL_METRICS, EvalResult
from textgym.experiments.config import CompareConfig, RunSpec
from textgym.experiments.diversity import distinct_n
from textgym.experiments.grid import RUN_FILE, clear_unfinished, to_jsonable
from textgym.experiments.kl_to_initial import greedy_sequences, kl_to_initial
from textgym.experiments.manifest import build_manifest
from textgym.models import load_causal_lm
from textgym.rewards import make_reward, score
from textgym.training import TrainConfig, TrainResult, train

# Every per-policy number a run records, in report order. "own_reward" is the held-out score
# of the reward the run was trained on; the KL columns are 0 for the initial policy.
RUN_METRICS = (
    *EVAL_METRICS,
    "own_reward",
    "kl_to_init",
    "kl_to_init_exact",
    "mean_new_tokens",
    "distinct_1",
    "distinct_2",
)


def run_job(config: CompareConfig, spec: RunSpec, threads: int | None = None) -> dict[str, Any]:
    """Train and evaluate one run of the grid and write its files; return its record.

    An unfinished earlier attempt at ``spec.path`` is deleted first.

    Args:
        config: The comparison the run belongs to.
        spec: Which reward and seed, and where to write.
        threads: ``torch.set_num_threads`` for this run (None: leave as is).
    """
    if threads:
        th.set_num_threads(threads)
    clear_unfinished(spec)
    train_config = config.train_config(spec)
    eval_env = make_env(train_config, train_config.eval_split)
    splits = {"train": make_env(train_config, "train").examples, "eval": eval_env.examples}
    manifest = json.dumps(build_manifest(train_config, splits), indent=1)
    write_text_atomic(spec.path / "manifest.json", manifest)
    start = time.perf_counter()
    result = train(train_config, progress_bar=False)
    record = {
        "run": spec.name,
        "reward": spec.reward,
        "seed": spec.seed,
        "config": to_jsonable(asdict(train_config)),
        **evaluate_run(train_config, result, eval_env),
        "episode_rewards": [float(r) for r in result.episode_rewards],
        "files": dict(result.files),
    }
    if not config.keep_models:
        record["files"] = drop_models(record["files"])
    record["wall_s"] = round(time.perf_counter() - start, 2)
    write_text_atomic(spec.path / RUN_FILE, json.dumps(record, indent=1))
    return record


def make_env(config: TrainConfig, split: str) -> TextGenEnv:
    """The unwrapped env of ``config`` on ``split`` (as :func:`train` builds it)."""
    return gym.make(config.env_id, **config.make_env_kwargs(split)).unwrapped


def evaluate_run(config: TrainConfig, result: TrainResult, env: TextGenEnv) -> dict[str, Any]:
    """Metrics of the initial and trained policy on ``env``'s first ``eval_examples``."""
    trained = result.model.policy.lm.eval()
    device = next(trained.parameters()).device
    initial = load_causal_lm(config.model).to(device).eval()
    sequences = greedy_sequences(trained, env, config.eval_examples)
    kl = kl_to_initial(trained, initial, sequences, env.vocab_size)
    decoded = [env.tokenizer.decode(new, skip_special_tokens=True) for _, new in sequences]
    policies = {"initial": result.before, "trained": result.after}
    metrics = {key: policy_metrics(config, ev, env) for key, ev in policies.items()}
    metrics["initial"].update(kl_to_init=0.0, kl_to_init_exact=0.0)
    metrics["trained"].update(kl_to_init=kl.log_ratio, kl_to_init_exact=kl.exact)
    return {
        **metrics,
        "kl_tokens": kl.n_tokens,
        # the KL is computed on regenerated greedy outputs; they should equal the evaluated ones
        "kl_generations_match": decoded == result.after.generations,
        "generations": {key: ev.generations for key, ev in policies.items()},
    }


def policy_metrics(config: TrainConfig, ev: EvalResult, env: TextGenEnv) -> dict[str, float]:
    """Built-in metrics, own reward, length and diversity of one evaluation."""
    examples = env.examples[: len(ev.generations)]
    refs = [ex.references for ex in examples]
    sources = [ex.source for ex in examples]
    own = score(make_reward(config.reward), ev.generations, refs, sources)[0]
    return {
        **{name: float(value) for name, value in ev.metrics.items()},
        "own_reward": float(np.mean(own)),
        "mean_new_tokens": float(ev.mean_new_tokens),
        "distinct_1": distinct_n(ev.generations, 1),
        "distinct_2": distinct_n(ev.generations, 2),
    }


def drop_models(files: dict[str, str]) -> dict[str, str]:
    """Delete the saved model weights (``sb3``, ``hf``) and return the remaining files."""
    for key in ("sb3", "hf"):
        path = Path(files.get(key, ""))
        if path.is_dir():
            shutil.rmtree(path)
        elif path.is_file():
            path.unlink()
    return {key: path for key, path in files.items() if key not in ("sb3", "hf")}
