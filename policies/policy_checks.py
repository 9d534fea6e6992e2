"""The checks ``LMPolicy`` runs on its spaces, vocabulary and precision settings."""

from __future__ import annotations

from typing import Any

import torch as th
from gymnasium import spaces

from textgym.errors import ConfigError
from textgym.models import load_tokenizer
from textgym.spaces import vocab_fingerprint


def check_spaces(observation_space: spaces.Space, action_space: spaces.Space) -> None:
    """Raise unless the spaces are a textgym env's: ``Dict(input_ids, attention_mask)``, ids."""
    keys = {"input_ids", "attention_mask"}
    if not isinstance(observation_space, spaces.Dict) or not keys <= set(observation_space.spaces):
        raise ConfigError(
            f"LMPolicy needs a Dict observation with {sorted(keys)} (a textgym env); got "
            f"{observation_space}."
        )
    if not isinstance(action_space, spaces.Discrete):
        raise ConfigError(
            f"LMPolicy needs a Discrete action space of token ids; got {action_space}."
        )


def check_vocabulary(
    lm: th.nn.Module, n_actions: int, observation_space: spaces.Dict, tokenizer: Any
) -> Any:
    """Check the LM and ``tokenizer`` against the env's vocabulary; return the tokenizer.

    Args:
        lm: The policy's causal LM.
        n_actions: The env's vocabulary size (its action space).
        observation_space: The env's observation space (holds its tokenizer's fingerprint).
        tokenizer: A tokenizer, name or path, or None (not checked; None is returned).

    Raises:
        ConfigError: the LM predicts fewer tokens than the env has, or the tokenizer differs
            from the env's in size or tokens.
    """
    out_dim = lm.get_output_embeddings().weight.shape[0]
    if out_dim < n_actions:
        raise ConfigError(
            f"The model predicts {out_dim} tokens but the env's action space has "
            f"{n_actions}: env and policy use different tokenizers. Build the env "
            f"with the model's tokenizer (tokenizer=...)."
        )
    if tokenizer is None:
        return None
    tokenizer = load_tokenizer(tokenizer)
    if len(tokenizer) != n_actions:
        raise ConfigError(
            f"The policy's tokenizer has {len(tokenizer)} tokens but the env's action space "
            f"has {n_actions}: env and policy must share one tokenizer. Pass the same "
            f"model name as the env's tokenizer=..., or policy_kwargs={{'tokenizer': ...}}."
        )
    expected = getattr(observation_space["input_ids"], "vocab_fingerprint", None)
    if expected is not None and vocab_fingerprint(tokenizer) != expected:
        raise ConfigError(
            "The env's and the policy's tokenizers have the same size but different tokens: "
            "token ids would mean different words. Build the env with the policy model's "
            "tokenizer (tokenizer=...), or pass policy_kwargs={'tokenizer': ...}."
        )
    return tokenizer


def check_autocast(autocast: str | None, dtype: str) -> str | None:
    """Return ``autocast`` if usable with weights of ``dtype``; raise with the fix otherwise."""
    if autocast is None:
        return None
    if autocast == "float16":
        raise ConfigError(
            "autocast='float16' needs a gradient scaler, which the stock PPO update has no "
            "place for; use autocast='bfloat16' (CPUs and GPUs since Ampere), or "
            "dtype='float16' weights."
        )
    if autocast != "bfloat16":
        raise ConfigError(f"autocast={autocast!r} is not supported; use 'bfloat16' or None.")
    if dtype != "float32":
        raise ConfigError(
            f"autocast={autocast!r} keeps float32 master weights, but dtype={dtype!r}: "
            "use dtype='float32' with autocast (or dtype alone for pure half-precision)."
        )
    return autocast


def check_one_device(model: Any, kwargs: dict[str, Any]) -> None:
    """Refuse a policy LM spread over several devices (``device_map``): SB3 moves the policy.

    Raises:
        ConfigError: ``device_map`` among the policy's keyword arguments, or a model object
            whose ``hf_device_map`` names more than one device.
    """
    spread = getattr(model, "hf_device_map", None) or {}
    if "device_map" not in kwargs and len({_device_name(d) for d in spread.values()}) <= 1:
        return
    raise ConfigError(
        "LMPolicy keeps its LM on one device: stock SB3 moves the whole policy to PPO's "
        "`device`, and the rollout cache and the update run there, so device_map (a model "
        "split over several devices) is not supported. For a model too large for one GPU: "
        "policy_kwargs={'lora': {...}, 'dtype': 'bfloat16', 'gradient_checkpointing': True}, "
        "the KL reference on another device (add_kl_penalty(reference_device=...), "
        "--kl-reference-device) and reward models on theirs (rm:PATH[device=cuda:1])."
    )


def _device_name(device: Any) -> str:
    """An ``hf_device_map`` value as one name: ``0``, ``"cuda:0"`` -> ``"cuda:0"``."""
    if isinstance(device, int):
        return f"cuda:{device}"
    try:
        return str(th.device(device))
    except (RuntimeError, TypeError):
        return str(device)  # "disk"
