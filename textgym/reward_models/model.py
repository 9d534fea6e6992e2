"""The model a reward-model run trains: a one-logit classifier, optionally LoRA or part-frozen.

Torch, transformers and peft are imported inside the functions that need them.
"""

from __future__ import annotations

from typing import Any

from textgym.errors import ConfigError
from textgym.models import DEFAULT_MODEL, resolve_pretrained
from textgym.reward_models.config import RMConfig


def build_model(config: RMConfig, tokenizer: Any) -> Any:
    """Load ``config.base`` as a one-logit classifier, set its pad id, and freeze as asked.

    The score head is initialised from ``torch.manual_seed(config.seed)``. With
    ``config.lora`` the result is a peft model (LoRA on every linear layer, the score head
    fully trained); with ``config.train_layers`` only the top layers, the final norm and the
    head train.

    Raises:
        ConfigError: the base model cannot be loaded, or the tokenizer has neither a pad nor
            an end-of-sequence token.
    """
    import torch as th
    from transformers import AutoModelForSequenceClassification

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad is None:
        raise ConfigError(
            f"The tokenizer of {config.base!r} has no pad or end-of-sequence token, so batches "
            f"cannot be padded; use a base model whose tokenizer defines one."
        )
    th.manual_seed(config.seed)
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            resolve_pretrained(config.base), num_labels=1
        )
    except OSError as exc:
        raise ConfigError(
            f"Could not load {config.base!r} as a sequence classifier: {exc}\nPass an embedded "
            f"model ({DEFAULT_MODEL}) or a folder saved with save_pretrained."
        ) from exc
    model.config.pad_token_id = int(pad)
    if config.lora:
        return _with_lora(model, config)
    if config.train_layers is not None:
        _freeze_below(model, config.train_layers)
    return model


def _with_lora(model: Any, config: RMConfig) -> Any:
    """``model`` wrapped by peft: LoRA on every linear layer, the head trained in full."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as exc:
        raise ConfigError(
            "lora=True needs the peft package: `pip install textgym[lora]` (or peft)."
        ) from exc
    head = [name for name, _ in model.named_children() if name != model.base_model_prefix]
    lora = LoraConfig(
        r=config.lora_rank,
        lora_alpha=2 * config.lora_rank,
        lora_dropout=0.0,
        target_modules="all-linear",
        modules_to_save=head,
        task_type="SEQ_CLS",
    )
    return get_peft_model(model, lora)


def _freeze_below(model: Any, n_top: int) -> None:
    """Freeze everything except the top ``n_top`` layers, non-layer base weights and the head.

    Non-layer base weights are the final norm (the input embeddings stay frozen).
    """
    layers = decoder_layers(model)
    if not 1 <= n_top <= len(layers):
        raise ConfigError(
            f"train_layers={n_top} must be between 1 and the model's {len(layers)} layers "
            f"(or None to train every weight)."
        )
    for param in model.parameters():
        param.requires_grad = True
    frozen = [model.get_input_embeddings(), *layers[: len(layers) - n_top]]
    for module in frozen:
        for param in module.parameters():
            param.requires_grad = False


def decoder_layers(model: Any) -> Any:
    """The ``torch.nn.ModuleList`` of ``model``'s transformer layers (``num_hidden_layers`` long).

    Raises:
        ConfigError: no module list of that length is found.
    """
    import torch as th

    n = getattr(model.config, "num_hidden_layers", None)
    for module in model.modules():
        if isinstance(module, th.nn.ModuleList) and len(module) == n:
            return module
    raise ConfigError(
        f"Cannot find the {n} transformer layers of {type(model).__name__} to freeze; "
        f"use train_layers=None (train every weight) or lora=True."
    )


def choose_device(spec: str) -> Any:
    """The torch device ``spec`` names; ``"auto"``: CUDA when available, else the CPU."""
    import torch as th

    if spec == "auto":
        return th.device("cuda" if th.cuda.is_available() else "cpu")
    return th.device(spec)
