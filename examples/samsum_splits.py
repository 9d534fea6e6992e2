"""Split SAMSum (../shared/data) into train / validation / test files for the reward experiment.

A fixed shuffle (seed 0) of the 819 dialogues: 519 to train on, 100 to choose settings on
(the sweep), 200 held out for the final comparison only.

Run: python examples/samsum_splits.py [--data ../shared/data/summarization/samsum_819.jsonl]
     [--out runs/exp_data]
"""

import argparse
import json
import random
from pathlib import Path

from textgym.atomic import write_text_atomic

SIZES = {"train": 519, "validation": 100, "test": 200}

parser = argparse.ArgumentParser()
parser.add_argument("--data", default="../shared/data/summarization/samsum_819.jsonl")
parser.add_argument("--out", default="runs/exp_data")
args = parser.parse_args()

rows = [json.loads(line) for line in Path(args.data).read_text(encoding="utf-8").splitlines()]
if len(rows) < sum(SIZES.values()):
    raise SystemExit(f"{args.data} has {len(rows)} rows; the splits need {sum(SIZES.values())}.")
random.Random(0).shuffle(rows)
start = 0
for split, size in SIZES.items():
    part = rows[start : start + size]
    start += size
    path = Path(args.out) / f"samsum_{split}.jsonl"
    write_text_atomic(path, "".join(json.dumps(row) + "\n" for row in part))
    print(f"{split}: {len(part)} rows -> {path}")
