"""PPO against a learned reward model (e.g. one made by ``textgym train-rm``).

The envs pay no reward themselves (``reward="none"``); ``VecRewardWrapper`` scores every
summary that ends in a vector step with the reward model, in one batched call.

Run: python examples/train_with_reward_model.py --rm rm/ [--timesteps 512]
"""

import argparse

import numpy as np
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

import textgym  # noqa: F401  (registers the envs)
from textgym.env import VecRewardWrapper
from textgym.policies import EpisodeRolloutBuffer, LMPolicy

parser = argparse.ArgumentParser()
parser.add_argument("--rm", required=True, help="folder of a reward model (textgym train-rm --out)")
parser.add_argument("--model", default="smollm2-135m-instruct")
parser.add_argument("--timesteps", type=int, default=512)
parser.add_argument("--n-envs", type=int, default=8)
parser.add_argument("--max-new-tokens", type=int, default=24)
args = parser.parse_args()

env_kwargs = {"tokenizer": args.model, "reward": "none", "max_new_tokens": args.max_new_tokens}
env = make_vec_env("TextSummarize-v0", n_envs=args.n_envs, seed=0, env_kwargs=env_kwargs)
env = VecRewardWrapper(env, f"rm:{args.rm}")
model = PPO(
    LMPolicy,
    env,
    n_steps=2 * args.max_new_tokens,
    batch_size=4 * args.max_new_tokens,
    n_epochs=2,
    gamma=1.0,  # the reward comes at the end: no discount toward early EOS
    learning_rate=1e-5,
    rollout_buffer_class=EpisodeRolloutBuffer,
    policy_kwargs={"model": args.model},
    seed=0,
)
model.learn(args.timesteps)
returns = [e["r"] for e in model.ep_info_buffer]
k = max(1, len(returns) // 4)
first, last = np.mean(returns[:k]), np.mean(returns[-k:])
print(f"reward-model score: first {k} episodes {first:.4f}, last {k} {last:.4f}")
