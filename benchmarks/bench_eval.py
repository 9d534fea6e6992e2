"""Held-out evaluation speed: ``evaluate_lm`` ÷ ``model.generate`` at its best batch size.

Both generate greedily for the same SAMSum prompts (256 prompt tokens at most, 48 new, EOS
ends a row) with the same model. ``generate`` runs length-sorted batches of each size in
``--batch-sizes`` and the fastest is the baseline; ``evaluate_lm`` runs twice: as the initial
evaluation (the model is its own reference) and as a trained model's (a frozen copy is the
reference, as in a full fine-tuning run), each with ROUGE-L as the own reward. Speeds are
generated tokens per second (EOS included, nothing after it), the same count on every side.

Run: ``python benchmarks/bench_eval.py [--examples 200]``.
"""

from __future__ import annotations

import argparse
import copy
import json

import torch as th
from common import SHARED, add_row_argument, machine, record, row_of, timer

from textgym import TextGenEnv, load_causal_lm, load_tokenizer
from textgym.evaluation import evaluate_lm


def samsum_rows(n: int) -> list[dict]:
    """The first ``n`` SAMSum test dialogues of ../shared/data."""
    path = SHARED / "summarization" / "samsum_819.jsonl"
    if not path.exists():
        raise SystemExit(f"bench_eval needs {path} (the SAMSum sample of ../shared/data)")
    with path.open() as f:
        return [json.loads(line) for _, line in zip(range(n), f, strict=False)]


@th.no_grad()
def generate_tokens(lm: th.nn.Module, env: TextGenEnv, batch_size: int) -> int:
    """Greedy ``generate`` over all prompts in length-sorted batches; generated tokens."""
    prompts = sorted((env.prompts.build(e)[0] for e in env.examples), key=len)
    eos, total = sorted(env.eos_token_ids), 0
    for start in range(0, len(prompts), batch_size):
        batch = prompts[start : start + batch_size]
        width = max(map(len, batch))
        ids = th.tensor([[env.pad_token_id] * (width - len(p)) + p for p in batch])
        mask = th.arange(width)[None] >= th.tensor([width - len(p) for p in batch])[:, None]
        out = lm.generate(
            input_ids=ids,
            attention_mask=mask.long(),
            do_sample=False,
            max_new_tokens=env.max_new_tokens,
            eos_token_id=eos,
            pad_token_id=env.pad_token_id,
        )
        for row in out[:, width:].tolist():
            total += next((t + 1 for t, tok in enumerate(row) if tok in eos), len(row))
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--prompt", type=int, default=256, help="max prompt tokens")
    parser.add_argument("--new", type=int, default=48, help="max new tokens")
    parser.add_argument("--batch-sizes", default="8,16,32,64")
    add_row_argument(parser)
    args = parser.parse_args()
    th.manual_seed(0)
    env = TextGenEnv(
        dataset=samsum_rows(args.examples),
        tokenizer=load_tokenizer(args.model),
        max_prompt_tokens=args.prompt,
        max_new_tokens=args.new,
    )
    lm = load_causal_lm(args.model).eval()
    reference = (copy.deepcopy(lm).requires_grad_(False), lambda: th.no_grad())
    seconds: dict[str, float] = {}
    tokens: dict[str, int] = {}
    for size in map(int, args.batch_sizes.split(",")):
        with timer(seconds, f"generate_b{size}"):
            tokens[f"generate_b{size}"] = generate_tokens(lm, env, size)
    for name, ref in (("initial", None), ("trained", reference)):
        with timer(seconds, f"eval_{name}"):
            result = evaluate_lm(lm, env, args.examples, reference=ref, own_reward="rougeL")
        tokens[f"eval_{name}"] = round(result.mean_new_tokens * len(result.generations))
    speed = {key: tokens[key] / s for key, s in seconds.items()}
    best = max((k for k in speed if k.startswith("generate")), key=speed.get)
    print(f"# evaluation benchmark ({machine()}); {args.examples} SAMSum dialogues")
    print("| what | seconds | generated tokens | tokens/s |\n|---|---:|---:|---:|")
    for key, s in seconds.items():
        print(f"| {key} | {s:.1f} | {tokens[key]} | {speed[key]:.1f} |")
    figures = {f"{k}_s": s for k, s in seconds.items()}
    figures.update({f"{k}_tok_s": v for k, v in speed.items()})
    figures["best_generate_batch"] = int(best.removeprefix("generate_b"))
    for name in ("initial", "trained"):
        figures[f"ratio_{name}"] = speed[f"eval_{name}"] / speed[best]
        print(f"ratio {name} evaluation / best generate = {figures[f'ratio_{name}']:.2f}")
    record("bench_eval", vars(args), figures, row=row_of(parser, args))


if __name__ == "__main__":
    main()
