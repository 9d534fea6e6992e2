"""Banned tokens and phrases (``bad_words``) and an allowed vocabulary (``allowed_tokens``).

A banned phrase of ``n`` tokens bans its last token wherever the sequence so far (prompt
and generation) ends with its first ``n - 1`` tokens, as Hugging Face's
``NoBadWordsLogitsProcessor`` does; a one-token entry is banned everywhere.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import torch as th

from textgym.errors import ConfigError

# A list of strings or of token-id lists, e.g. ["darn", [17, 4]].
TokenLists = Sequence[str | Sequence[int]]


class TokenBans:
    """Which tokens may follow each sequence, given ``bad_words`` and ``allowed_tokens``.

    Strings are encoded without special tokens as written and after a space (the form a
    word takes inside a sentence for BPE tokenizers), each encoding banned or allowed.
    Token-id lists are used as given. ``allowed_tokens`` always includes the tokenizer's
    EOS token, so a generation can end.

    Args:
        bad_words: Words, phrases or token-id lists never to generate; None: none.
        allowed_tokens: The only tokens to generate (strings allow every token of their
            encodings); None: the whole vocabulary.
        tokenizer: The policy's tokenizer (needed for strings).
        n_actions: The vocabulary size (the action space).

    Raises:
        ConfigError: not a list, an entry that is empty, encodes to nothing or to the
            unknown token, an id outside the vocabulary, strings without a tokenizer, or
            settings that leave no token to generate.
    """

    def __init__(
        self,
        bad_words: TokenLists | None,
        allowed_tokens: TokenLists | None,
        tokenizer: Any,
        n_actions: int,
    ) -> None:
        banned = encode_entries("bad_words", bad_words, tokenizer, n_actions)
        allowed = encode_entries("allowed_tokens", allowed_tokens, tokenizer, n_actions)
        self.static = th.ones(n_actions, dtype=th.bool)  # (V,) allowed whatever the context
        if allowed_tokens is not None:
            eos = getattr(tokenizer, "eos_token_id", None)
            ends = [(eos,)] if eos is not None and eos < n_actions else []
            self.static.zero_()
            self.static[_ids([t for ids in allowed + ends for t in ids])] = True
        self.static[_ids([ids[0] for ids in banned if len(ids) == 1])] = False
        if not self.static.any():
            raise ConfigError(
                "bad_words and allowed_tokens leave no token to generate: every token "
                "allowed_tokens allows is banned. Allow more tokens or ban fewer."
            )
        self.phrases = _phrases_by_length([ids for ids in banned if len(ids) > 1])

    def allowed(self, seqs: th.Tensor, lengths: th.Tensor) -> th.Tensor:
        """``(B, V)`` bool: the tokens that may follow row ``b``'s ``lengths[b]`` tokens.

        Args:
            seqs: ``(B, W)`` left-aligned ids (anything after ``lengths[b]`` is ignored).
            lengths: ``(B,)`` valid lengths.

        Raises:
            ConfigError: the banned phrases leave a row no allowed token.
        """
        if self.static.device != seqs.device:
            self.static = self.static.to(seqs.device)
            self.phrases = {
                n: (p.to(seqs.device), t.to(seqs.device)) for n, (p, t) in self.phrases.items()
            }
        mask = self.static.expand(seqs.shape[0], -1).clone()
        for width, (prefixes, lasts) in self.phrases.items():
            index = (lengths[:, None] - width + th.arange(width, device=seqs.device)).clamp(min=0)
            tail = th.gather(seqs, 1, index)  # (B, width): each row's last `width` tokens
            match = (tail[:, None, :] == prefixes[None]).all(-1) & (lengths >= width)[:, None]
            rows, phrase = th.nonzero(match, as_tuple=True)  # (B, P) -> hits
            mask[rows, lasts[phrase]] = False
        if not mask.any(-1).all():
            raise ConfigError(
                "bad_words ban every token allowed_tokens allows after some sequence; allow "
                "more tokens or ban fewer phrases."
            )
        return mask


def encode_entries(
    option: str, entries: TokenLists | None, tokenizer: Any, n_actions: int
) -> list[tuple[int, ...]]:
    """The token-id sequences of ``entries`` (see :class:`TokenBans`); [] for None."""
    if entries is None:
        return []
    if isinstance(entries, (str, bytes)) or not isinstance(entries, Sequence):
        raise ConfigError(
            f"{option}={entries!r} must be a list of strings or token-id lists, e.g. "
            f"{option}=['word', 'a phrase', [17, 4]]."
        )
    out: list[tuple[int, ...]] = []
    for entry in entries:
        encoded = _encode_text(option, entry, tokenizer) if isinstance(entry, str) else [entry]
        out += [_check_ids(option, entry, ids, n_actions) for ids in encoded]
    return list(dict.fromkeys(out))


def _encode_text(option: str, text: str, tokenizer: Any) -> list[list[int]]:
    """``text``'s encodings as written and after a space; raise if it encodes to nothing."""
    if tokenizer is None:
        raise ConfigError(
            f"{option} has the string {text!r} but the policy has no tokenizer to encode it; "
            f"pass policy_kwargs={{'tokenizer': ...}} or token-id lists."
        )
    forms = [text] if text.startswith(" ") else [text, f" {text}"]
    encoded = [list(tokenizer(form, add_special_tokens=False)["input_ids"]) for form in forms]
    unk = getattr(tokenizer, "unk_token_id", None)
    unknown = unk is not None and any(unk in ids for ids in encoded)
    if not text.strip() or not any(encoded) or unknown:
        raise ConfigError(
            f"{option} entry {text!r} cannot be encoded by the policy's tokenizer (it gives "
            f"{encoded[0]}: no tokens, or the unknown token), so it would restrict nothing "
            f"or the wrong token. Remove it, or pass its token ids as a list, e.g. "
            f"{option}=[[id, ...]]."
        )
    return [ids for ids in encoded if ids]


def _check_ids(option: str, entry: Any, ids: Any, n_actions: int) -> tuple[int, ...]:
    """``ids`` as a tuple of ints in ``[0, n_actions)``, else raise naming the entry."""
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence) or not ids:
        raise ConfigError(
            f"{option} entry {entry!r} must be a string or a non-empty list of token ids."
        )
    bad = [
        t
        for t in ids
        if isinstance(t, bool) or not isinstance(t, numbers.Integral) or not 0 <= t < n_actions
    ]
    if bad:
        raise ConfigError(
            f"{option} entry {entry!r} has {bad}, not token ids in [0, {n_actions}) (the "
            f"vocabulary); pass ids of the policy's tokenizer, or strings."
        )
    return tuple(int(t) for t in ids)


def _ids(ids: list[int]) -> th.Tensor:
    """``ids`` as an int64 index tensor (also when empty)."""
    return th.tensor(ids, dtype=th.long)


def _phrases_by_length(
    phrases: list[tuple[int, ...]],
) -> dict[int, tuple[th.Tensor, th.Tensor]]:
    """``{prefix length: (prefixes (P, n), last tokens (P,))}`` of the multi-token phrases."""
    groups: dict[int, list[tuple[int, ...]]] = {}
    for ids in phrases:
        groups.setdefault(len(ids) - 1, []).append(ids)
    return {
        width: (th.tensor([ids[:-1] for ids in group]), th.tensor([ids[-1] for ids in group]))
        for width, group in groups.items()
    }
