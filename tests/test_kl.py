"""KL-to-reference shaping: hand computation, zero KL, adaptive β, save/load, frozen reference."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from test_policy import make_env, make_ppo

from textgym import ConfigError
from textgym.policies import EpisodeRolloutBuffer, add_kl_penalty
from textgym.policies.kl_controller import INITIAL_BETA, KLController


class StepRewards(BaseCallback):
    """Keep every step's env rewards and dones."""

    def __init__(self) -> None:
        super().__init__()
        self.rewards: list[np.ndarray] = []
        self.dones: list[np.ndarray] = []

    def _on_step(self) -> bool:
        self.rewards.append(self.locals["rewards"].copy())
        self.dones.append(self.locals["dones"].copy())
        return True


def kl_ppo(tiny_lm_dir, word_dataset, max_new_tokens=6, **kwargs):
    env = make_env(tiny_lm_dir, word_dataset, max_new_tokens=max_new_tokens)
    return make_ppo(env, tiny_lm_dir, rollout_buffer_class=EpisodeRolloutBuffer, **kwargs)


def perturb(model: PPO, scale: float = 0.5) -> None:
    th.manual_seed(1)
    with th.no_grad():
        for p in model.policy.lm.parameters():
            p.add_(scale * th.randn_like(p))


def collect(model: PPO, rollouts: int = 1, on_rollout=lambda: None) -> StepRewards:
    """Reset the envs, then fill the buffer ``rollouts`` times in a row (episodes go on)."""
    steps = StepRewards()
    _, callback = model._setup_learn(model.n_steps * model.n_envs, callback=steps)
    callback.on_training_start(locals(), globals())
    for _ in range(rollouts):
        model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps)
        on_rollout()
    return steps


def test_kl_is_zero_when_policy_equals_reference(tiny_lm_dir, word_dataset):
    model = kl_ppo(tiny_lm_dir, word_dataset)
    penalty = add_kl_penalty(model, kl_coef=0.5)
    steps = collect(model)
    # zero up to float32 rounding: the stored log-probs come from the cached decode, the
    # reference's from one teacher-forced forward
    assert penalty.last.kl.shape == (8, 4) and np.abs(penalty.last.kl).max() <= 1e-6
    np.testing.assert_allclose(penalty.last.task_reward, np.stack(steps.rewards), atol=1e-7)


@pytest.mark.parametrize("sampling", [{}, {"temperature": 0.7, "top_k": 8}])
def test_shaped_reward_equals_hand_computation(tiny_lm_dir, word_dataset, sampling):
    model = kl_ppo(tiny_lm_dir, word_dataset, n_steps=10, policy_kwargs=sampling)
    penalty = add_kl_penalty(model, kl_coef=0.3)
    perturb(model)  # the reference keeps the initial weights
    steps = collect(model)
    buffer = model.rollout_buffer
    temperature = sampling.get("temperature", 1.0)
    for t, env_rewards in enumerate(steps.rewards):
        obs = {k: th.as_tensor(v[t]) for k, v in buffer.observations.items()}
        actions = th.as_tensor(buffer.actions[t]).long().flatten()
        with th.no_grad():
            _, log_pi, _ = model.policy.evaluate_actions(obs, actions)
            mask, ids = obs["attention_mask"], obs["input_ids"]
            ref = []
            for i in range(len(actions)):
                seq = ids[i][mask[i] == 1][None]
                logits = penalty.reference(input_ids=seq).logits[0, -1, : model.action_space.n]
                ref.append(th.log_softmax(logits.float() / temperature, -1)[actions[i]])
        kl = (log_pi - th.stack(ref)).numpy()
        np.testing.assert_allclose(penalty.last.kl[t], kl, atol=2e-4)
        np.testing.assert_allclose(buffer.rewards[t], env_rewards - 0.3 * kl, atol=2e-4)
    np.testing.assert_allclose(
        penalty.last.shaped_reward, penalty.last.task_reward - 0.3 * penalty.last.kl, atol=1e-6
    )
    assert np.abs(penalty.last.kl).max() > 1e-2


def test_episode_kl_spans_rollouts_and_drives_beta(tiny_lm_dir, word_dataset, monkeypatch):
    model = kl_ppo(tiny_lm_dir, word_dataset, max_new_tokens=4, n_steps=6)  # episodes cross
    penalty = add_kl_penalty(model, kl_coef=0.1, target_kl=1.0)
    perturb(model)
    seen: list[float] = []
    monkeypatch.setattr(model.policy.kl_controller, "update", seen.append)
    kls = []
    steps = collect(model, rollouts=3, on_rollout=lambda: kls.append(penalty.last.kl))
    kl, done = np.concatenate(kls), np.stack(steps.dones)
    expected = []
    for env in range(kl.shape[1]):
        ends = np.flatnonzero(done[:, env])
        starts = [0, *(ends[:-1] + 1)]
        expected += [kl[a : b + 1, env].sum() for a, b in zip(starts, ends, strict=True)]
    assert len(expected) >= 8
    np.testing.assert_allclose(sorted(seen), sorted(expected), rtol=1e-9)


def test_adaptive_beta_moves_toward_target():
    controller = KLController()
    controller.configure(0.1, target_kl=2.0, horizon=10)
    controller.update(10.0)  # far above target: β rises by the clipped 20% / horizon
    assert float(controller.beta) == pytest.approx(0.1 * (1 + 0.2 / 10))
    high = float(controller.beta)
    controller.update(1.0)  # below target: β falls
    assert float(controller.beta) == pytest.approx(high * (1 - 0.2 / 10))
    fixed = KLController()
    fixed.configure(0.1, target_kl=None, horizon=10)
    fixed.update(10.0)
    assert float(fixed.beta) == pytest.approx(0.1)


def test_adaptive_beta_rises_in_training_and_survives_save_load(
    tiny_lm_dir, word_dataset, tmp_path
):
    model = kl_ppo(tiny_lm_dir, word_dataset)
    add_kl_penalty(model, kl_coef=0.2, target_kl=1e-3, horizon=4)
    perturb(model)
    model.learn(64)
    controller = model.policy.kl_controller
    assert float(controller.beta) > 0.2
    model.save(tmp_path / "ppo")
    loaded = PPO.load(tmp_path / "ppo", device="cpu")
    for name in ("beta", "target", "horizon"):
        assert float(getattr(loaded.policy.kl_controller, name)) == float(getattr(controller, name))
    add_kl_penalty(loaded)  # keeps the loaded settings
    assert float(loaded.policy.kl_controller.beta) == float(controller.beta)


def test_reference_is_frozen_and_not_part_of_the_policy(tiny_lm_dir, word_dataset):
    model = kl_ppo(tiny_lm_dir, word_dataset, learning_rate=1e-2)
    penalty = add_kl_penalty(model, kl_coef=0.1)
    before = {k: v.clone() for k, v in penalty.reference.state_dict().items()}
    model.learn(64)
    assert all(th.equal(v, before[k]) for k, v in penalty.reference.state_dict().items())
    assert not any(p.requires_grad for p in penalty.reference.parameters())
    policy_params = {id(p) for p in model.policy.parameters()}
    assert not policy_params & {id(p) for p in penalty.reference.parameters()}
    assert not any(k.startswith("reference") for k in model.policy.state_dict())
    assert np.abs(penalty.last.kl).max() > 1e-3  # the policy moved away from the reference


def test_lora_reference_is_the_base_model_without_a_copy(tiny_lm_dir, word_dataset):
    lora = {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"]}
    model = kl_ppo(tiny_lm_dir, word_dataset, policy_kwargs={"lora": lora})
    penalty = add_kl_penalty(model, kl_coef=0.1)
    assert penalty.reference is model.policy.lm
    trainable = [n for n, p in model.policy.named_parameters() if p.requires_grad]
    assert trainable and all("lora" in n or n.startswith("value_net") for n in trainable)
    collect(model)
    assert np.abs(penalty.last.kl).max() < 1e-5  # LoRA starts as the identity
    with th.no_grad():
        for name, p in model.policy.lm.named_parameters():
            if "lora_B" in name:
                p.add_(0.5)
    collect(model)
    assert np.abs(penalty.last.kl).max() > 1e-3


def test_chunked_reference_forwards_give_the_same_kl(tiny_lm_dir, word_dataset):
    model = kl_ppo(tiny_lm_dir, word_dataset, n_steps=10)
    penalty = add_kl_penalty(model, kl_coef=0.1)
    perturb(model)
    collect(model)
    whole = penalty.token_kl(model.rollout_buffer)
    penalty.max_tokens = 20  # about one sequence per forward
    np.testing.assert_allclose(penalty.token_kl(model.rollout_buffer), whole, atol=1e-5)


def test_train_with_kl_flags(tiny_lm_dir, tmp_path):
    from textgym.cli import main

    args = ["train", "--model", tiny_lm_dir, "--timesteps", "32", "--n-envs", "2", "--n-steps", "8"]
    args += [
        "--batch-size",
        "16",
        "--max-new-tokens",
        "4",
        "--max-prompt-tokens",
        "64",
        "--no-progress",
    ]
    args += ["--eval-examples", "2", "--out", str(tmp_path), "--kl-coef", "0.1", "--target-kl", "2"]
    assert main(args) == 0
    loaded = PPO.load(tmp_path / "ppo.zip", device="cpu")
    assert float(loaded.policy.kl_controller.target) == 2.0


def test_penalty_needs_the_episode_buffer_and_is_added_once(tiny_lm_dir, word_dataset):
    plain = make_ppo(make_env(tiny_lm_dir, word_dataset), tiny_lm_dir)
    with pytest.raises(ConfigError, match="rollout_buffer_class=EpisodeRolloutBuffer"):
        add_kl_penalty(plain, kl_coef=0.1)
    model = kl_ppo(tiny_lm_dir, word_dataset)
    add_kl_penalty(model, kl_coef=0.1)
    with pytest.raises(ConfigError, match="already has a KL penalty"):
        add_kl_penalty(model, kl_coef=0.1)


def test_bfloat16_reference(tiny_lm_dir, word_dataset):
    model = kl_ppo(tiny_lm_dir, word_dataset)
    penalty = add_kl_penalty(model, kl_coef=0.1, reference_dtype="bfloat16")
    assert next(penalty.reference.parameters()).dtype == th.bfloat16
    collect(model)
    assert 0 < np.abs(penalty.last.kl).max() < 0.1  # bf16 rounding only


BAD_KL = [
    ({"kl_coef": -1.0}, r"kl_coef=-1.0 \(--kl-coef\) must be a finite number >= 0"),
    ({"kl_coef": float("inf")}, r"kl_coef=inf \(--kl-coef\) must be a finite number >= 0"),
    ({"kl_coef": float("nan")}, r"kl_coef=nan \(--kl-coef\) must be a finite number >= 0"),
    ({"target_kl": 0.0}, r"target_kl=0.0 \(--target-kl\) must be a finite number > 0"),
    ({"target_kl": float("nan")}, r"target_kl=nan \(--target-kl\) must be a finite number > 0"),
    ({"kl_coef": 0.0, "target_kl": 3.0}, "from 0 it stays 0"),
]


def test_bad_kl_settings_are_one_clear_error_in_api_and_cli(
    tiny_lm_dir, word_dataset, tmp_path, capsys
):
    from textgym.cli import main
    from textgym.training import TrainConfig

    model = kl_ppo(tiny_lm_dir, word_dataset)
    for settings, message in BAD_KL:
        with pytest.raises(ConfigError, match=message):
            add_kl_penalty(model, **settings)
        with pytest.raises(ConfigError, match=message):
            TrainConfig(model=tiny_lm_dir, **settings)
        flags = [f"--{k.replace('_', '-')}={v}" for k, v in settings.items()]
        assert main(["train", "--model", tiny_lm_dir, "--out", str(tmp_path / "o"), *flags]) == 2
        assert re.search(message, capsys.readouterr().err)
    assert model.rollout_buffer.reward_shaping is None  # nothing was added
    assert not (tmp_path / "o").exists()  # the CLI failed before writing anything


def test_target_kl_without_kl_coef_starts_the_adaptive_beta_at_0_1(tiny_lm_dir, word_dataset):
    from textgym.training import TrainConfig, build_ppo

    model = kl_ppo(tiny_lm_dir, word_dataset)
    add_kl_penalty(model, target_kl=6.0, horizon=50)
    controller = model.policy.kl_controller
    assert (float(controller.beta), float(controller.target)) == (INITIAL_BETA, 6.0) == (0.1, 6.0)
    config = TrainConfig(
        model=tiny_lm_dir, n_envs=2, n_steps=4, batch_size=8, target_kl=6.0, device="cpu"
    )
    built = build_ppo(config).policy.kl_controller
    assert (float(built.beta), float(built.target)) == (0.1, 6.0)
