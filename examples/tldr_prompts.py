"""Prompt files for PPO against a reward model trained on the TL;DR comparisons.

The posts of the pairs ``textgym train-rm`` trained on (same file, ``--split-by`` and
``--seed``: the same duplicate rule and split) become the PPO prompts; posts that appear only
in its held-out pairs become the held-out prompts, so the policy is judged on posts the reward
model never scored in training. Fields: ``id``, ``source`` (the post).

Run: python examples/tldr_prompts.py [--split-by worker] [--seed 0] [--out runs/tldr_prompts]
     [--pairs runs/tldr_pairs.jsonl]
"""

import argparse
import json
from pathlib import Path

from textgym.atomic import write_text_atomic
from textgym.reward_models import load_pairs
from textgym.reward_models.duplicates import resolve_duplicates
from textgym.reward_models.splitting import split_pairs

parser = argparse.ArgumentParser()
parser.add_argument("--pairs", default="runs/tldr_pairs.jsonl")
parser.add_argument("--split-by", default="worker")
parser.add_argument("--val-fraction", type=float, default=0.2)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--out", default="runs/tldr_prompts")
args = parser.parse_args()

pairs, _ = resolve_duplicates(load_pairs(args.pairs))
train, held_out = split_pairs(pairs, args.val_fraction, args.seed, args.split_by.split(","))
seen = list(dict.fromkeys(p.prompt for p in train))
unseen = [prompt for prompt in dict.fromkeys(p.prompt for p in held_out) if prompt not in set(seen)]
for name, prompts in (("train", seen), ("heldout", unseen)):
    path = Path(args.out) / f"{name}.jsonl"
    rows = [{"id": f"{name}-{i}", "source": prompt} for i, prompt in enumerate(prompts)]
    write_text_atomic(path, "".join(json.dumps(row) + "\n" for row in rows))
    print(f"{name}: {len(rows)} posts -> {path}")
