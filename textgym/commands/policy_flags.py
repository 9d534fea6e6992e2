"""First-class flags for the common :class:`~textgym.policies.LMPolicy` options.

:data:`POLICY_FLAGS` is the one table: each flag sets one key of ``policy_kwargs``, so a
run's settings keep a single home (``TrainConfig.policy_kwargs``) whichever way they were
given. ``--policy-kwargs`` stays for every other option; a key set both by its flag and in
``--policy-kwargs`` is an error. The names follow TRL's where TRL has one (``--bf16``,
``--gradient_checkpointing`` as ``--gradient-checkpointing``, ``--lora_r`` as ``--lora-r``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from textgym.comma_lists import split_commas
from textgym.errors import ConfigError

GROUP = "policy (each sets one key of --policy-kwargs)"


def positive_int(text: str) -> int:
    """``"16"`` -> 16; anything but an integer >= 1 is a usage error."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer >= 1")
    return value


def positive_float(text: str) -> float:
    """``"32"`` -> 32.0; anything but a finite number > 0 is a usage error."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number > 0")
    return value


def word_list(text: str) -> list[str]:
    """``"foo,bar baz"`` -> ``["foo", "bar baz"]``; an empty item is a usage error."""
    try:
        return split_commas(text, "", "foo,bar")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


@dataclass(frozen=True)
class PolicyFlag:
    """A flag that sets the ``policy_kwargs`` entry at ``key`` (a path into nested dicts)."""

    flag: str
    key: tuple[str, ...]
    help: str
    parse: Callable[[str], Any] | None = None  # None: a switch that sets ``value``
    value: Any = True
    metavar: str | None = None


# dest -> its flag; the one table of the policy options that have a flag of their own
POLICY_FLAGS: dict[str, PolicyFlag] = {
    "bf16": PolicyFlag(
        "--bf16",
        ("autocast",),
        "bfloat16 autocast with float32 master weights (policy_kwargs autocast='bfloat16')",
        value="bfloat16",
    ),
    "gradient_checkpointing": PolicyFlag(
        "--gradient-checkpointing",
        ("gradient_checkpointing",),
        "recompute activations in the backward pass: far less update memory, about a third "
        "more update time (policy_kwargs gradient_checkpointing=True)",
    ),
    "lora_r": PolicyFlag(
        "--lora-r",
        ("lora", "r"),
        "train LoRA adapters of rank R instead of every weight (needs peft)",
        positive_int,
        metavar="R",
    ),
    "lora_alpha": PolicyFlag(
        "--lora-alpha",
        ("lora", "lora_alpha"),
        "LoRA's scaling alpha (default: peft's); needs --lora-r",
        positive_float,
        metavar="ALPHA",
    ),
    "bad_words": PolicyFlag(
        "--bad-words",
        ("bad_words",),
        "comma-separated words the policy never generates, e.g. 'hate,stupid'",
        word_list,
        metavar="WORDS",
    ),
    "allowed_tokens": PolicyFlag(
        "--allowed-tokens",
        ("allowed_tokens",),
        "comma-separated words: the only tokens the policy may generate (with EOS)",
        word_list,
        metavar="WORDS",
    ),
}


def add_policy_flags(p: argparse.ArgumentParser) -> None:
    """Add every flag of :data:`POLICY_FLAGS` to ``p``, in one argument group."""
    group = p.add_argument_group(GROUP)
    for dest, option in POLICY_FLAGS.items():
        if option.parse is None:
            group.add_argument(option.flag, dest=dest, action="store_true", help=option.help)
        else:
            group.add_argument(
                option.flag,
                dest=dest,
                type=option.parse,
                default=None,
                metavar=option.metavar,
                help=option.help,
            )


def with_policy_flags(args: argparse.Namespace, policy_kwargs: dict[str, Any]) -> dict[str, Any]:
    """``policy_kwargs`` with the values of the policy flags set in ``args`` added.

    Raises:
        ConfigError: a flag's key is also in ``--policy-kwargs``, ``--lora-alpha`` comes
            without ``--lora-r``, or ``--bf16`` asks for bfloat16 where the device lacks it.
    """
    merged = {k: dict(v) if isinstance(v, dict) else v for k, v in policy_kwargs.items()}
    for dest, option in POLICY_FLAGS.items():
        given = getattr(args, dest, None)
        if given is None or given is False:
            continue
        *parents, last = option.key
        target = merged
        for part in parents:
            if not isinstance(target.setdefault(part, {}), dict):
                raise ConfigError(
                    f"{option.flag} sets policy_kwargs {'.'.join(option.key)}, but "
                    f"--policy-kwargs sets {part} to {target[part]!r}, not a JSON object."
                )
            target = target[part]
        if last in target:
            raise ConfigError(
                f"{option.flag} sets policy_kwargs {'.'.join(option.key)}, which "
                f"--policy-kwargs sets too ({target[last]!r}); give it in one place."
            )
        target[last] = option.value if option.parse is None else given
    lora = merged.get("lora")
    if isinstance(lora, dict) and "lora_alpha" in lora and "r" not in lora:
        raise ConfigError("--lora-alpha scales LoRA adapters: add --lora-r R (e.g. 16).")
    if getattr(args, "bf16", False):
        check_bf16(getattr(args, "device", "auto"))
    return merged


def check_bf16(device: str) -> None:
    """Raise unless ``device`` (``auto``: CUDA when available) computes in bfloat16.

    Raises:
        ConfigError: a GPU older than Ampere, or a CPU without native bfloat16, where
            autocast would be emulated (slow) or fail.
    """
    import torch as th

    try:
        cuda = th.cuda.is_available() if device == "auto" else th.device(device).type == "cuda"
    except (RuntimeError, TypeError):
        return  # not a device: TrainConfig names it
    if cuda and not th.cuda.is_available():
        return  # CUDA asked for where there is none: TrainConfig names it
    if cuda:
        supported, what = th.cuda.is_bf16_supported(), "this GPU"
    else:
        supported, what = cpu_has_bf16(), "this CPU"
    if not supported:
        raise ConfigError(
            f"--bf16: {what} has no native bfloat16 support, so autocast would be emulated "
            "or fail; drop --bf16 (float32), or train on a GPU since Ampere or a CPU with "
            "AVX512-BF16/AMX."
        )


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (oneDNN's check; True if torch lacks it)."""
    import torch as th

    try:
        return bool(th.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return True
