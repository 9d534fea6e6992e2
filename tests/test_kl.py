"""KL-to-reference shaping: hand computation, zero KL, adaptive β, save/load, frozen reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from test_policy import make_env, make_ppo

from textgym import EnvStateError
from textgym.kl import AdapterDisabled, add_kl_penalty
from textgym.policies.kl_controller import KLController


class StepInfos(BaseCallback):
    """Keep every step's infos and rewards."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[tuple[list[dict], np.ndarray]] = []

    def _on_step(self) -> bool:
        self.steps.append((self.locals["infos"], self.locals["rewards"].copy()))
        return True


def perturb(model: PPO, scale: float = 0.5) -> None:
    th.manual_seed(1)
    with th.no_grad():
        for p in model.policy.lm.parameters():
            p.add_(scale * th.randn_like(p))


def collect(model: PPO) -> StepInfos:
    infos = StepInfos()
    _, callback = model._setup_learn(model.n_steps * model.n_envs, callback=infos)
    callback.on_training_start(locals(), globals())
    model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps)
    return infos


def test_kl_is_zero_when_policy_equals_reference(tiny_lm_dir, word_dataset):
    model = make_ppo(make_env(tiny_lm_dir, word_dataset), tiny_lm_dir)
    add_kl_penalty(model, kl_coef=0.5)
    steps = collect(model).steps
    kls = [info["kl"]["kl"] for infos, _ in steps for info in infos]
    # zero up to float32 rounding: two copies of the weights may take different BLAS paths
    assert len(kls) == 8 * 4 and np.abs(kls).max() <= 1e-6
    for infos, rewards in steps:
        assert [i["kl"]["task_reward"] for i in infos] == pytest.approx(list(rewards), abs=1e-6)


def test_shaped_reward_equals_hand_computation(tiny_lm_dir, word_dataset):
    model = make_ppo(make_env(tiny_lm_dir, word_dataset), tiny_lm_dir, n_steps=10)
    wrapper = add_kl_penalty(model, kl_coef=0.3)
    perturb(model)  # the reference keeps the initial weights
    steps = collect(model).steps
    buffer = model.rollout_buffer
    for t, (infos, _) in enumerate(steps):
        obs = {k: th.as_tensor(v[t]) for k, v in buffer.observations.items()}
        actions = th.as_tensor(buffer.actions[t]).long().flatten()
        with th.no_grad():
            _, log_pi, _ = model.policy.evaluate_actions(obs, actions)
            mask, ids = obs["attention_mask"], obs["input_ids"]
            ref = []
            for i in range(len(actions)):
                seq = ids[i][mask[i] == 1][None]
                logits = wrapper.reference(input_ids=seq).logits[0, -1, : model.action_space.n]
                ref.append(th.log_softmax(logits.float(), -1)[actions[i]])
        kl = (log_pi - th.stack(ref)).numpy()
        got = np.array([i["kl"]["kl"] for i in infos])
        np.testing.assert_allclose(got, kl, atol=2e-4)
        shaped = np.array([i["kl"]["task_reward"] - 0.3 * i["kl"]["kl"] for i in infos])
        np.testing.assert_allclose(buffer.rewards[t], shaped, atol=1e-5)
        np.testing.assert_allclose([i["kl"]["shaped_reward"] for i in infos], shaped, atol=1e-6)
    assert np.abs(buffer.rewards).sum() > 0


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
    model = make_ppo(make_env(tiny_lm_dir, word_dataset), tiny_lm_dir)
    add_kl_penalty(model, kl_coef=0.2, target_kl=1e-3, horizon=4)
    perturb(model)
    model.learn(64)
    controller = model.policy.kl_controller
    assert float(controller.beta) > 0.2
    model.save(tmp_path / "ppo")
    loaded = PPO.load(tmp_path / "ppo", device="cpu")
    for name in ("beta", "target", "horizon"):
        assert float(getattr(loaded.policy.kl_controller, name)) == float(getattr(controller, name))


def test_reference_is_frozen_and_not_part_of_the_policy(tiny_lm_dir, word_dataset):
    model = make_ppo(make_env(tiny_lm_dir, word_dataset), tiny_lm_dir, learning_rate=1e-2)
    wrapper = add_kl_penalty(model, kl_coef=0.1)
    before = {k: v.clone() for k, v in wrapper.reference.state_dict().items()}
    model.learn(64)
    assert all(th.equal(v, before[k]) for k, v in wrapper.reference.state_dict().items())
    assert not any(p.requires_grad for p in wrapper.reference.parameters())
    policy_params = {id(p) for p in model.policy.parameters()}
    assert not policy_params & {id(p) for p in wrapper.reference.parameters()}
    assert not any(k.startswith("reference") for k in model.policy.state_dict())


def test_lora_reference_is_the_base_model_without_a_copy(tiny_lm_dir, word_dataset):
    lora = {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"]}
    model = make_ppo(make_env(tiny_lm_dir, word_dataset), tiny_lm_dir, policy_kwargs={"lora": lora})
    wrapper = add_kl_penalty(model, kl_coef=0.1)
    assert isinstance(wrapper.reference, AdapterDisabled)
    assert wrapper.reference.peft_model is model.policy.lm
    trainable = [n for n, p in model.policy.named_parameters() if p.requires_grad]
    assert trainable and all("lora" in n or n.startswith("value_net") for n in trainable)
    kls = [i["kl"]["kl"] for infos, _ in collect(model).steps for i in infos]
    assert np.abs(kls).max() < 1e-5  # LoRA starts as the identity
    with th.no_grad():
        for name, p in model.policy.lm.named_parameters():
            if "lora_B" in name:
                p.add_(0.5)
    kls = [i["kl"]["kl"] for infos, _ in collect(model).steps for i in infos]
    assert np.abs(kls).max() > 1e-3


def test_actions_not_from_the_policy_are_refused(tiny_lm_dir, word_dataset):
    model = make_ppo(make_env(tiny_lm_dir, word_dataset), tiny_lm_dir)
    wrapper = add_kl_penalty(model, kl_coef=0.1)
    wrapper.reset()
    with pytest.raises(EnvStateError, match="did not just sample"):
        wrapper.step(np.zeros(4, dtype=np.int64))


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


def test_penalty_is_added_once_and_bfloat16_reference(tiny_lm_dir, word_dataset):
    from textgym import ConfigError

    model = make_ppo(make_env(tiny_lm_dir, word_dataset), tiny_lm_dir)
    wrapper = add_kl_penalty(model, kl_coef=0.1)
    with pytest.raises(ConfigError, match="already has a KL penalty"):
        add_kl_penalty(model, kl_coef=0.1)
    model.set_env(wrapper.venv)
    wrapper = add_kl_penalty(model, kl_coef=0.1, reference_dtype="bfloat16")
    assert next(wrapper.reference.parameters()).dtype == th.bfloat16
    kls = [i["kl"]["kl"] for infos, _ in collect(model).steps for i in infos]
    assert 0 < np.abs(kls).max() < 0.1  # bf16 rounding only
