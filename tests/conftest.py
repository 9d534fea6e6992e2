"""Shared fixtures: a tiny word-level tokenizer, a tiny random LM on it, the embedded tokenizer."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch as th

WORDS = (
    "the a cat dog sat ran on in mat park big small red blue and is was to of it "
    "sun rain day night good bad yes no hello thanks please water tea book read "
    "quick slow happy sad home went came saw see go"
).split()


def make_word_tokenizer(words=WORDS):
    """A whitespace word-level tokenizer: ids 0-2 are <pad>, <eos>, <unk>, then ``words``."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(["<pad>", "<eos>", "<unk>", *words])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>"
    )


def fake_model_folder(folder):
    """A folder with a model's file names (nothing loads it: rewards load on first use)."""
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"")
    return folder


def tiny_llama_config(vocab_size: int, **overrides):
    """A 2-layer Llama config with hidden size 16 (``overrides`` change any field)."""
    from transformers import LlamaConfig

    fields = dict(
        vocab_size=vocab_size,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=None,
    )
    return LlamaConfig(**{**fields, **overrides})


def make_tiny_lm(vocab_size: int, seed: int = 0):
    """A tiny Llama causal LM (see :func:`tiny_llama_config`), randomly initialised."""
    from transformers import LlamaForCausalLM

    th.manual_seed(seed)
    return LlamaForCausalLM(tiny_llama_config(vocab_size))


@pytest.fixture(scope="session")
def word_tokenizer():
    return make_word_tokenizer()


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory, word_tokenizer) -> str:
    """Folder with the tiny LM and its tokenizer: usable as `model=` and as `tokenizer=`."""
    path = tmp_path_factory.mktemp("tiny_lm")
    make_tiny_lm(len(word_tokenizer)).save_pretrained(path)
    word_tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def word_dataset() -> list[dict]:
    """Twelve summarize rows written in the tiny vocabulary."""
    rows = []
    for i in range(12):
        a, b, c = (
            WORDS[i % len(WORDS)],
            WORDS[(3 * i + 5) % len(WORDS)],
            WORDS[(7 * i + 2) % len(WORDS)],
        )
        rows.append(
            {
                "id": f"w{i}",
                "source": f"the {a} {b} on the {c} and it was good",
                "reference": f"{a} {b} {c}",
            }
        )
    return rows


@pytest.fixture(scope="session")
def smol_tokenizer():
    """The embedded SmolLM2 tokenizer (converted and cached on first use)."""
    from textgym.models import DEFAULT_MODEL, load_tokenizer

    return load_tokenizer(DEFAULT_MODEL)


def collect_rollout(model):
    """Fill ``model``'s rollout buffer once with the stock ``collect_rollouts``."""
    _, callback = model._setup_learn(model.n_steps * model.n_envs, callback=None)
    callback.on_training_start(locals(), globals())
    assert model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps)
    return model.rollout_buffer


def mean_rollout_rewards(model, timesteps):
    """``model.learn(timesteps)``; the mean recent episode reward after each rollout."""
    from stable_baselines3.common.callbacks import BaseCallback

    rewards = []

    class Record(BaseCallback):
        def _on_rollout_end(self) -> None:
            rewards.append(
                sum(e["r"] for e in self.model.ep_info_buffer) / len(self.model.ep_info_buffer)
            )

        def _on_step(self) -> bool:
            return True

    model.learn(timesteps, callback=Record())
    return rewards


def tiny_train_config(model: str, **overrides):
    """A TrainConfig for the tiny LM: 2 envs, 3 new tokens, CPU (``overrides`` change any field)."""
    from textgym.training import TrainConfig

    settings = dict(
        model=model,
        timesteps=32,
        n_envs=2,
        n_steps=4,
        batch_size=8,
        n_epochs=1,
        max_prompt_tokens=64,
        max_new_tokens=3,
        eval_examples=2,
        device="cpu",
    )
    return TrainConfig(**{**settings, **overrides})


@pytest.fixture(scope="session")
def tiny_default_model(tmp_path_factory, smol_tokenizer) -> Path:
    """A textgym cache whose ``smollm2-135m-instruct`` is a tiny random LM on its tokenizer.

    Point ``$TEXTGYM_CACHE`` at it (subprocesses too) to run code written for the default
    model on a tiny one: the docs' code blocks, the examples.
    """
    from transformers import AutoConfig, LlamaForCausalLM

    from textgym.models import DEFAULT_MODEL, resolve_pretrained

    real = Path(resolve_pretrained(DEFAULT_MODEL))
    cache = tmp_path_factory.mktemp("textgym_cache")
    target = cache / real.name
    config = AutoConfig.from_pretrained(real)
    sizes = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=2, head_dim=8)
    config.update({**sizes, "num_attention_heads": 2, "num_key_value_heads": 1})
    th.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(target)
    smol_tokenizer.save_pretrained(target)
    return cache
