"""``LMPolicy``: an SB3 actor-critic whose actor is a Hugging Face causal LM."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import torch as th
from gymnasium import spaces
from stable_baselines3.common.distributions import CategoricalDistribution, Distribution
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule

from textgym.models import DEFAULT_MODEL
from textgym.policies.host_memory import trim_after_steps
from textgym.policies.kl_controller import KLController
from textgym.policies.lm_loading import autocast_for, prepare_model
from textgym.policies.lm_outputs import (
    actor_at_last_token,
    actor_teacher_forced,
    at_actions,
    at_last_token,
)
from textgym.policies.policy_build import (
    build_actor,
    build_restrictions,
    build_value_head,
    build_value_model,
)
from textgym.policies.policy_checks import (
    check_autocast,
    check_one_device,
    check_spaces,
    check_vocabulary,
)
from textgym.policies.policy_options import PolicyOptions, default_tokenizer
from textgym.policies.restrictions import RestrictionConfig
from textgym.policies.rollout_cache import StepOutput
from textgym.policies.sampling import SamplingConfig, process_logits
from textgym.policies.sequences import append_actions, left_align


class LMPolicy(ActorCriticPolicy):
    """Actor-critic over a causal or an encoder-decoder LM.

    The LM's next-token distribution is the actor; a linear value head on the LM's last
    hidden state is the critic.

    Observations are textgym's ``Dict(input_ids, attention_mask)``; actions are token ids.
    During rollouts (``forward`` without gradients) a batched prefix KV cache makes each call
    a single decode step; in updates, :meth:`evaluate_actions` runs one forward pass per
    distinct sequence of the minibatch (see :class:`~textgym.policies.EpisodeRolloutBuffer`).

    An encoder-decoder model (T5, BART, Marian: ``model.config.is_encoder_decoder``) is
    used the same way: the observation's prompt slots go to the encoder, once per episode,
    and the generated slots to the decoder after its start token; the critic reads the
    decoder's last hidden state (see :mod:`~textgym.policies.seq2seq`).
    ``value_model="separate"`` and ``nlpo_top_p`` are not supported with it yet.

    Args:
        observation_space: From the env.
        action_space: ``Discrete(len(tokenizer))``.
        lr_schedule: SB3's learning-rate schedule.
        model: ``"smollm2-135m-instruct"``, a Hugging Face name or path, or a model object.
        tokenizer: The tokenizer (default: the model's own, when ``model`` is a name).
        temperature: Sampling temperature.
        top_k: Sample from the ``top_k`` most likely tokens (0: all).
        top_p: Nucleus sampling threshold (1.0: off).
        kv_cache: Use the rollout KV cache (results are equal; only speed differs).
        value_model: ``"shared"``: the value head sits on the policy LM's last hidden state;
            ``"separate"``: on a second copy of the LM, trained only by the value loss' path
            (no interference with the policy's features; twice the compute and memory).
        value_head: False drops the critic: values are 0 and cost nothing. For group
            baselines (``EpisodeRolloutBuffer(advantage="rloo" | "group_mean" | "grpo")``),
            which need no value; GAE needs the head.
        group_prefixes: In updates, run one forward per prefix group instead of one per
            transition (results are equal; only speed differs).
        dropout: Keep the LM's dropout active during updates (off by default).
        dtype: ``"float32"``, ``"bfloat16"`` or ``"float16"`` weights for the LM. Pure
            half-precision weights lose small Adam updates; prefer ``autocast``.
        autocast: ``"bfloat16"`` runs every LM forward (rollouts, updates, the KL reference)
            under ``torch.autocast`` while the weights, Adam and the heads' outputs stay
            float32 (mixed precision with float32 master weights). None: off.
        gradient_checkpointing: Trade compute for memory in updates.
        lora: ``peft.LoraConfig`` keyword arguments to train LoRA adapters only.
        bad_words: Words, phrases or token-id lists never generated (a phrase bans its
            last token after its first ones, as Hugging Face's ``bad_words_ids``).
        allowed_tokens: Strings or token ids: the only tokens generated (EOS always is).
        nlpo_top_p: NLPO's mask: only the top-p set of a frozen copy of the initial
            policy may be generated (e.g. 0.9; None: off). Costs a second LM's memory and
            a forward of it per step and per update.
        nlpo_update_every: Refresh NLPO's masking model with the policy's weights every
            N PPO updates (None: never). See :mod:`~textgym.policies.restrictions`.
        **kwargs: Other ``ActorCriticPolicy`` arguments: ``optimizer_class`` (default Adam)
            and ``optimizer_kwargs`` as in SB3 (the MLP ones are unused).
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        action_space: spaces.Discrete,
        lr_schedule: Schedule,
        model: Any = DEFAULT_MODEL,
        tokenizer: Any = None,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        kv_cache: bool = True,
        value_model: str = "shared",
        value_head: bool = True,
        group_prefixes: bool = True,
        dropout: bool = False,
        dtype: str = "float32",
        autocast: str | None = None,
        gradient_checkpointing: bool = False,
        lora: dict[str, Any] | None = None,
        bad_words: Sequence[str | Sequence[int]] | None = None,
        allowed_tokens: Sequence[str | Sequence[int]] | None = None,
        nlpo_top_p: float | None = None,
        nlpo_update_every: int | None = None,
        **kwargs: Any,
    ) -> None:
        check_spaces(observation_space, action_space)
        check_one_device(model, kwargs)
        self._options = PolicyOptions(
            model=model,
            tokenizer=default_tokenizer(model, tokenizer),
            sampling=SamplingConfig(temperature, top_k, top_p),
            kv_cache=kv_cache,
            value_model=value_model,
            value_head=bool(value_head),
            group_prefixes=group_prefixes,
            dropout=dropout,
            autocast=check_autocast(autocast, dtype),
            restrictions=RestrictionConfig(
                bad_words, allowed_tokens, nlpo_top_p, nlpo_update_every
            ),
            load_kwargs=dict(dtype=dtype, gradient_checkpointing=gradient_checkpointing, lora=lora),
        )
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def _build(self, lr_schedule: Schedule) -> None:
        """Load the LM and the value head, check the vocabulary, build the optimizer."""
        opts = self._options
        self.lm = prepare_model(opts.model, **opts.load_kwargs)
        self.sampling = opts.sampling
        self.group_prefixes = opts.group_prefixes
        self.n_actions = int(self.action_space.n)
        tokenizer = check_vocabulary(
            self.lm, self.n_actions, self.observation_space, opts.tokenizer
        )
        self.value_net = build_value_head(self.lm, opts)
        self.action_dist = CategoricalDistribution(self.n_actions)
        self.seq2seq, self.rollout_cache = build_actor(self.lm, opts, self.observation_space)
        self.value_lm, self.value_cache = build_value_model(opts)
        # a plain attribute: NLPO's masking model is no submodule
        self.restrictions = build_restrictions(opts, tokenizer, self.n_actions, self.lm)
        self.forward_tokens = 0  # tokens run through the LM outside the rollout cache
        self._after_rollout_step = False  # the last call was a rollout step (see predict_values)
        self.kl_controller = KLController()
        self.lm.train(opts.dropout)
        trainable = [p for p in self.parameters() if p.requires_grad]
        self.optimizer = self.optimizer_class(trainable, lr=lr_schedule(1), **self.optimizer_kwargs)
        trim_after_steps(self.optimizer, trainable[0])  # CPU: the update's freed activations

    @property
    def model_spec(self) -> Any:
        """The ``model`` argument the policy was built from (a name, path or model)."""
        return self._options.model

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(self._options.constructor_parameters(), group_prefixes=self.group_prefixes)
        return data

    def set_training_mode(self, mode: bool) -> None:
        """Train mode for the value head; the LM's dropout stays off unless ``dropout=True``."""
        super().set_training_mode(mode)
        self._after_rollout_step = False
        for lm, cache in ((self.lm, self.rollout_cache), (self.value_lm, self.value_cache)):
            if lm is not None:
                lm.train(mode and self._options.dropout)
            if mode and cache is not None:  # an update is coming: weights will change
                cache.clear()
        if self.restrictions is not None:
            self.restrictions.on_training_mode(mode, self.lm)
        if mode and self.seq2seq is not None:
            self.seq2seq.clear()

    # ----------------------------------------------------------------- rollouts
    def _last_token_outputs(self, obs: PyTorchObs) -> tuple[StepOutput, th.Tensor, th.Tensor]:
        """LM outputs at each observation's last valid token (cached when no grad is needed).

        Returns the outputs and the left-aligned sequences and lengths they were computed on.
        """
        seqs, lengths = left_align(obs["input_ids"], obs["attention_mask"])
        args = (self.lm, self.seq2seq, self.rollout_cache, obs, seqs, lengths)
        return self._run(actor_at_last_token, *args), seqs, lengths

    def _run(self, forward: Callable[..., tuple[StepOutput, int]], *args: Any) -> StepOutput:
        """Run ``forward(*args, self.group_prefixes)`` under autocast; count its LM tokens."""
        with self.autocast_context():
            out, tokens = forward(*args, self.group_prefixes)
        self.forward_tokens += tokens
        return out

    def _values(self, out: StepOutput, seqs: th.Tensor, lengths: th.Tensor) -> th.Tensor:
        """Values ``(B, 1)`` at each sequence's last token (``out``: the policy LM's outputs)."""
        if self.value_net is None:
            return self._no_values(seqs)
        if self.value_lm is not None:
            out = self._run(at_last_token, self.value_lm, self.value_cache, seqs, lengths)
        return self.value_net(out.hidden.float())

    def _distribution(self, logits: th.Tensor, allowed: th.Tensor | None) -> Distribution:
        processed = process_logits(logits[:, : self.n_actions], self.sampling, allowed)
        # a new distribution each call: the shared self.action_dist would keep the last
        # minibatch's (B, V) logits and probabilities alive between updates
        return CategoricalDistribution(self.n_actions).proba_distribution(action_logits=processed)

    def _allowed_at_last_token(self, seqs: th.Tensor, lengths: th.Tensor) -> th.Tensor | None:
        """The restrictions' ``(B, V)`` mask after each sequence (None: unrestricted)."""
        if self.restrictions is None:
            return None
        return self.restrictions.at_last_token(seqs, lengths, self.autocast_context)

    def generation_restriction(self) -> Callable[[th.Tensor, th.Tensor], th.Tensor] | None:
        """``bad_words`` and ``allowed_tokens`` for generating outside PPO (evaluation).

        A function ``(seqs, lengths) -> (B, V)`` mask of the tokens allowed after each
        left-aligned sequence, as rollouts apply it; None without those options. NLPO's
        mask is left out: it runs its masking model's rollout cache, which only rollouts
        may advance.
        """
        return None if self.restrictions is None else self.restrictions.bans.allowed

    def allowed_actions(
        self, seqs: th.Tensor, lengths: th.Tensor, actions: th.Tensor
    ) -> th.Tensor | None:
        """The ``(N, V)`` mask of tokens allowed after each state (None: unrestricted).

        ``seqs`` are left-aligned states of ``lengths[i]`` tokens followed by ``actions[i]``
        (:func:`~textgym.policies.sequences.append_actions`); used by ``evaluate_actions``
        and the KL penalty, so both see the mask the action was sampled under.
        """
        if self.restrictions is None:
            return None
        return self.restrictions.teacher_forced(
            seqs, lengths, actions, self.autocast_context, self.group_prefixes
        )

    def forward(
        self, obs: PyTorchObs, deterministic: bool = False
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """Sample actions; return ``(actions, values, log_probs)`` as SB3 expects."""
        out, seqs, lengths = self._last_token_outputs(obs)
        distribution = self._distribution(out.logits, self._allowed_at_last_token(seqs, lengths))
        actions = distribution.get_actions(deterministic=deterministic)
        values = self._values(out, seqs, lengths)
        self._after_rollout_step = self.rollout_cache is not None and not th.is_grad_enabled()
        return actions, values, distribution.log_prob(actions)

    def get_distribution(self, obs: PyTorchObs) -> Distribution:
        """The action distribution at ``obs`` (used by ``predict``)."""
        self._after_rollout_step = False
        out, seqs, lengths = self._last_token_outputs(obs)
        return self._distribution(out.logits, self._allowed_at_last_token(seqs, lengths))

    def predict_values(self, obs: PyTorchObs) -> th.Tensor:
        """Value estimates ``(B, 1)``.

        Called right after a rollout step (``forward`` without gradients), as SB3 does for
        its bootstrap value at the end of a rollout, rows whose observation starts a new
        episode get the value 0 without a prefill: those rows just terminated, so GAE
        multiplies their bootstrap value by zero. Any other call returns real values.
        """
        if self.value_net is None:
            return self._no_values(obs["input_ids"])
        if self._after_rollout_step:
            self._after_rollout_step = False
            return self._bootstrap_values(obs)
        return self._values(*self._last_token_outputs(obs))

    def _bootstrap_values(self, obs: PyTorchObs) -> th.Tensor:
        """Values of the rows that continue their cached episode; 0 for new episodes."""
        seqs, lengths = left_align(obs["input_ids"], obs["attention_mask"])
        seqs, lengths, fresh = self.rollout_cache.keep_fresh_rows(seqs, lengths)
        out = self._run(at_last_token, self.lm, self.rollout_cache, seqs, lengths)
        return self._values(out, seqs, lengths).masked_fill(fresh[:, None], 0.0)

    # ------------------------------------------------------------------ updates
    def evaluate_actions(
        self, obs: PyTorchObs, actions: th.Tensor
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor | None]:
        """Values, log-probs and entropy of ``actions``; one forward per distinct sequence."""
        self._after_rollout_step = False
        seqs, lengths = left_align(obs["input_ids"], obs["attention_mask"])
        seqs = append_actions(seqs, lengths, actions)  # state + action, to group
        out = self._run(actor_teacher_forced, self.lm, self.seq2seq, obs, seqs, lengths)
        distribution = self._distribution(
            out.logits, self.allowed_actions(seqs, lengths, actions.long())
        )
        if self.value_net is None:
            values = self._no_values(seqs)
        elif self.value_lm is not None:
            out = self._run(at_actions, self.value_lm, seqs, lengths)
            values = self.value_net(out.hidden.float())
        else:
            values = self.value_net(out.hidden.float())
        return values, distribution.log_prob(actions), distribution.entropy()

    def _no_values(self, rows: th.Tensor) -> th.Tensor:
        """Zeros ``(B, 1)``: the values of a policy without a value head."""
        return th.zeros(rows.shape[0], 1, device=rows.device)

    def autocast_context(self) -> AbstractContextManager:
        """``torch.autocast`` for LM forwards when ``autocast`` is set (else a no-op)."""
        return autocast_for(self._options.autocast, self.device.type)
