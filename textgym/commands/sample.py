"""``textgym sample``: sample k responses per prompt as pairs for people to judge."""

from __future__ import annotations

import argparse
import dataclasses

from textgym.commands.config_options import nonempty
from textgym.evaluation.candidates import FIELDS, WRITER, SampleConfig, sample_candidates

_EPILOG = f"""\
Output: JSON Lines, one comparison of two distinct responses to a prompt per line (every
pair of a prompt's k samples: up to k*(k-1)/2 lines per prompt). Fields:
{chr(10).join(f"  {name:<11} {meaning}" for name, meaning in FIELDS.items())}

Judging: for each line, copy the preferred response into "chosen" and the other into
"rejected" (delete the line if neither is better). The judged file feeds
`textgym train-rm --pairs FILE` as is: it reads prompt, chosen and rejected, keeps the
other fields as metadata, and refuses a file in which a line is still unjudged (null).
The file is written atomically; an existing --out is replaced only if `{WRITER}`
wrote it and nothing in it has been judged.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the options of ``textgym sample`` to ``p``."""
    d = SampleConfig()
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = _EPILOG
    p.add_argument("--model", type=nonempty, default=d.model, help="embedded name, HF name or path")
    p.add_argument(
        "--dataset",
        type=nonempty,
        required=True,
        help="JSONL/CSV path or HF dataset; references not needed",
    )
    p.add_argument("--k", type=int, default=d.k, help="responses sampled per prompt (>= 2)")
    p.add_argument("--out", type=nonempty, default=d.out, help="the JSONL file to write")
    p.add_argument(
        "--task",
        type=nonempty,
        default=d.task,
        help="prompt format: summarize, dialogue, translate",
    )
    p.add_argument(
        "--split", type=nonempty, default=d.split, help="split of a hub or shipped dataset"
    )
    p.add_argument("--limit", type=int, default=None, help="use only the first N prompts")
    p.add_argument("--max-prompt-tokens", type=int, default=d.max_prompt_tokens)
    p.add_argument("--max-new-tokens", type=int, default=d.max_new_tokens)
    p.add_argument("--temperature", type=float, default=d.temperature)
    p.add_argument("--top-k", type=int, default=d.top_k, help="0: off")
    p.add_argument("--top-p", type=float, default=d.top_p, help="1.0: off")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", type=nonempty, default=d.device, help="cpu, cuda, cuda:0 or auto")


def run(args: argparse.Namespace) -> None:
    """Run ``textgym sample`` with parsed ``args``."""
    names = {field.name for field in dataclasses.fields(SampleConfig)}
    config = SampleConfig(**{k: v for k, v in vars(args).items() if k in names})
    result = sample_candidates(config)
    print(
        f"{result.pairs} comparisons of {config.k} samples for {result.prompts} prompts "
        f"written to {result.path}; fill in chosen/rejected, then "
        f"`textgym train-rm --pairs {result.path}`."
    )
