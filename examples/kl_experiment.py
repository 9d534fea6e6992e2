"""The same PPO run with and without the KL-to-reference penalty, side by side.

Trains the embedded SmolLM2-135M-Instruct on TextSummarize-v0 with ROUGE-L twice (same seed,
data and settings; only ``kl_coef`` differs), then reports held-out ROUGE-L, the per-token KL
of each trained model to the initial one on its greedy held-out generations, and samples.

Run: python examples/kl_experiment.py [--timesteps 1024] [--kl-coef 0.1] [--out runs/kl]
"""

import argparse
import json
from pathlib import Path

import gymnasium as gym

import textgym  # noqa: F401  (registers the envs)
from textgym import load_causal_lm
from textgym.atomic import write_text_atomic
from textgym.evaluation.kl_to_initial import greedy_sequences, kl_to_initial
from textgym.training import TrainConfig, train

parser = argparse.ArgumentParser()
parser.add_argument("--model", default="smollm2-135m-instruct")
parser.add_argument("--timesteps", type=int, default=1024)
parser.add_argument("--kl-coef", type=float, default=0.1)
parser.add_argument("--learning-rate", type=float, default=5e-5)
parser.add_argument("--max-new-tokens", type=int, default=24)
parser.add_argument("--eval-examples", type=int, default=10)
parser.add_argument("--out", default="runs/kl_experiment")
args = parser.parse_args()

base = dict(
    model=args.model,
    reward="rougeL",
    timesteps=args.timesteps,
    n_envs=8,
    n_steps=2 * args.max_new_tokens,
    batch_size=4 * args.max_new_tokens,
    learning_rate=args.learning_rate,
    max_new_tokens=args.max_new_tokens,
    max_prompt_tokens=192,
    eval_examples=args.eval_examples,
)
env = gym.make(
    "TextSummarize-v0",
    split="test",
    tokenizer=args.model,
    max_new_tokens=args.max_new_tokens,
    max_prompt_tokens=192,
).unwrapped
initial = load_causal_lm(args.model).eval()
rows = {}
for kl_coef in (0.0, args.kl_coef):
    result = train(
        TrainConfig(**base, kl_coef=kl_coef, out=f"{args.out}/kl{kl_coef}"), progress_bar=False
    )
    lm = result.model.policy.lm.eval()
    kl = kl_to_initial(lm, initial, greedy_sequences(lm, env, args.eval_examples), env.vocab_size)
    k = max(1, len(result.episode_rewards) // 5)
    rows[kl_coef] = {
        "train reward (last 20% of episodes)": sum(result.episode_rewards[-k:]) / k,
        "held-out rougeL before": result.before.metrics["rougeL"],
        "held-out rougeL after": result.after.metrics["rougeL"],
        "KL to initial per token (exact)": kl.exact,
        "mean new tokens": result.after.mean_new_tokens,
        "samples": result.after.generations[:3],
    }

print("| | " + " | ".join(f"kl_coef={c}" for c in rows) + " |\n|---|" + "---:|" * len(rows))
for key in next(iter(rows.values())):
    if key != "samples":
        print(f"| {key} | " + " | ".join(f"{r[key]:.4f}" for r in rows.values()) + " |")
for i in range(3):
    print(f"\nexample {i}: {env.examples[i].references[0]}")
    for c, r in rows.items():
        print(f"  kl_coef={c}: {r['samples'][i]}")
write_text_atomic(Path(args.out) / "kl_experiment.json", json.dumps(rows, indent=1))
