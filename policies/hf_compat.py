"""Calling Hugging Face models across transformers versions: the KV cache's keyword.

transformers 5.x renamed ``past_key_values`` to ``cache`` (the old name is removed in 5.40);
older releases know only ``past_key_values``. Models say which by their ``forward``.
"""

from __future__ import annotations

import inspect
from functools import cache
from typing import Any

import torch as th


@cache
def _cache_keyword(cls: type) -> str:
    parameters = inspect.signature(cls.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def cache_kwargs(model: th.nn.Module, cache: Any) -> dict[str, Any]:
    """``{keyword: cache}`` for ``model(...)``, with the keyword this model's forward takes."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return {_cache_keyword(type(base)): cache}


def output_cache(out: Any) -> Any:
    """The KV cache a forward returned (``out.cache``, or ``out.past_key_values`` before)."""
    return out["cache"] if "cache" in out else out.past_key_values
