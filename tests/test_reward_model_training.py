import json
from dataclasses import replace

import numpy as np
import pytest
from conftest import WORDS, make_word_tokenizer, tiny_llama_config

from textgym.cli import main
from textgym.errors import ConfigError, DatasetError
from textgym.reward_models import PreferencePair, RMConfig, load_pairs, train_reward_model
from textgym.reward_models.encoding import encode_pairs
from textgym.reward_models.splitting import split_pairs
from textgym.rewards import make_reward
from textgym.stats.intervals import wilson_interval

TOPICS = [w for w in WORDS if w not in ("good", "bad")]


def make_tiny_classifier_dir(path, seed: int = 0) -> str:
    """A randomly initialised 2-layer Llama classifier (one logit) and the word tokenizer."""
    import torch as th
    from transformers import LlamaForSequenceClassification

    tokenizer = make_word_tokenizer()
    th.manual_seed(seed)
    config = tiny_llama_config(
        len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=1,
    )
    LlamaForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def synthetic_pairs(n: int, seed: int = 0) -> list[dict]:
    """Chosen replies end with 'good', rejected ones with 'bad'; the rest is random words."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        prompt = " ".join(rng.choice(TOPICS, size=6))
        body = " ".join(rng.choice(TOPICS, size=3))
        rows.append(
            {"id": i, "prompt": prompt, "chosen": f"{body} good", "rejected": f"{body} bad"}
        )
    return rows


def write_jsonl(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory) -> str:
    return make_tiny_classifier_dir(tmp_path_factory.mktemp("tiny_cls"))


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory) -> str:
    return write_jsonl(tmp_path_factory.mktemp("pairs") / "pairs.jsonl", synthetic_pairs(80))


def tiny_config(pairs_file, tiny_base, out, **overrides) -> RMConfig:
    settings = dict(
        pairs=pairs_file, base=tiny_base, out=out, epochs=4, lr=3e-3, batch_size=8,
        max_length=16, val_fraction=0.25, seed=0, device="cpu",
    )  # fmt: skip
    return RMConfig(**{**settings, **overrides})


def test_learns_the_preference_and_reloads_as_a_reward(pairs_file, tiny_base, tmp_path):
    out = tmp_path / "rm"
    result = train_reward_model(tiny_config(pairs_file, tiny_base, out))
    assert result.n_train == 60 and result.n_heldout == 20
    assert result.accuracy_after == 1.0
    assert np.mean(result.losses[-5:]) < np.mean(result.losses[:5])
    low, high = result.accuracy_ci
    assert low > 0.5 and high == 1.0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["accuracy_after"] == 1.0 and metrics["config"]["base"] == tiny_base
    from transformers import AutoTokenizer

    assert AutoTokenizer.from_pretrained(out).model_max_length == 16  # scored as trained
    reward = make_reward(f"rm:{out}")
    held = synthetic_pairs(10, seed=99)
    prompts = [r["prompt"] for r in held]
    chosen = reward([r["chosen"] for r in held], [[""]] * 10, prompts)
    rejected = reward([r["rejected"] for r in held], [[""]] * 10, prompts)
    assert np.all(chosen > rejected)


def test_lora_is_merged_on_save(pairs_file, tiny_base, tmp_path):
    out = tmp_path / "rm_lora"
    config = tiny_config(pairs_file, tiny_base, out, lora=True, lora_rank=4, epochs=3, lr=1e-2)
    result = train_reward_model(config)
    assert result.accuracy_after > 0.8
    assert not (out / "adapter_config.json").exists()  # a plain model, not an adapter
    scores = make_reward(f"rm:{out}")(["a good", "a bad"], [[""], [""]], ["the cat"] * 2)
    assert scores.shape == (2,)


def test_train_layers_freezes_the_rest(pairs_file, tiny_base, tmp_path):
    from transformers import AutoModelForSequenceClassification

    out = tmp_path / "rm_top"
    train_reward_model(tiny_config(pairs_file, tiny_base, out, train_layers=1, epochs=1))
    before = AutoModelForSequenceClassification.from_pretrained(tiny_base)
    after = AutoModelForSequenceClassification.from_pretrained(out)
    changed = {
        name
        for (name, a), (_, b) in zip(
            before.named_parameters(), after.named_parameters(), strict=True
        )
        if not a.equal(b)
    }
    assert "score.weight" in changed and any(".layers.1." in n for n in changed)
    assert not any(".layers.0." in n or "embed_tokens" in n for n in changed)


def test_split_is_by_prompt_and_deterministic():
    pairs = [PreferencePair(f"p{i % 7}", "a", "b") for i in range(30)]
    train, held = split_pairs(pairs, 0.3, seed=1)
    assert (train, held) == split_pairs(pairs, 0.3, seed=1)
    assert {p.prompt for p in train}.isdisjoint({p.prompt for p in held})
    assert len(held) >= 9 and len(train) + len(held) == 30
    assert split_pairs(pairs, 0.3, seed=2) != (train, held)


def test_bad_pairs_files_raise_helpful_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_pairs(tmp_path / "nope.jsonl")
    with pytest.raises(DatasetError, match="has no pairs"):
        load_pairs(write_jsonl(tmp_path / "empty.jsonl", []))
    with pytest.raises(DatasetError, match=r"lacks the field\(s\) rejected"):
        load_pairs(write_jsonl(tmp_path / "m.jsonl", [{"prompt": "p", "chosen": "c"}]))
    with pytest.raises(DatasetError, match="must be a string"):
        load_pairs(
            write_jsonl(tmp_path / "t.jsonl", [{"prompt": 1, "chosen": "c", "rejected": "r"}])
        )
    (tmp_path / "bad.jsonl").write_text("{not json\n")
    with pytest.raises(DatasetError, match="bad.jsonl:1 is not valid JSON"):
        load_pairs(tmp_path / "bad.jsonl")
    assert len(load_pairs(write_jsonl(tmp_path / "ok.jsonl", synthetic_pairs(9)), limit=4)) == 4


def test_bad_settings_raise_before_loading(pairs_file, tiny_base, tmp_path):
    with pytest.raises(ConfigError, match="alternatives"):
        train_reward_model(tiny_config(pairs_file, tiny_base, tmp_path, lora=True, train_layers=1))
    with pytest.raises(ConfigError, match="val_fraction"):
        train_reward_model(tiny_config(pairs_file, tiny_base, tmp_path, val_fraction=1.5))
    with pytest.raises(ConfigError, match="train_layers=5"):
        train_reward_model(tiny_config(pairs_file, tiny_base, tmp_path, train_layers=5))


def test_cli(pairs_file, tiny_base, tmp_path, capsys):
    out = tmp_path / "cli_rm"
    argv = ["train-rm", "--pairs", pairs_file, "--base", tiny_base, "--out", str(out)]
    assert (
        main([*argv, "--epochs", "1", "--max-length", "16", "--limit", "20", "--no-progress"]) == 0
    )
    assert "Held-out pairwise accuracy" in capsys.readouterr().out
    assert (out / "config.json").exists() and (out / "metrics.json").exists()
    assert main(["train-rm", "--pairs", str(tmp_path / "missing.jsonl")]) == 2


def test_rerun_replaces_its_own_output_never_a_users_file(pairs_file, tiny_base, tmp_path):
    out = tmp_path / "rm"
    config = tiny_config(pairs_file, tiny_base, out, epochs=1, limit=20)
    train_reward_model(config)
    assert json.loads((out / "metrics.json").read_text())["config"]["seed"] == 0
    train_reward_model(replace(config, seed=1))  # same --out: its own output is replaced
    assert json.loads((out / "metrics.json").read_text())["config"]["seed"] == 1
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"notes\.txt.*Choose a new or empty folder"):
        train_reward_model(config)
    assert (out / "notes.txt").read_text() == "mine" and (out / "config.json").is_file()


def test_an_out_that_is_a_file_is_refused_before_loading(pairs_file, tmp_path, monkeypatch, capsys):
    from textgym.reward_models import training

    monkeypatch.setattr(training, "_load_data", lambda *a: pytest.fail("loaded before the check"))
    out = tmp_path / "rm"
    out.write_text("mine")
    assert main(["train-rm", "--pairs", pairs_file, "--out", str(out), "--no-progress"]) == 2
    assert "is an existing file, not a folder" in capsys.readouterr().err
    assert out.read_text() == "mine"


def test_wilson_interval():
    low, high = wilson_interval(0.5, 100)
    assert low == pytest.approx(0.4038, abs=1e-3) and high == pytest.approx(0.5962, abs=1e-3)


def test_long_texts_lose_the_start_of_the_prompt_not_the_response():
    tokenizer = make_word_tokenizer()
    pair = PreferencePair("the cat sat on the mat and it was big", "dog ran", "sun rain day")
    ((chosen, rejected),) = encode_pairs(tokenizer, [pair], max_length=7)
    assert len(chosen) == len(rejected) == 7
    assert tokenizer.decode(chosen).split()[-3:] == ["<unk>", "dog", "ran"]  # ':' is unknown
    assert tokenizer.decode(rejected).split()[-4:] == ["<unk>", "sun", "rain", "day"]
    assert tokenizer.decode(chosen).split()[0] != "the"  # the prompt's start is gone


def test_pairs_without_a_preference_are_dropped_with_a_count(tmp_path):
    rows = [
        {"prompt": "p", "chosen": "the cat", "rejected": "the cat "},
        {"prompt": "p", "chosen": "the cat", "rejected": "a dog"},
    ]
    path = tmp_path / "pairs.jsonl"
    write_jsonl(path, rows)
    with pytest.warns(UserWarning, match=r"dropped 1 pair\(s\) whose chosen text equals"):
        pairs = load_pairs(path)
    assert [(p.chosen, p.rejected) for p in pairs] == [("the cat", "a dog")]
    write_jsonl(path, rows[:1])
    with pytest.raises(DatasetError, match=r"only pairs whose chosen equals rejected \(1\)"):
        load_pairs(path)
