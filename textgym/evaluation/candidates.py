"""Sample k responses per prompt and write them as pairs for people to judge.

Each line of the output is one comparison of two distinct sampled responses to a prompt,
in the shape of the preference pairs ``textgym train-rm`` reads (``prompt``, ``chosen``,
``rejected``), with ``chosen`` and ``rejected`` left null for a person to fill in. A file
still holding a null is refused by ``train-rm``, so unjudged comparisons never train a
reward model. See :data:`FIELDS` for every field.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch as th

from textgym.atomic import write_text_atomic
from textgym.devices import check_device, default_device
from textgym.env import TextGenEnv
from textgym.errors import ConfigError
from textgym.evaluation.generation import decode, generate_sequences
from textgym.models import DEFAULT_MODEL, load_lm
from textgym.policies.sampling import SamplingConfig

WRITER = "textgym sample"

#: Each output line's fields and what they hold.
FIELDS = {
    "id": "EXAMPLE_ID:I-J, unique per line",
    "prompt": "the example's source text (what a reward model reads as the prompt)",
    "response_a": "sampled response number I of the prompt",
    "response_b": "sampled response number J of the prompt",
    "chosen": "null; fill in the preferred response's text (response_a's or response_b's)",
    "rejected": "null; fill in the other response's text (delete the line for a tie)",
    "example_id": "the example's id in the dataset",
    "candidates": "[I, J]: the two responses' numbers among the prompt's k samples",
    "model": "the model that sampled them",
    "written_by": f'"{WRITER}": marks a file this command may overwrite',
}


@dataclass(frozen=True)
class SampleConfig:
    """What ``textgym sample`` samples, and where it writes.

    Attributes:
        model: An embedded name, a Hugging Face name or a folder (also the tokenizer).
        dataset: A JSONL/CSV path or Hugging Face dataset (references are not needed).
        out: The JSONL file to write.
        k: Responses sampled per prompt (>= 2); every pair of distinct ones is a line.
        task: The task whose prompt format is used (``summarize``, ``dialogue``, ...).
        split: The split of a hub or shipped dataset.
        limit: Use only the first N prompts (None: all).
        max_prompt_tokens: As in :class:`~textgym.TextGenEnv`.
        max_new_tokens: The most tokens per response.
        temperature: Sampling temperature.
        top_k: Top-k sampling (0: off).
        top_p: Nucleus sampling (1.0: off).
        seed: Seeds the sampling.
        device: A torch device, or ``"auto"`` (CUDA when available, else CPU).
    """

    model: str = DEFAULT_MODEL
    dataset: str | None = None
    out: str = "candidates.jsonl"
    k: int = 4
    task: str = "summarize"
    split: str = "train"
    limit: int | None = None
    max_prompt_tokens: int = 256
    max_new_tokens: int = 48
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 2:
            raise ConfigError(
                f"k={self.k!r} (--k) must be an integer >= 2: each line compares two of a "
                f"prompt's k sampled responses."
            )
        if self.limit is not None and (not isinstance(self.limit, int) or self.limit < 1):
            raise ConfigError(f"limit={self.limit!r} (--limit) must be an integer >= 1, or unset.")
        for name in ("max_prompt_tokens", "max_new_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                flag = "--" + name.replace("_", "-")
                raise ConfigError(f"{name}={value!r} ({flag}) must be an integer >= 1.")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed={self.seed!r} (--seed) must be an integer >= 0.")
        SamplingConfig(self.temperature, self.top_k, self.top_p)  # its errors name each


@dataclass
class SampleResult:
    """What :func:`sample_candidates` wrote: the file, and how many prompts and pairs."""

    path: Path
    prompts: int
    pairs: int


def sample_candidates(config: SampleConfig) -> SampleResult:
    """Sample ``k`` responses per prompt and write every pair of distinct ones (atomically).

    Raises:
        ConfigError: ``out`` is a folder, or an existing file this command did not write
            or that holds judgments (checked before sampling and again before writing); a
            bad model, device or setting.
        DatasetError: the dataset cannot be read.
    """
    check_overwritable(config.out)
    env = TextGenEnv(
        task=config.task,
        dataset=config.dataset,
        split=config.split,
        reward="none",
        tokenizer=config.model,
        max_prompt_tokens=config.max_prompt_tokens,
        max_new_tokens=config.max_new_tokens,
    )
    device = check_device(config.device, "textgym sample") or default_device()
    lm = load_lm(config.model).to(device).eval()
    indices = list(range(min(config.limit or len(env.examples), len(env.examples))))
    sampling = SamplingConfig(config.temperature, config.top_k, config.top_p)
    with th.random.fork_rng(devices=[device] if device.startswith("cuda") else []):
        th.manual_seed(config.seed)
        repeated = [i for i in indices for _ in range(config.k)]
        texts = decode(env, generate_sequences(lm, env, repeated, greedy=False, sampling=sampling))
    rows = []
    for n, index in enumerate(indices):
        rows += pair_rows(env.examples[index], texts[n * config.k : (n + 1) * config.k], config)
    check_overwritable(config.out)
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    return SampleResult(write_text_atomic(config.out, text), len(indices), len(rows))


def pair_rows(example: Any, responses: list[str], config: SampleConfig) -> list[dict[str, Any]]:
    """One line per pair of distinct responses (the first of repeated ones kept)."""
    distinct = {text: i for i, text in reversed(list(enumerate(responses)))}
    numbered = sorted((i, text) for text, i in distinct.items())
    return [
        {
            "id": f"{example.id}:{i}-{j}",
            "prompt": example.source,
            "response_a": a,
            "response_b": b,
            "chosen": None,
            "rejected": None,
            "example_id": example.id,
            "candidates": [i, j],
            "model": config.model,
            "written_by": WRITER,
        }
        for (i, a), (j, b) in itertools.combinations(numbered, 2)
    ]


def check_overwritable(path: str | os.PathLike[str]) -> None:
    """Raise unless ``path`` is free, or an unjudged file this command wrote.

    Raises:
        ConfigError: ``path`` is a folder, a file not written by ``textgym sample``, or
            one in which a comparison has been judged (``chosen`` filled in).
    """
    target = Path(path)
    if target.is_dir():
        raise ConfigError(f"--out {str(target)!r} is a folder; give a .jsonl file path.")
    if not target.exists():
        return
    rows = _rows(target)
    if rows is None or any(row.get("written_by") != WRITER for row in rows):
        raise ConfigError(
            f"--out {str(target)!r} exists and was not written by `{WRITER}`; it is not "
            f"overwritten. Choose another --out, or move the file yourself."
        )
    if any(row.get("chosen") is not None or row.get("rejected") is not None for row in rows):
        raise ConfigError(
            f"--out {str(target)!r} holds judged comparisons (chosen/rejected filled in); "
            f"they are not overwritten. Choose another --out, or move the file yourself."
        )


def _rows(path: Path) -> list[dict[str, Any]] | None:
    """The JSON objects on ``path``'s lines; None if any line is not one."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        rows = [json.loads(line) for line in lines if line.strip()]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return rows if all(isinstance(row, dict) for row in rows) else None
