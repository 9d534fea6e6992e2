"""Rebuild the SAMSum train / validation / test files of the reward experiment from their ids.

The split definitions (example ids; 519 to train on, 100 to choose settings on, 200 held out
for the final comparison) are in docs/results/reward_experiment/splits.json; SAMSum's texts
(CC BY-NC-ND 4.0) are not in the repository. ``--data`` is a Hugging Face dataset id
(``NAME[:CONFIG][@REVISION]``, default ``knkarthick/samsum``, whose test split is read), a
local copy of it (a folder of its files), or a JSONL/CSV file with SAMSum's test dialogues.

Run: python examples/samsum_splits.py [--data knkarthick/samsum] [--out runs/exp_data]
"""

import argparse
import json
from pathlib import Path

from textgym.atomic import write_text_atomic
from textgym.data import load_examples

SPLITS = Path(__file__).resolve().parents[1] / "docs/results/reward_experiment/splits.json"

parser = argparse.ArgumentParser()
parser.add_argument("--data", default="knkarthick/samsum", help="dataset id, folder or file")
parser.add_argument("--splits", default=str(SPLITS), help="the split definitions (ids)")
parser.add_argument("--out", default="runs/exp_data")
args = parser.parse_args()

definition = json.loads(Path(args.splits).read_text(encoding="utf-8"))
examples = {e.id: e for e in load_examples(args.data, task="summarize", split=definition["split"])}
for split, ids in definition["splits"].items():
    missing = [i for i in ids if i not in examples]
    if missing:
        raise SystemExit(
            f"{args.data} lacks {len(missing)} of the {split} ids (e.g. {missing[0]!r}); "
            f"use SAMSum's {definition['split']} split ({definition['dataset']})."
        )
    rows = [
        {"id": i, "source": examples[i].source, "reference": examples[i].references[0]} for i in ids
    ]
    path = Path(args.out) / f"samsum_{split}.jsonl"
    write_text_atomic(path, "".join(json.dumps(row) + "\n" for row in rows))
    print(f"{split}: {len(rows)} rows -> {path}")
