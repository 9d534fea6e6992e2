"""Compare training rewards on TextSummarize-v0 with the Python API of `textgym compare`.

Every run shares the model, data, PPO and generation settings; only the reward and the seed
change. Re-running with the same --out resumes: finished runs are not trained again.

Run: python examples/compare_rewards.py [--rewards rouge1,chrf] [--seeds 2] [--out runs/cmp]
"""

import argparse

from textgym.experiments import CompareConfig, compare
from textgym.training import TrainConfig

parser = argparse.ArgumentParser()
parser.add_argument("--model", default="smollm2-135m-instruct")
parser.add_argument("--rewards", default="rouge1,chrf")
parser.add_argument("--seeds", type=int, default=2)
parser.add_argument("--out", default="runs/compare_example")
parser.add_argument("--tiny", action="store_true", help="a few steps only (for tests)")
args = parser.parse_args()

# 1. The settings every run shares: one TrainConfig (its reward, seed and out are set per run).
base = TrainConfig(
    env_id="TextSummarize-v0",
    model=args.model,
    timesteps=16 if args.tiny else 256,
    n_envs=2 if args.tiny else 4,
    n_steps=4 if args.tiny else 32,
    batch_size=8 if args.tiny else 64,
    n_epochs=1 if args.tiny else 2,
    max_prompt_tokens=64 if args.tiny else 192,
    max_new_tokens=3 if args.tiny else 16,
    eval_examples=2 if args.tiny else 10,
)

# 2. The grid: rewards × seeds, run one after another in this process (workers=1).
config = CompareConfig(
    rewards=tuple(args.rewards.split(",")),
    seeds=tuple(range(args.seeds)),
    base=base,
    out=args.out,
)
result = compare(config)

# 3. What happened, and the report.
print(f"trained {result.trained}, skipped (already finished) {result.skipped}")
for record in result.records:
    gain = record["trained"]["own_reward"] - record["initial"]["own_reward"]
    kl = record["trained"]["kl_to_init"]
    print(f"{record['run']:>20}: held-out {record['reward']} {gain:+.4f}, KL {kl:.4f}")
print("report:", result.files["report"])
