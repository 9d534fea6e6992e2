"""The default PPO (GAE + value head) against RLOO (groups of 4, no value head), equal tokens.

Trains the embedded SmolLM2-135M-Instruct on TextSummarize-v0 with ROUGE-L once per mode, with
the same seed, data, token budget and every other setting, then reports held-out ROUGE-L
(greedy, before and after), its per-example paired change with a bootstrap interval, the
training reward and the wall time of each run. Re-running after a kill resumes each run from
its last checkpoint (the result is the same as an uninterrupted run).

Run: python examples/rloo_vs_ppo.py [--timesteps 2048] [--out runs/rloo_vs_ppo]
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

from textgym.atomic import write_text_atomic
from textgym.training import TrainConfig, train

parser = argparse.ArgumentParser()
parser.add_argument("--model", default="smollm2-135m-instruct")
parser.add_argument("--timesteps", type=int, default=2048)
parser.add_argument("--learning-rate", type=float, default=5e-6)
parser.add_argument("--max-new-tokens", type=int, default=32)
parser.add_argument("--eval-examples", type=int, default=20)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--out", default="runs/rloo_vs_ppo")
args = parser.parse_args()

base = dict(
    model=args.model,
    reward="rougeL",
    timesteps=args.timesteps,
    n_envs=8,
    n_steps=args.max_new_tokens,
    batch_size=8 * args.max_new_tokens,  # the whole rollout is one minibatch
    n_epochs=4,
    learning_rate=args.learning_rate,
    max_new_tokens=args.max_new_tokens,
    max_prompt_tokens=192,
    kl_coef=0.05,
    eval_examples=args.eval_examples,
    seed=args.seed,
)
modes = {"ppo_gae": {}, "rloo_k4": {"group_size": 4, "advantage": "rloo"}}


def paired_interval(before: np.ndarray, after: np.ndarray, n: int = 10_000) -> list[float]:
    """95% bootstrap interval of the mean per-example change (same prompts before/after)."""
    change = after - before
    rng = np.random.default_rng(0)
    means = change[rng.integers(len(change), size=(n, len(change)))].mean(axis=1)
    return [float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))]


rows = {}
for name, mode in modes.items():
    start = time.perf_counter()
    config = TrainConfig(**base, **mode, out=f"{args.out}/{name}")
    interrupted = (Path(config.out) / "checkpoints" / "latest").exists()
    result = train(config, progress_bar=False, resume=interrupted)  # a killed run resumes
    before = np.asarray(result.before.per_example["rougeL"])
    after = np.asarray(result.after.per_example["rougeL"])
    k = max(1, len(result.episode_rewards) // 5)
    rows[name] = {
        "rougeL_before": float(before.mean()),
        "rougeL_after": float(after.mean()),
        "change_95ci": paired_interval(before, after),
        "train_reward_first": float(np.mean(result.episode_rewards[:k])),
        "train_reward_last": float(np.mean(result.episode_rewards[-k:])),
        "episodes": len(result.episode_rewards),
        "seconds": round(time.perf_counter() - start, 1),
    }
    print(name, json.dumps(rows[name]), flush=True)

report = {"settings": {**base, "modes": modes}, "results": rows}
path = Path(args.out) / "rloo_vs_ppo.json"
write_text_atomic(path, json.dumps(report, indent=1) + "\n")
print(
    "| mode | held-out ROUGE-L before → after | paired change, 95% CI | train reward "
    "first → last fifth | time |\n|---|---|---|---|---:|"
)
for name, r in rows.items():
    low, high = r["change_95ci"]
    print(
        f"| {name} | {r['rougeL_before']:.4f} → {r['rougeL_after']:.4f} | "
        f"[{low:+.4f}, {high:+.4f}] | {r['train_reward_first']:.3f} → "
        f"{r['train_reward_last']:.3f} | {r['seconds']:.0f} s |"
    )
print(f"written: {path}")
