"""Per-token KL-to-reference reward shaping for PPO on text.

Each step's reward becomes ``r_t − β·(log π(a_t|s_t) − log π_ref(a_t|s_t))``: ``π`` is the
distribution the policy actually sampled ``a_t`` from (its temperature/top-k/top-p
processing included), read from :attr:`LMPolicy.last_step` (no second policy forward);
``π_ref`` is a frozen reference with the policy's temperature but no top-k/top-p
truncation (a truncated reference would give an infinite penalty to tokens outside its own
set). The reference runs batched across envs with its own prefix KV cache.

Use it in one line after building PPO: ``add_kl_penalty(model, kl_coef=0.05)``.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper, unwrap_vec_wrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvStepReturn

from textgym.errors import ConfigError, EnvStateError
from textgym.models import load_causal_lm
from textgym.policies.lm_loading import resolve_dtype
from textgym.policies.rollout_cache import RolloutCache
from textgym.policies.sampling import SamplingConfig, process_logits


class AdapterDisabled(th.nn.Module):
    """A PEFT model seen with its adapters switched off: the base model, no second copy."""

    def __init__(self, peft_model: th.nn.Module) -> None:
        super().__init__()
        self.peft_model = peft_model

    def forward(self, **kwargs: Any) -> Any:
        """Run the base model (adapters disabled)."""
        with self.peft_model.disable_adapter():
            return self.peft_model(**kwargs)


def frozen_reference(policy: Any, reference: Any = None, dtype: str | None = None) -> th.nn.Module:
    """The frozen reference LM.

    ``reference`` (a name, path or model) if given; for a LoRA policy, the policy's own model
    with its adapters disabled; else the initial model the policy was built from: loaded
    again by name (so it is right after ``PPO.load`` too), or a copy of a model object.
    ``dtype`` (e.g. ``"bfloat16"``) overrides the policy's weight dtype for the reference.
    """
    if reference is None and hasattr(policy.lm, "disable_adapter"):
        return AdapterDisabled(policy.lm)
    if reference is None:
        reference = policy.model_spec if isinstance(policy.model_spec, str) else policy.lm
    torch_dtype = resolve_dtype(dtype) if dtype else next(policy.lm.parameters()).dtype
    model = load_causal_lm(reference) if isinstance(reference, str) else copy.deepcopy(reference)
    model = model.to(device=policy.device, dtype=torch_dtype).eval().requires_grad_(False)
    size = model.get_output_embeddings().weight.shape[0]
    if size < policy.n_actions:
        raise ConfigError(
            f"The reference model predicts {size} tokens but the policy acts over "
            f"{policy.n_actions}; use a reference with the policy's tokenizer."
        )
    return model


class KLRewardWrapper(VecEnvWrapper):
    """Subtract ``β·KL`` from each step's reward; see the module docstring.

    ``infos[i]["kl"]`` holds the step's ``kl``, ``beta``, ``task_reward`` and
    ``shaped_reward``. β lives in ``policy.kl_controller`` (saved with the model) and, when a
    target KL is set, adapts after every finished episode. SB3's Monitor (inside the vector
    env) still reports the task reward as ``rollout/ep_rew_mean``; the shaped reward and the
    KL are logged under ``kl/`` when ``algorithm`` (the PPO object) is given.

    Args:
        venv: The vector env the policy acts in.
        policy: The :class:`~textgym.policies.LMPolicy` that picks the actions.
        reference: Reference model; see :func:`frozen_reference`.
        algorithm: The SB3 algorithm, whose logger receives the ``kl/`` metrics.
        reference_dtype: Weight dtype of the reference (default: the policy's). ``"bfloat16"``
            halves its memory traffic, at the cost of bfloat16 rounding in the KL.
    """

    def __init__(
        self,
        venv: VecEnv,
        policy: Any,
        reference: Any = None,
        algorithm: Any = None,
        reference_dtype: str | None = None,
    ) -> None:
        super().__init__(venv)
        self.policy = policy
        self.reference = frozen_reference(policy, reference, reference_dtype)
        self.cache = RolloutCache(self.reference)
        self.sampling = SamplingConfig(temperature=policy.sampling.temperature)
        self.algorithm = algorithm
        self._kl = np.zeros(self.num_envs)
        self._episode_kl = np.zeros(self.num_envs)

    def reset(self) -> Any:
        """Reset the envs and the per-episode KL sums."""
        self._episode_kl[:] = 0.0
        return self.venv.reset()

    def step_async(self, actions: np.ndarray) -> None:
        """Compute the KL of ``actions`` from the policy's last step, then step the envs."""
        self._kl = self.token_kl(np.asarray(actions).reshape(-1))
        self.venv.step_async(actions)

    @th.no_grad()
    def token_kl(self, actions: np.ndarray) -> np.ndarray:
        """``log π(a|s) − log π_ref(a|s)`` for each env, from the policy's last forward."""
        step = self.policy.last_step
        if step is None or not np.array_equal(step.actions.cpu().numpy().reshape(-1), actions):
            raise EnvStateError(
                "KLRewardWrapper got actions the policy did not just sample: the KL needs the "
                "log-probabilities of LMPolicy.forward for these very actions. Step this env "
                "only through PPO.learn (or call policy.forward on the observation first)."
            )
        logits = self.cache.step(step.seqs, step.lengths).logits[:, : self.policy.n_actions]
        # the policy's own log-prob code path, so equal weights give exactly zero
        reference = th.distributions.Categorical(logits=process_logits(logits, self.sampling))
        ref_log_probs = reference.log_prob(step.actions.to(logits.device))
        return (step.log_probs.to(logits.device) - ref_log_probs).double().cpu().numpy()

    def step_wait(self) -> VecEnvStepReturn:
        """Shape the rewards, record the components, adapt β after finished episodes."""
        obs, rewards, dones, infos = self.venv.step_wait()
        controller = self.policy.kl_controller
        beta = float(controller.beta)
        shaped = rewards - beta * self._kl
        self._episode_kl += self._kl
        for i, info in enumerate(infos):
            info["kl"] = {
                "kl": self._kl[i],
                "beta": beta,
                "task_reward": rewards[i],
                "shaped_reward": shaped[i],
            }
        self._record("kl/per_token", self._kl.mean())
        self._record("kl/beta", beta)
        self._record("kl/shaped_reward", shaped.mean())
        for i in np.flatnonzero(dones):
            self._record("kl/per_episode", self._episode_kl[i])
            controller.update(self._episode_kl[i])
            self._episode_kl[i] = 0.0
        return obs, shaped.astype(np.float32), dones, infos

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
) -> KLRewardWrapper:
    """Wrap ``model``'s env with :class:`KLRewardWrapper` and set β; returns the wrapper.

    Args:
        model: An SB3 PPO with :class:`~textgym.policies.LMPolicy`.
        kl_coef: Initial β. None keeps the policy's current settings (e.g. after ``PPO.load``).
        target_kl: Target KL per episode (nats) for the adaptive β; None: fixed β.
        horizon: Episodes over which the adaptive β responds (Ziegler et al. use 10,000).
        reference: Reference model (default: the model the policy was built from).
        reference_dtype: Weight dtype of the reference (default: the policy's).
    """
    if unwrap_vec_wrapper(model.get_env(), KLRewardWrapper) is not None:
        raise ConfigError("This model's env already has a KL penalty; add it once.")
    if kl_coef is not None:
        model.policy.kl_controller.configure(kl_coef, target_kl, horizon)
    wrapper = KLRewardWrapper(model.get_env(), model.policy, reference, model, reference_dtype)
    model.set_env(wrapper)
    return wrapper
