"""``LMPolicy``'s constructor options, kept together until the policy builds its parts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textgym.policies.restrictions import RestrictionConfig
from textgym.policies.sampling import SamplingConfig


@dataclass
class PolicyOptions:
    """Constructor options kept outside ``nn.Module`` until ``LMPolicy._build`` runs."""

    model: Any
    tokenizer: Any
    sampling: SamplingConfig
    kv_cache: bool
    value_model: str
    value_head: bool
    group_prefixes: bool
    dropout: bool
    autocast: str | None
    restrictions: RestrictionConfig
    load_kwargs: dict[str, Any] = field(default_factory=dict)

    def constructor_parameters(self) -> dict[str, Any]:
        """The ``LMPolicy`` arguments these options came from (what SB3 saves and reloads)."""
        return dict(
            model=self.model,
            tokenizer=self.tokenizer,
            temperature=self.sampling.temperature,
            top_k=self.sampling.top_k,
            top_p=self.sampling.top_p,
            kv_cache=self.kv_cache,
            value_model=self.value_model,
            value_head=self.value_head,
            group_prefixes=self.group_prefixes,
            dropout=self.dropout,
            autocast=self.autocast,
            **vars(self.restrictions),
            **self.load_kwargs,
        )


def default_tokenizer(model: Any, tokenizer: Any) -> Any:
    """``tokenizer``, or the model's own (its name, or a model object's ``name_or_path``)."""
    if tokenizer is None:
        tokenizer = model if isinstance(model, str) else getattr(model, "name_or_path", None)
    return tokenizer
