"""Turn OpenAI's TL;DR comparisons into `textgym train-rm` pairs (prompt, chosen, rejected).

``--data`` is a Hugging Face dataset id (``NAME[:CONFIG][@REVISION]``, default
``openai/summarize_from_feedback:comparisons``, split ``validation``), a local copy of it (a
folder of its files), or a JSONL file of its rows (``info``, ``summaries``, ``choice``,
``worker``, ``split``, ``extra``). ``--keys`` keeps the comparisons the reward-model
experiments used, in their order: docs/results/rm_length_options/pairs.json holds their keys
(post id, worker, the two summaries' policies), not the texts.

Run: python examples/tldr_pairs.py [--data openai/summarize_from_feedback:comparisons]
     [--keys docs/results/rm_length_options/pairs.json] [--out runs/tldr_pairs.jsonl]
"""

import argparse
import json
from pathlib import Path

from textgym.atomic import write_text_atomic
from textgym.data.sources import resolve_rows

KEYS = Path(__file__).resolve().parents[1] / "docs/results/rm_length_options/pairs.json"


def to_pair(row: dict) -> dict:
    """One comparison in train-rm's format, with the fields the experiments split by."""
    info, summaries, choice = row["info"], row["summaries"], row["choice"]
    chosen, rejected = summaries[choice], summaries[1 - choice]
    return {
        "id": info["id"],
        "prompt": info["post"],
        "title": info.get("title"),
        "chosen": chosen["text"],
        "rejected": rejected["text"],
        "confidence": (row.get("extra") or {}).get("confidence"),
        "worker": row["worker"],
        "policy_chosen": chosen["policy"],
        "policy_rejected": rejected["policy"],
        "split": row.get("split"),
    }


def key(pair: dict) -> tuple:
    return (pair["id"], pair["worker"], pair["policy_chosen"], pair["policy_rejected"])


parser = argparse.ArgumentParser()
parser.add_argument("--data", default="openai/summarize_from_feedback:comparisons")
parser.add_argument("--split", default="validation")
parser.add_argument("--keys", default=str(KEYS), help="'' keeps every comparison")
parser.add_argument("--out", default="runs/tldr_pairs.jsonl")
args = parser.parse_args()

rows, described = resolve_rows(args.data, "summarize", args.split)
pairs = [to_pair(row) for row in rows if row["info"].get("post")]
if args.keys:
    wanted = [tuple(k) for k in json.loads(Path(args.keys).read_text("utf-8"))["comparisons"]]
    found = {key(p): p for p in pairs}
    missing = [k for k in wanted if k not in found]
    if missing:
        raise SystemExit(
            f"{described} lacks {len(missing)} of the {len(wanted)} comparisons in {args.keys} "
            f"(e.g. {missing[0]}); use the comparisons config of {args.data.split(':')[0]}."
        )
    pairs = [found[k] for k in wanted]
write_text_atomic(Path(args.out), "".join(json.dumps(p) + "\n" for p in pairs))
print(f"{len(pairs)} pairs -> {args.out}")
