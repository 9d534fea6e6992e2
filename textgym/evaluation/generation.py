"""Generate for an env's examples with its prompts and limits: greedy, or sampled n times."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch as th
from transformers import LogitsProcessor

from textgym.env import TextGenEnv

if TYPE_CHECKING:
    from textgym.policies.sampling import SamplingConfig

# (prompt token ids, generated token ids)
Sequences = list[tuple[list[int], list[int]]]
# (left-aligned sequences (B, W), their lengths (B,)) -> (B, V) bool: the tokens allowed next
Restriction = Callable[[th.Tensor, th.Tensor], th.Tensor]


@th.no_grad()
def generate_sequences(
    lm: th.nn.Module,
    env: TextGenEnv,
    indices: Sequence[int],
    batch_size: int = 16,
    greedy: bool = True,
    sampling: SamplingConfig | None = None,
    restrict: Restriction | None = None,
) -> Sequences:
    """Generate for the env's examples at ``indices`` with the env's prompts and limits.

    Args:
        lm: The causal LM, or an encoder-decoder one (given the prompt as its source).
        env: Its prompts, examples, EOS tokens and ``max_new_tokens`` are used.
        indices: Examples to generate for (repeat an index to sample it several times).
        batch_size: Prompts per ``generate`` call; prompts are batched in order of length
            (less padding), and the results returned in the order of ``indices``.
        greedy: Greedy decoding, else sampling.
        sampling: Temperature, top-k and top-p of sampling (None: the LM's own
            generation config); ignored when ``greedy``.
        restrict: The policy's token restriction (see
            :meth:`~textgym.policies.LMPolicy.generation_restriction`), applied to every
            decoding step as in rollouts: on the prompt followed by the tokens so far.

    Returns:
        ``(prompt_ids, generated_ids)`` pairs; each generation is cut after its first EOS
        (kept).
    """
    sequences: Sequences = [([], [])] * len(indices)
    for batch in generate_batches(lm, env, indices, batch_size, greedy, sampling, restrict):
        for i, pair in zip(batch.positions, batch.sequences, strict=True):
            sequences[i] = pair
    return sequences


@dataclass
class GeneratedBatch:
    """One ``generate`` call of :func:`generate_batches`.

    Attributes:
        positions: Where in ``indices`` each row's example stands.
        sequences: ``(prompt_ids, generated_ids)`` per row, cut after the first EOS (kept).
        log_probs: With ``log_probs=True``, per row the float64 log-softmax of the LM's own
            logits (over the first ``env.vocab_size``, before any restriction) at each
            generated position, shape ``(len(generated_ids), vocab_size)``; else None.
    """

    positions: list[int]
    sequences: Sequences
    log_probs: list[th.Tensor] | None = None


@th.no_grad()
def generate_batches(
    lm: th.nn.Module,
    env: TextGenEnv,
    indices: Sequence[int],
    batch_size: int = 16,
    greedy: bool = True,
    sampling: SamplingConfig | None = None,
    restrict: Restriction | None = None,
    log_probs: bool = False,
) -> Iterator[GeneratedBatch]:
    """:func:`generate_sequences` one batch at a time, with the log-probs the pass computed.

    Prompts are batched in order of length (less padding). The log-probs come from the same
    forward passes that chose the tokens, so a caller that needs them (the KL to the initial
    model, the perplexity) runs no second pass over the prompts and generations.
    """
    prompts = [env.prompts.build(env.examples[i])[0] for i in indices]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # less padding
    options = _decoding(greedy, sampling)
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        rows, logits = _generate(lm, env, [prompts[i] for i in batch], options, restrict, log_probs)
        cuts = [
            next((t + 1 for t, tok in enumerate(row) if tok in env.eos_token_ids), len(row))
            for row in rows
        ]
        pairs = [(prompts[i], row[:cut]) for i, row, cut in zip(batch, rows, cuts, strict=True)]
        lps = None
        if logits is not None:
            lps = [
                th.log_softmax(logits[j, :cut, : env.vocab_size].double(), dim=-1)
                for j, cut in enumerate(cuts)
            ]
        yield GeneratedBatch(batch, pairs, lps)


def _generate(
    lm: th.nn.Module,
    env: TextGenEnv,
    prompts: list[list[int]],
    options: dict[str, Any],
    restrict: Restriction | None,
    logits: bool = False,
) -> tuple[list[list[int]], th.Tensor | None]:
    """One ``generate`` call on left-padded ``prompts``: each row's new token ids.

    With ``logits``, also the LM's raw logits at each step, shape ``(B, steps, V_model)``.
    """
    device = next(lm.parameters()).device
    width = max(map(len, prompts))
    ids = th.tensor([[env.pad_token_id] * (width - len(p)) + p for p in prompts], device=device)
    mask = th.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
    seq2seq = getattr(getattr(lm, "config", None), "is_encoder_decoder", False)
    if restrict is not None:
        skip = 1 if seq2seq else width  # the decoder start token, or the padded prompts
        restricted = _Restricted(restrict, prompts, skip, device)
        options = {**options, "logits_processor": [restricted]}
    if logits:
        options = {**options, "return_dict_in_generate": True, "output_logits": True}
    out = lm.generate(
        input_ids=ids,
        attention_mask=mask,
        max_new_tokens=env.max_new_tokens,
        eos_token_id=sorted(env.eos_token_ids),
        pad_token_id=env.pad_token_id,
        **options,
    )
    steps = th.stack(out.logits, 1) if logits else None
    out = out.sequences if logits else out
    new = out[:, 1:] if seq2seq else out[:, width:]  # after the decoder start
    return new.tolist(), steps


def _decoding(greedy: bool, sampling: SamplingConfig | None) -> dict[str, Any]:
    """``generate`` keyword arguments for greedy decoding or sampling."""
    if greedy:
        return {"do_sample": False}
    if sampling is None:
        return {"do_sample": True}
    return {
        "do_sample": True,
        "temperature": sampling.temperature,
        "top_k": sampling.top_k,
        "top_p": sampling.top_p,
    }


def decode(env: TextGenEnv, sequences: Sequences) -> list[str]:
    """The generated texts of ``sequences``, special tokens skipped."""
    return [env.tokenizer.decode(new, skip_special_tokens=True) for _, new in sequences]


class _Restricted(LogitsProcessor):
    """A ``generate`` logits processor: tokens a :data:`Restriction` forbids get ``-inf``.

    The restriction sees each row as rollouts do: its prompt, then the tokens generated so
    far (the generated part of ``input_ids`` after its first ``skip`` columns). Token ids
    beyond the restriction's vocabulary (an LM's padded embedding rows) are forbidden too.
    """

    def __init__(
        self, restrict: Restriction, prompts: list[list[int]], skip: int, device: th.device
    ) -> None:
        self.restrict, self.skip = restrict, skip
        self.lengths = th.tensor([len(p) for p in prompts], device=device)
        width = max(map(len, prompts))
        self.prompts = th.tensor([p + [0] * (width - len(p)) for p in prompts], device=device)

    def __call__(self, input_ids: th.Tensor, scores: th.Tensor) -> th.Tensor:
        new = input_ids[:, self.skip :]
        seqs = th.cat([self.prompts, th.zeros_like(new)], 1)
        columns = self.lengths[:, None] + th.arange(new.shape[1], device=new.device)
        seqs.scatter_(1, columns, new)  # each row: its prompt, then its new tokens
        allowed = self.restrict(seqs, self.lengths + new.shape[1])
        out = th.full_like(scores, float("-inf"))
        width = min(allowed.shape[1], scores.shape[1])
        out[:, :width] = scores[:, :width].masked_fill(~allowed[:, :width], float("-inf"))
        return out
