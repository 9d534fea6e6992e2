"""Load and prepare the policy's LM (dtype, gradient checkpointing, LoRA); its autocast."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch as th

from textgym.errors import ConfigError
from textgym.models import load_lm
from textgym.policies.hf_compat import dtype_kwargs

_DTYPES = {"float32": th.float32, "bfloat16": th.bfloat16, "float16": th.float16}


def resolve_dtype(name: str) -> th.dtype:
    """``"bfloat16"`` -> ``torch.bfloat16``; unknown names are a clear error."""
    if name not in _DTYPES:
        raise ConfigError(f"dtype={name!r} is not supported; use one of {sorted(_DTYPES)}.")
    return _DTYPES[name]


def autocast_for(autocast: str | None, device_type: str) -> AbstractContextManager:
    """``torch.autocast`` to ``autocast``'s dtype on ``device_type`` (None: a no-op context)."""
    if autocast is None:
        return nullcontext()
    return th.autocast(device_type=device_type, dtype=resolve_dtype(autocast))


def prepare_model(
    spec: Any,
    dtype: str = "float32",
    gradient_checkpointing: bool = False,
    lora: dict[str, Any] | None = None,
) -> th.nn.Module:
    """Return the LM named by ``spec`` (or ``spec`` itself) ready for PPO.

    Args:
        spec: An embedded model name, a Hugging Face name or path, or a model object: a
            causal LM, or an encoder-decoder one (the config's ``is_encoder_decoder`` says).
        dtype: Weight dtype; ``"float32"`` unless memory is short.
        gradient_checkpointing: Recompute activations in the backward pass.
        lora: ``peft.LoraConfig`` keyword arguments; only the adapters are then trained.
    """
    torch_dtype = resolve_dtype(dtype)
    if isinstance(spec, str):
        model = load_lm(spec, **dtype_kwargs(torch_dtype))
    else:
        model = spec.to(torch_dtype)
    if gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    if lora is not None:
        model = _with_lora(model, lora)
    return model


def _with_lora(model: th.nn.Module, lora: dict[str, Any]) -> th.nn.Module:
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as exc:
        raise ConfigError(
            "lora=... needs the peft package: `pip install textgym[lora]` (or `pip install peft`)."
        ) from exc
    seq2seq = getattr(model.config, "is_encoder_decoder", False)
    task_type = "SEQ_2_SEQ_LM" if seq2seq else "CAUSAL_LM"
    return get_peft_model(model, LoraConfig(task_type=task_type, **lora))
