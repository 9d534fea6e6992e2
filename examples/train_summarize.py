"""Train SmolLM2-135M-Instruct to summarize with the stock SB3 PPO, top to bottom in one file.

Run: python examples/train_summarize.py [--timesteps 1024] [--model smollm2-135m-instruct]
"""

import argparse

import gymnasium as gym
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

import textgym  # noqa: F401  (registers the envs)
from textgym.evaluation import evaluate_lm
from textgym.policies import EpisodeRolloutBuffer, LMPolicy

parser = argparse.ArgumentParser()
parser.add_argument("--model", default="smollm2-135m-instruct")
parser.add_argument("--timesteps", type=int, default=1024)
parser.add_argument("--n-envs", type=int, default=8)
parser.add_argument("--max-new-tokens", type=int, default=24)
parser.add_argument("--eval-examples", type=int, default=10)
args = parser.parse_args()
th.manual_seed(0)

# 1. Envs: one step = one token; the reward (ROUGE-L) is paid when the summary ends.
env_kwargs = {"tokenizer": args.model, "reward": "rougeL", "max_new_tokens": args.max_new_tokens}
env = make_vec_env("TextSummarize-v0", n_envs=args.n_envs, seed=0, env_kwargs=env_kwargs)
eval_env = gym.make("TextSummarize-v0", split="test", **env_kwargs).unwrapped

# 2. The stock PPO with the LM policy; whole episodes per minibatch -> one forward per episode.
model = PPO(
    LMPolicy,
    env,
    n_steps=2 * args.max_new_tokens,
    batch_size=4 * args.max_new_tokens,
    n_epochs=2,
    gamma=1.0,  # the reward comes at the end: no discount toward early EOS
    learning_rate=2e-5,
    rollout_buffer_class=EpisodeRolloutBuffer,
    policy_kwargs={"model": args.model},
    seed=0,
)

# 3. Evaluate, train, evaluate again.
before = evaluate_lm(model.policy.lm, eval_env, args.eval_examples)
model.learn(args.timesteps)
after = evaluate_lm(model.policy.lm, eval_env, args.eval_examples)
for name in before.metrics:
    print(f"{name:>10}: {before.metrics[name]:.4f} -> {after.metrics[name]:.4f}")
print("sample:", after.generations[0])
