"""Per-token KL-to-reference reward shaping for PPO on text.

Every step's reward becomes ``r_t − β·(log π(a_t|s_t) − log π_ref(a_t|s_t))``, applied once
a rollout is complete and before SB3 computes returns and advantages (the first point where
PPO reads rewards), through :class:`~textgym.policies.EpisodeRolloutBuffer`'s
``reward_shaping`` hook.

* ``log π`` is the log-probability PPO stored in the rollout buffer: that of the distribution
  the policy sampled ``a_t`` from (temperature/top-k/top-p included). No second policy forward.
* ``log π_ref`` comes from a frozen reference with the policy's temperature but no top-k/top-p
  truncation (a truncated reference would give an infinite penalty to tokens outside its own
  set), renormalised over the tokens the policy's restrictions allow (``bad_words``,
  ``allowed_tokens``, NLPO's mask; :mod:`~textgym.policies.restrictions`), teacher-forced:
  one forward per episode of the rollout over its prompt and generated tokens, batched
  across envs and episodes. Decoding the reference token by token beside the
  policy would cost a second full decode per token; one forward per episode costs a fraction.

Use it in one line after building PPO: ``add_kl_penalty(model, kl_coef=0.05)``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch as th

from textgym.devices import check_device
from textgym.errors import ConfigError
from textgym.models import load_lm
from textgym.policies.episode_buffer import EpisodeRolloutBuffer
from textgym.policies.kl_controller import INITIAL_BETA, check_kl_settings
from textgym.policies.lm_loading import resolve_dtype
from textgym.policies.sampling import SamplingConfig, process_logits
from textgym.policies.seq2seq import split_observation, teacher_forced
from textgym.policies.sequences import append_actions, left_align
from textgym.policies.teacher_forcing import head_logits, hidden_at


def frozen_reference(
    policy: Any, reference: Any = None, dtype: str | None = None, device: str | None = None
) -> tuple[th.nn.Module, Callable[[], AbstractContextManager]]:
    """The frozen reference LM, and the context it runs in.

    ``reference`` (a name, path or model) if given; for a LoRA policy, the policy's own model
    run with its adapters disabled (no second copy); else the initial model the policy was
    built from: loaded again by name (so it is right after ``PPO.load`` too), or a copy of a
    model object. ``dtype`` (e.g. ``"bfloat16"``) overrides the policy's weight dtype;
    ``device`` (e.g. ``"cuda:1"``) the policy's device.

    Raises:
        ConfigError: ``device`` is not a device here, or is asked of a LoRA policy's own
            reference; the reference predicts fewer tokens than the policy acts over.
    """
    device = check_device(device, "add_kl_penalty reference_device") or policy.device
    if reference is None and hasattr(policy.lm, "disable_adapter"):
        if not same_device(th.device(device), policy.device):
            raise ConfigError(
                f"A LoRA policy's reference is its own model with the adapters off, on "
                f"{policy.device}; to run the reference on {device}, pass a separate copy: "
                f"reference='<the base model's name or path>'."
            )
        return policy.lm, policy.lm.disable_adapter
    if reference is None:
        reference = policy.model_spec if isinstance(policy.model_spec, str) else policy.lm
    torch_dtype = resolve_dtype(dtype) if dtype else next(policy.lm.parameters()).dtype
    model = load_lm(reference) if isinstance(reference, str) else copy.deepcopy(reference)
    model = model.to(device=device, dtype=torch_dtype).eval().requires_grad_(False)
    size = model.get_output_embeddings().weight.shape[0]
    if size < policy.n_actions:
        raise ConfigError(
            f"The reference model predicts {size} tokens but the policy acts over "
            f"{policy.n_actions}; use a reference with the policy's tokenizer."
        )
    return model, nullcontext


def same_device(a: th.device, b: th.device) -> bool:
    """Whether two devices are one (``cuda`` is the current CUDA device, as torch reads it)."""
    if a.type != b.type:
        return False
    if a.type != "cuda":
        return a.index == b.index
    current = th.cuda.current_device()
    return (current if a.index is None else a.index) == (current if b.index is None else b.index)


def policy_reference(model: Any) -> tuple[th.nn.Module, Callable[[], AbstractContextManager]]:
    """The frozen reference of a PPO ``model``: its KL penalty's if it has one, else a new one.

    Evaluation measures the KL and perplexity against it; sharing the penalty's avoids a
    second copy of the weights (see :func:`frozen_reference` for what a new one is).
    Building one leaves torch's random state as it was, so training is unchanged by it.
    """
    shaping = getattr(getattr(model, "rollout_buffer", None), "reward_shaping", None)
    if isinstance(shaping, KLPenalty):
        return shaping.reference, shaping.reference_mode
    with th.random.fork_rng(devices=[]):
        return frozen_reference(model.policy)


@dataclass
class KLComponents:
    """One rollout's shaping, per step: ``(n_steps, n_envs)`` arrays and the β used."""

    kl: np.ndarray
    task_reward: np.ndarray
    shaped_reward: np.ndarray
    beta: float


class KLPenalty:
    """Subtract ``β·KL`` from every reward of each completed rollout; see the module docstring.

    β lives in ``policy.kl_controller`` (saved with the model); it is fixed during a rollout
    and, when a target KL is set, adapts after each finished episode. :attr:`last` holds the
    last rollout's per-step components. SB3's Monitor (inside the vector env) still reports
    the task reward as ``rollout/ep_rew_mean``; ``kl/per_token``, ``kl/per_episode``,
    ``kl/beta``, ``kl/task_reward`` and ``kl/shaped_reward`` (means per step) go to the
    logger of ``algorithm``.

    Args:
        policy: The :class:`~textgym.policies.LMPolicy` that picks the actions.
        reference: Reference model; see :func:`frozen_reference`.
        algorithm: The SB3 algorithm, whose logger receives the ``kl/`` metrics.
        reference_dtype: Weight dtype of the reference (default: the policy's). ``"bfloat16"``
            halves its memory, at the cost of bfloat16 rounding in the KL.
        max_tokens: Bound on the padded tokens of one reference forward.
        reference_device: Device of the reference (default: the policy's). Its inputs go
            there and its log-probabilities come back to the policy's device.
    """

    def __init__(
        self,
        policy: Any,
        reference: Any = None,
        algorithm: Any = None,
        reference_dtype: str | None = None,
        max_tokens: int = 2048,
        reference_device: str | None = None,
    ) -> None:
        self.policy = policy
        self.reference, self.reference_mode = frozen_reference(
            policy, reference, reference_dtype, reference_device
        )
        self.reference_device = next(self.reference.parameters()).device
        self.sampling = SamplingConfig(temperature=policy.sampling.temperature)
        self.algorithm = algorithm
        self.max_tokens = max_tokens
        self.last: KLComponents | None = None
        self._episode_kl = np.zeros(0)  # per env; episodes may span rollouts

    def __call__(self, buffer: EpisodeRolloutBuffer, dones: np.ndarray) -> None:
        """Shape ``buffer.rewards`` in place, log, and adapt β after finished episodes."""
        kl = self.token_kl(buffer)
        beta = float(self.policy.kl_controller.beta)
        task = buffer.rewards.copy()
        buffer.rewards -= (beta * kl).astype(buffer.rewards.dtype)
        self.last = KLComponents(kl, task, buffer.rewards.copy(), beta)
        self._record("kl/per_token", kl.mean())
        self._record("kl/beta", beta)
        self._record("kl/task_reward", task.mean())
        self._record("kl/shaped_reward", buffer.rewards.mean())
        self._finish_episodes(kl, buffer.episode_starts.astype(bool), np.asarray(dones, bool))

    def get_state(self) -> dict[str, np.ndarray]:
        """The KL summed so far in each env's running episode, for checkpoints.

        β is not in it: it is a buffer of ``policy.kl_controller``, saved with the policy.
        """
        return {"episode_kl": self._episode_kl.copy()}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Continue from a :meth:`get_state`."""
        self._episode_kl = np.array(state["episode_kl"], dtype=float)

    @th.no_grad()
    def token_kl(self, buffer: EpisodeRolloutBuffer) -> np.ndarray:
        """``log π(a|s) − log π_ref(a|s)`` for every step of a filled, unflattened buffer.

        Idle steps (padding after EOS, ``buffer.idle``) are no decisions: their KL is 0 and
        the reference does not run on them.
        """
        device = self.policy.device
        steps = ~buffer.idle.reshape(-1)
        active = th.as_tensor(steps, device=device)
        ids, mask = (
            th.as_tensor(buffer.observations[key], device=device).flatten(0, 1)[active]
            for key in ("input_ids", "attention_mask")
        )
        seqs, lengths = left_align(ids, mask)
        actions = th.as_tensor(buffer.actions, device=device).long().flatten()[active]
        seqs = append_actions(seqs, lengths, actions)
        if self.policy.seq2seq is not None:
            ref = self.seq2seq_reference_log_probs(ids, mask, seqs, lengths, actions)
        else:
            ref = self.reference_log_probs(seqs, lengths, actions)
        kl = np.zeros(buffer.log_probs.size)
        kl[steps] = buffer.log_probs.reshape(-1)[steps] - (ref.double().cpu().numpy())
        return kl.reshape(buffer.log_probs.shape)

    def reference_log_probs(
        self, seqs: th.Tensor, lengths: th.Tensor, actions: th.Tensor
    ) -> th.Tensor:
        """``log π_ref(actions[i] | seqs[i, :lengths[i]])``; ``seqs`` also hold the actions."""
        here, there = actions.device, self.reference_device
        with self.reference_mode(), self.policy.autocast_context():
            hidden, _ = hidden_at(
                self.reference,
                seqs.to(there),
                (lengths + 1).to(there),
                (lengths - 1).to(there),
                max_tokens=self.max_tokens,
            )
            log_probs = []
            for rows in th.arange(len(actions), device=here).split(1024):
                logits = head_logits(self.reference, hidden[rows.to(there)])
                logits = logits[:, : self.policy.n_actions].to(here)
                # the policy's restrictions, renormalising the reference over its allowed set
                allowed = self.policy.allowed_actions(seqs[rows], lengths[rows], actions[rows])
                # the policy's own log-prob code path (SB3's Categorical on processed logits)
                processed = process_logits(logits, self.sampling, allowed)
                dist = th.distributions.Categorical(logits=processed)
                log_probs.append(dist.log_prob(actions[rows]))
        return th.cat(log_probs)

    def seq2seq_reference_log_probs(
        self,
        ids: th.Tensor,
        mask: th.Tensor,
        seqs: th.Tensor,
        lengths: th.Tensor,
        actions: th.Tensor,
    ) -> th.Tensor:
        """:meth:`reference_log_probs` for an encoder-decoder policy, from the observations."""
        there = self.reference_device
        split = split_observation(ids.to(there), mask.to(there), self.policy.seq2seq.prompt_slots)
        with self.reference_mode(), self.policy.autocast_context():
            out, _ = teacher_forced(self.reference, split)
            logits = out.logits[:, : self.policy.n_actions].to(actions.device)
            allowed = self.policy.allowed_actions(seqs, lengths, actions)
            processed = process_logits(logits, self.sampling, allowed)
            return th.distributions.Categorical(logits=processed).log_prob(actions)

    def _finish_episodes(self, kl: np.ndarray, starts: np.ndarray, dones: np.ndarray) -> None:
        """Add up each env's episode KL; log it and update β where an episode ends."""
        if self._episode_kl.shape != dones.shape:
            self._episode_kl = np.zeros(dones.shape)
        self._episode_kl[starts[0]] = 0.0  # an episode cut short by a reset has no end
        ends = np.vstack([starts[1:], dones[None]])  # step t ends an episode
        for step_kl, step_ends in zip(kl, ends, strict=True):
            self._episode_kl += step_kl
            for env in np.flatnonzero(step_ends):
                self._record("kl/per_episode", self._episode_kl[env])
                self.policy.kl_controller.update(self._episode_kl[env])
                self._episode_kl[env] = 0.0

    def _record(self, key: str, value: float) -> None:
        logger = getattr(self.algorithm, "_logger", None)
        if logger is not None:
            logger.record_mean(key, float(value))


def add_kl_penalty(
    model: Any,
    kl_coef: float | None = None,
    target_kl: float | None = None,
    horizon: float = 10_000,
    reference: Any = None,
    reference_dtype: str | None = None,
    reference_device: str | None = None,
) -> KLPenalty:
    """Shape ``model``'s rewards with a per-token KL penalty and set β; returns the penalty.

    Args:
        model: An SB3 PPO with :class:`~textgym.policies.LMPolicy` and
            ``rollout_buffer_class=EpisodeRolloutBuffer``.
        kl_coef: Initial β (a finite number >= 0). None keeps the policy's current β (e.g.
            after ``PPO.load``); with ``target_kl`` on a policy whose β is still 0, the
            adaptive β starts at :data:`INITIAL_BETA` (0.1).
        target_kl: Target KL per episode (nats, > 0) for the adaptive β; None: fixed β.
            With both None, every setting of the policy's controller is kept.
        horizon: Episodes over which the adaptive β responds (Ziegler et al. use 10,000).
        reference: Reference model (default: the model the policy was built from).
        reference_dtype: Weight dtype of the reference (default: the policy's).
        reference_device: Device of the reference (default: the policy's), e.g. ``"cuda:1"``
            to keep a second GPU's memory for it, or ``"cpu"``.

    Raises:
        ConfigError: a KL setting is invalid (see :func:`check_kl_settings`), the model
            lacks the episode rollout buffer, or it already has a KL penalty.
    """
    check_kl_settings(kl_coef, target_kl, horizon)
    buffer = getattr(model, "rollout_buffer", None)
    if not isinstance(buffer, EpisodeRolloutBuffer):
        raise ConfigError(
            "add_kl_penalty shapes the rewards in the rollout buffer, so PPO needs textgym's: "
            "PPO(LMPolicy, env, rollout_buffer_class=EpisodeRolloutBuffer) "
            "(from textgym.policies import EpisodeRolloutBuffer)."
        )
    if buffer.reward_shaping is not None:
        raise ConfigError(
            "This model already has a KL penalty; add it once (set "
            "model.rollout_buffer.reward_shaping = None to remove it)."
        )
    controller = model.policy.kl_controller
    if kl_coef is not None or target_kl is not None:
        beta = (float(controller.beta) or INITIAL_BETA) if kl_coef is None else kl_coef
        controller.configure(beta, target_kl, horizon)
    penalty = KLPenalty(
        model.policy, reference, model, reference_dtype, reference_device=reference_device
    )
    buffer.reward_shaping = penalty
    return penalty
