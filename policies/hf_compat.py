"""Calling Hugging Face models across transformers versions: the KV cache's keyword and layers.

transformers 5.x renamed ``past_key_values`` to ``cache`` (the old name is removed in 5.40);
older releases know only ``past_key_values``. Models say which by their ``forward``.

transformers 4.54 gave ``DynamicCache`` a list of per-layer objects (``cache.layers[i].keys``,
``.values``, of class ``DynamicLayer``); before it the cache held two lists of tensors,
``key_cache`` and ``value_cache``. :func:`cache_layers` gives the 4.54 view on both.

transformers 4.56 renamed ``from_pretrained``'s ``torch_dtype`` to ``dtype`` (the old name
warns from then on); :func:`dtype_kwargs` passes the one this version takes.
"""

from __future__ import annotations

import inspect
from functools import cache
from typing import Any

import torch as th
import transformers
from packaging.version import Version
from transformers import DynamicCache

try:
    from transformers.cache_utils import DynamicLayer
except ImportError:  # transformers < 4.54: no per-layer objects, see _LegacyLayer
    DynamicLayer = None


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
    past = out["cache"] if "cache" in out else out.past_key_values
    if isinstance(past, tuple):  # older 4.x (4.46 at least) return tuples when given no cache
        past = DynamicCache.from_legacy_cache(past)
    return past


def dtype_kwargs(dtype: th.dtype) -> dict[str, th.dtype]:
    """``{keyword: dtype}`` for ``from_pretrained``: ``dtype``, or ``torch_dtype`` before 4.56."""
    if Version(transformers.__version__).release < (4, 56):
        return {"torch_dtype": dtype}
    return {"dtype": dtype}


class _LegacyLayer:
    """Layer ``index`` of a transformers < 4.54 ``DynamicCache``, as ``.keys``/``.values``."""

    def __init__(self, past: Any, index: int) -> None:
        self._past, self._index = past, index

    @property
    def keys(self) -> th.Tensor:
        return self._past.key_cache[self._index]

    @keys.setter
    def keys(self, value: th.Tensor) -> None:
        self._past.key_cache[self._index] = value

    @property
    def values(self) -> th.Tensor:
        return self._past.value_cache[self._index]

    @values.setter
    def values(self, value: th.Tensor) -> None:
        self._past.value_cache[self._index] = value


def cache_layers(past: Any) -> list[Any]:
    """The cache's layers, each with assignable ``keys`` and ``values`` ``(B, H, T, D)``."""
    if hasattr(past, "layers"):
        return list(past.layers)
    return [_LegacyLayer(past, i) for i in range(len(past.key_cache))]  # transformers < 4.54


def unsupported_layers(past: Any) -> set[str]:
    """Names of the cache's layer kinds other than plain full attention (empty if none)."""
    if hasattr(past, "layers"):
        return {type(layer).__name__ for layer in past.layers if type(layer) is not DynamicLayer}
    return set() if type(past) is DynamicCache else {type(past).__name__}  # transformers < 4.54
