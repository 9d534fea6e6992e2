"""Adapter that turns a Hugging Face ``evaluate`` module into a per-sample reward."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from textgym.errors import ConfigError, RewardError
from textgym.rewards.base import Reward
from textgym.rewards.batch_checks import check_batch
from textgym.unicode_text import clean_text


class EvaluateMetric(Reward):
    """Score each sample with a Hugging Face ``evaluate`` module.

    The module is loaded with ``evaluate.load`` on first use (not at construction) and is
    not pickled, so the reward can be sent to ``SubprocVecEnv`` workers, which reload it.
    Each sample is computed on its own: ``compute(predictions=[gen], references=[refs],
    **compute_kwargs)`` when the module accepts a list of references per prediction,
    otherwise once per reference with the maximum taken. Values are returned as the metric
    gives them (no rescaling: e.g. sacrebleu's 0-100 needs a weight of 0.01 in a
    :class:`~textgym.rewards.WeightedSum`). An empty (whitespace-only) generation scores 0.0
    without calling the metric. Lone UTF-16 surrogates, which ``evaluate`` cannot store, are
    passed as U+FFFD.

    Hub names (``"exact_match"``) need internet or a warm ``evaluate`` cache; a local path to
    a metric script (``"metrics/my_metric.py"``) works offline.

    Args:
        path_or_name: A local metric script (or its folder), or a Hub module name.
        key: The key to read from the result dict. ``None``: the result's only value.
        compute_kwargs: Extra keyword arguments for every ``compute`` call (copied).
        name: The reward's name (default ``"evaluate:<script or module name>"``).

    Raises:
        ConfigError: on first use, when the module cannot be loaded, or the result has no
            usable value for ``key``.
    """

    def __init__(
        self,
        path_or_name: str,
        key: str | None = None,
        compute_kwargs: Mapping[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        if not isinstance(path_or_name, str) or not path_or_name.strip():
            raise ConfigError(
                f"EvaluateMetric needs a metric script path or Hub name; got {path_or_name!r}. "
                f"Pass e.g. 'exact_match' or 'path/to/my_metric.py'."
            )
        # An absolute local path keeps working in workers started from another directory.
        is_local = os.path.exists(path_or_name)
        self.path_or_name = os.path.abspath(path_or_name) if is_local else path_or_name
        self.key = key
        self.compute_kwargs = dict(compute_kwargs or {})
        self.name = name or f"evaluate:{Path(path_or_name).stem if is_local else path_or_name}"
        self._module: Any = None
        self._list_refs = False

    def __call__(
        self,
        generations: Sequence[str],
        references: Sequence[Sequence[str]],
        sources: Sequence[str],
    ) -> np.ndarray:
        """Return one metric value per sample, shape ``(n,)``."""
        check_batch(self.name, generations, references, sources)
        module = self._get_module()
        out = np.zeros(len(generations), dtype=np.float64)
        for i, (gen, refs) in enumerate(zip(generations, references, strict=True)):
            if not gen.strip():
                continue
            gen, refs = clean_text(gen), [clean_text(ref) for ref in refs]
            if self._list_refs:
                out[i] = self._compute(module, gen, refs)
            else:
                out[i] = max(self._compute(module, gen, ref) for ref in refs)
        return out

    def _compute(self, module: Any, generation: str, reference: str | list[str]) -> float:
        result = module.compute(
            predictions=[generation], references=[reference], **self.compute_kwargs
        )
        return self._extract(result)

    def _extract(self, result: Any) -> float:
        if not isinstance(result, Mapping):
            return _as_float(result, self.name, "result")
        if self.key is not None:
            if self.key not in result:
                raise ConfigError(
                    f"Metric {self.name!r} returned keys {sorted(result)}, not {self.key!r}. "
                    f"Pass key= one of them."
                )
            return _as_float(result[self.key], self.name, self.key)
        if len(result) != 1:
            first = next(iter(result), None)
            raise ConfigError(
                f"Metric {self.name!r} returned {len(result)} values {sorted(result)}; pass key= "
                f"to choose one, e.g. EvaluateMetric({self.path_or_name!r}, key={first!r})."
            )
        key, value = next(iter(result.items()))
        return _as_float(value, self.name, key)

    def _get_module(self) -> Any:
        if self._module is None:
            self._module = _load(self.path_or_name)
            self._list_refs = _accepts_reference_lists(self._module)
        return self._module

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_module"] = None
        return state

    def __repr__(self) -> str:
        return f"EvaluateMetric({self.path_or_name!r}, key={self.key!r})"


def _load(path_or_name: str) -> Any:
    """Load an ``evaluate`` module, turning any failure into a :class:`ConfigError`."""
    import evaluate

    try:
        return evaluate.load(path_or_name, keep_in_memory=True)
    except Exception as exc:  # evaluate raises FileNotFoundError, ConnectionError, ImportError…
        reason = f"{type(exc).__name__}: {str(exc).rstrip('.')}"
        raise ConfigError(
            f"The evaluate module {path_or_name!r} couldn't be loaded ({reason}). Hub names need "
            f"internet (or a previously cached copy); a local path to a metric script "
            f"(e.g. 'metrics/my_metric.py' defining an evaluate.Metric subclass) works offline."
        ) from exc


def _accepts_reference_lists(module: Any) -> bool:
    """Whether the module's declared features take a list of references per prediction."""
    features = getattr(module, "features", None)
    options = features if isinstance(features, list) else [features]
    for feats in options:
        ref = feats.get("references") if isinstance(feats, Mapping) else None
        if isinstance(ref, list) or type(ref).__name__ in {"Sequence", "List", "LargeList"}:
            return True
    return False


def _as_float(value: Any, name: str, key: str) -> float:
    """Read a scalar (or a one-element list/array) as a float."""
    arr = np.asarray(value, dtype=object).ravel()
    try:
        if arr.size != 1:
            raise TypeError
        out = float(arr[0])
    except (TypeError, ValueError) as exc:
        raise RewardError(
            f"Metric {name!r} gave {key!r} = {value!r}, not a single number. Pass key= naming "
            f"a scalar entry of the result."
        ) from exc
    return out
