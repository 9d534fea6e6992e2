"""Tests for textgym.data: load_examples over every input kind, field mapping and errors."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest

from textgym.data import TASKS, Example, load_examples
from textgym.data import sources as sources_module
from textgym.errors import ConfigError, DatasetError, UnknownNameError

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DEFAULT_DIR = Path(__file__).resolve().parents[1] / "textgym" / "data" / "default"

SUMMARIES = [
    {"id": "a", "source": "The cat sat on the mat all day.", "reference": "Cat sat."},
    {"id": "b", "source": "Rain fell in the city.", "reference": ["Rain.", "It rained."]},
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def raises(exc_type: type[Exception], *fragments: str, **kwargs) -> str:
    """Call load_examples(**kwargs), expect exc_type, check each fragment is in the message."""
    with pytest.raises(exc_type) as info:
        load_examples(**kwargs)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in: {message}"
    return message


# --- input kinds -------------------------------------------------------------------------------


def test_jsonl_path_str_and_pathlike(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s.jsonl", SUMMARIES)
    for dataset in (path, str(path)):
        examples = load_examples(dataset, task="summarize", split="ignored-for-files")
        assert examples == [
            Example("a", "The cat sat on the mat all day.", ("Cat sat.",)),
            Example("b", "Rain fell in the city.", ("Rain.", "It rained.")),
        ]


def test_json_file_as_lines_or_array(tmp_path: Path) -> None:
    lines = write_jsonl(tmp_path / "lines.json", SUMMARIES)
    array = tmp_path / "array.json"
    array.write_text(json.dumps(SUMMARIES, indent=2), encoding="utf-8")
    assert load_examples(lines, task="summarize") == load_examples(array, task="summarize")
    assert len(load_examples(array, task="summarize")) == 2


def test_jsonl_skips_blank_lines_and_uses_index_as_id(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text('\n{"article": "Text one.", "summary": "One."}\n\n', encoding="utf-8")
    (example,) = load_examples(path, task="summarize")
    assert example == Example("0", "Text one.", ("One.",))


def test_csv_with_quoted_commas_and_json_list_reference(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        "id,src,tgt,src_lang,tgt_lang\n"
        'x1,"Hello, world","[""Hallo, Welt"", ""Hallo Welt""]",en,de\n'
        "x2,Good night,[not json],en,de\n",
        encoding="utf-8",
    )
    first, second = load_examples(path, task="translate")
    assert first == Example(
        "x1",
        "Hello, world",
        ("Hallo, Welt", "Hallo Welt"),
        meta={"src_lang": "en", "tgt_lang": "de"},
    )
    assert second.references == ("[not json]",)


def test_list_of_dicts_and_limit() -> None:
    examples = load_examples(SUMMARIES, task="summarize", limit=1)
    assert [e.id for e in examples] == ["a"]
    assert len(load_examples(SUMMARIES, task="summarize", limit=10)) == 2


def test_list_of_examples_passes_through() -> None:
    example = Example("e", "src", ("ref",))
    assert load_examples([example], task="summarize") == [example]


def test_datasets_dataset() -> None:
    ds = datasets.Dataset.from_list(
        [
            {"document": "Long text here.", "highlights": "Short."},
            {"document": "B.", "highlights": "b"},
        ]
    )
    examples = load_examples(ds, task="summarize")
    assert [(e.id, e.source, e.references) for e in examples] == [
        ("0", "Long text here.", ("Short.",)),
        ("1", "B.", ("b",)),
    ]


def test_dataset_dict_picks_split_and_lists_splits_on_error() -> None:
    dd = datasets.DatasetDict(
        train=datasets.Dataset.from_list([{"src": "a b", "target": "A B"}]),
        test=datasets.Dataset.from_list([{"src": "c d", "target": "C D"}]),
    )
    (example,) = load_examples(dd, task="translate", split="test")
    assert (example.source, example.references, example.meta) == ("c d", ("C D",), {})
    raises(DatasetError, "'validation'", "'train'", "'test'", "split=", dataset=dd,
           task="translate", split="validation")  # fmt: skip


def test_hub_name_loads_through_datasets(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake_load(name: str, config: str | None, split: str, revision: str | None):
        calls.append((name, split))
        return datasets.Dataset.from_list([{"article": "Hub text.", "highlights": "Hub."}])

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    (example,) = load_examples("someone/news", task="summarize", split="validation")
    assert calls == [("someone/news", "validation")]
    assert example.references == ("Hub.",)


def test_hub_name_offline_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach the Hub")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    raises(DatasetError, "Could not load", "'cnn_dailymail'", "internet", "local JSONL/CSV path",
           "Couldn't reach the Hub", dataset="cnn_dailymail", task="summarize")  # fmt: skip


# --- field mapping -----------------------------------------------------------------------------


def test_field_overrides_summarize() -> None:
    rows = [{"key": 7, "body": "Body text.", "tldr": "TLDR.", "source": "ignored", "id": "no"}]
    (example,) = load_examples(
        rows, task="summarize", fields={"id": "key", "source": "body", "reference": "tldr"}
    )
    assert example == Example("7", "Body text.", ("TLDR.",))


def test_field_overrides_translate_languages() -> None:
    rows = [{"en": "Hi.", "fr": "Salut.", "from": "en", "to": "fr"}]
    (example,) = load_examples(
        rows, task="translate", fields={"reference": "fr", "src_lang": "from", "tgt_lang": "to"}
    )
    assert example == Example("0", "Hi.", ("Salut.",), meta={"src_lang": "en", "tgt_lang": "fr"})


def test_named_optional_field_must_exist() -> None:
    raises(DatasetError, "Row 0", "'src_lang'", "'lang'", "'en'", "fields=", dataset=[{"en": "Hi",
           "tgt": "Salut"}], task="translate", fields={"src_lang": "lang"})  # fmt: skip


def test_unknown_fields_key_is_config_error() -> None:
    raises(ConfigError, "'sorce'", "Did you mean 'source'", "Valid keys", dataset=SUMMARIES,
           task="summarize", fields={"sorce": "text"})  # fmt: skip
    raises(ConfigError, "'src_lang'", dataset=SUMMARIES, task="summarize",
           fields={"src_lang": "x"})  # fmt: skip
    raises(ConfigError, "column name", dataset=SUMMARIES, task="summarize", fields={"source": 3})


def test_dialogue_turns_list_and_merged_references() -> None:
    rows = [
        {
            "id": "d1",
            "context": ["Hi.", "Hello, how are you?"],
            "reference": "Fine.",
            "references": ["Good.", "Fine.", "Great."],
        }
    ]
    (example,) = load_examples(rows, task="dialogue")
    assert example.turns == ("Hi.", "Hello, how are you?")
    assert example.source == "Hi.\nHello, how are you?"
    assert example.references == ("Fine.", "Good.", "Great.")


def test_dialogue_string_turns_with_context_override() -> None:
    rows = [{"history": "A: hi\n\nB: hey\r\nA: bye\n", "response": "B: bye"}]
    for fields in ({"context": "history"}, {"source": "history"}):
        (example,) = load_examples(rows, task="dialogue", fields=fields)
        assert example.turns == ("A: hi", "B: hey", "A: bye")
        assert example.source == "A: hi\nB: hey\nA: bye"
        assert example.references == ("B: bye",)
    raises(DatasetError, "'context'", "'history'", dataset=rows, task="dialogue")


def test_dialogue_reference_override_skips_merge() -> None:
    rows = [{"turns": ["x"], "reference": "one", "references": ["two", "three"]}]
    (example,) = load_examples(rows, task="dialogue", fields={"reference": "references"})
    assert example.references == ("two", "three")


# --- errors ------------------------------------------------------------------------------------


def test_unknown_task() -> None:
    message = raises(UnknownNameError, "'summarise'", "Did you mean 'summarize'", dataset=SUMMARIES,
                     task="summarise")  # fmt: skip
    assert all(task in message for task in TASKS)


def test_empty_datasets(tmp_path: Path) -> None:
    raises(DatasetError, "has no rows", "at least one example", dataset=[], task="summarize")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n", encoding="utf-8")
    raises(DatasetError, "has no rows", str(empty), dataset=empty, task="summarize")
    header_only = tmp_path / "h.csv"
    header_only.write_text("source,reference\n", encoding="utf-8")
    raises(DatasetError, "has no rows", dataset=header_only, task="summarize")


@pytest.mark.parametrize("limit", [0, -1, 1.5, True])
def test_bad_limit(limit: object) -> None:
    raises(ConfigError, "limit", "at least 1", dataset=SUMMARIES, task="summarize", limit=limit)


def test_missing_field_names_row_field_columns_and_fix() -> None:
    rows = [SUMMARIES[0], {"id": "c", "body": "x", "reference": "y"}]
    raises(DatasetError, "Row 1", "'source'", "'article'", "its columns are 'id', 'body', "
           "'reference'", "fields={'source': 'COLUMN'} in Python",
           """--env-kwargs '{"fields": {"source": "COLUMN"}}' on the command line""", dataset=rows,
           task="summarize")  # fmt: skip
    raises(DatasetError, "Row 0", "'context'", "'turns'", dataset=[{"reference": "r"}],
           task="dialogue")  # fmt: skip


@pytest.mark.parametrize(
    ("row", "fragments"),
    [
        ({"source": "  ", "reference": "r"}, ("Row 0", "source column 'source' is empty")),
        ({"source": 5, "reference": "r"}, ("Row 0", "must hold a string", "int")),
        ({"source": None, "reference": "r"}, ("must hold a string", "NoneType")),
        ({"source": "s", "reference": ""}, ("reference column 'reference' is empty",)),
        ({"source": "s", "reference": []}, ("empty list", "at least one reference")),
        ({"source": "s", "reference": ["ok", 3]}, ("reference column", "must hold a string")),
    ],
)
def test_empty_or_non_string_text(row: dict, fragments: tuple[str, ...]) -> None:
    raises(DatasetError, *fragments, dataset=[row], task="summarize")


def test_bad_dialogue_turns_and_non_dict_row() -> None:
    raises(DatasetError, "non-empty list of turns", dataset=[{"context": [], "reference": "r"}],
           task="dialogue")  # fmt: skip
    raises(DatasetError, "must hold a string", dataset=[{"context": ["a", 1], "reference": "r"}],
           task="dialogue")  # fmt: skip
    raises(DatasetError, "Row 1", "is a str, not a dict", dataset=[SUMMARIES[0], "text"],
           task="summarize")  # fmt: skip


def test_jsonl_parse_error_names_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"source": "a", "reference": "b"}\n\n{"source": "a",\n', encoding="utf-8")
    raises(DatasetError, str(path), "line 3", "invalid JSON", dataset=path, task="summarize")
    path.write_text('{"source": "a", "reference": "b"}\n["x"]\n', encoding="utf-8")
    raises(DatasetError, "line 2", "expected a JSON object", dataset=path, task="summarize")


def test_json_array_parse_error_names_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('[\n  {"source": "a", "reference": "b"},\n  {"source": }\n]', encoding="utf-8")
    raises(DatasetError, "line 3", "invalid JSON", dataset=path, task="summarize")


def test_csv_errors_name_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text('source,reference\nok,fine\n"a"b,c\n', encoding="utf-8")
    raises(DatasetError, "line 3", "malformed CSV", dataset=path, task="summarize")
    path.write_text("source,reference\nok,fine\nmore,cells,than header\n", encoding="utf-8")
    raises(DatasetError, "line 3", "number of cells", dataset=path, task="summarize")
    path.write_text("source,reference\nok,fine\ntoo few\n", encoding="utf-8")
    raises(DatasetError, "line 3", "number of cells", dataset=path, task="summarize")


def test_file_errors(tmp_path: Path) -> None:
    for missing in ("no_such_file.jsonl", str(tmp_path / "data.csv"), "./data/train"):
        raises(DatasetError, "file not found", repr(missing), dataset=missing, task="summarize")
    raises(DatasetError, "is a directory", dataset=tmp_path, task="summarize")
    text = tmp_path / "rows.txt"
    text.write_text("hello\n", encoding="utf-8")
    raises(DatasetError, "Unsupported", "'.txt'", ".jsonl", dataset=text, task="summarize")
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"source": "caf\xe9", "reference": "x"}\n')
    raises(DatasetError, "not valid UTF-8", dataset=latin, task="summarize")
    raises(DatasetError, "Cannot read a dataset from a int", dataset=3, task="summarize")


# --- shipped defaults --------------------------------------------------------------------------


def test_default_unknown_split() -> None:
    message = raises(UnknownNameError, "'dev'", dataset=None, task="summarize", split="dev")
    assert all(split in message for split in ("train", "validation", "test"))


def test_default_missing_file_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sources_module, "default_path", lambda task, split: tmp_path / "x.jsonl")
    raises(DatasetError, "default 'translate' dataset", "'test'", "pass your own dataset",
           task="translate", split="test")  # fmt: skip


def test_default_path_points_into_package() -> None:
    path = sources_module.default_path("dialogue", "validation")
    assert path == DEFAULT_DIR / "dialogue_validation.jsonl"


@pytest.mark.parametrize("split", ["train", "validation", "test"])
@pytest.mark.parametrize("task", TASKS)
def test_default_datasets_load(task: str, split: str) -> None:
    if not (DEFAULT_DIR / f"{task}_{split}.jsonl").is_file():
        pytest.skip(f"default dataset {task}_{split}.jsonl not written yet")
    examples = load_examples(task=task, split=split)
    assert examples and all(e.source.strip() and e.references for e in examples)
    assert len({e.id for e in examples}) == len(examples)
    if task == "dialogue":
        assert all(e.turns and e.source == "\n".join(e.turns) for e in examples)
    assert load_examples(task=task, split=split, limit=1) == examples[:1]


# --- the real datasets in ../shared/data --------------------------------------------------------

needs_shared = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"real data folder {SHARED_DATA} absent (not in a fresh clone)"
)


@needs_shared
@pytest.mark.parametrize(
    ("name", "rows"),
    [("summarization/cnndm_250.jsonl", 250), ("summarization/samsum_819.jsonl", 819)],
)
def test_real_summarization(name: str, rows: int) -> None:
    examples = load_examples(SHARED_DATA / name, task="summarize")
    assert len(examples) == rows
    assert all(len(e.references) == 1 and e.source and not e.turns for e in examples)
    assert len({e.id for e in examples}) == rows


@needs_shared
def test_real_translation_meta() -> None:
    examples = load_examples(
        SHARED_DATA / "translation" / "multi30k_en-de_val.jsonl", task="translate"
    )
    assert len(examples) == 1014
    assert examples[0].id == "val-0"
    assert all(e.meta == {"src_lang": "en", "tgt_lang": "de"} for e in examples)


@needs_shared
def test_real_dialogue_references_and_turns() -> None:
    path = SHARED_DATA / "dialogue" / "dailydialog_pp_1142.jsonl"
    examples = load_examples(path, task="dialogue", limit=200)
    assert len(examples) == 200
    first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    assert examples[0].turns == tuple(first["context"])
    assert examples[0].references[0] == first["reference"]
    assert all(len(e.references) >= 5 and len(e.turns) >= 1 for e in examples)
    assert all(e.source == "\n".join(e.turns) for e in examples)


# --- Hugging Face dataset ids and dataset folders --------------------------------------------


def test_a_dataset_folder_loads_through_the_hub_path_offline(tmp_path, monkeypatch):
    # A folder of a dataset repo's files goes through datasets.load_dataset, as a hub id does.
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    repo = tmp_path / "samsum_like"
    repo.mkdir()
    for split, n in (("train", 3), ("test", 2)):
        rows = [
            {"id": f"{split}{i}", "dialogue": f"A: hi {i}", "summary": f"A greets {i}."}
            for i in range(n)
        ]
        (repo / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    examples = load_examples(str(repo), task="summarize", split="test")
    assert [(e.id, e.source, e.references) for e in examples] == [
        ("test0", "A: hi 0", ("A greets 0.",)),
        ("test1", "A: hi 1", ("A greets 1.",)),
    ]
    with pytest.raises(DatasetError, match="split 'validation'"):
        load_examples(str(repo), task="summarize", split="validation")


@pytest.mark.parametrize(
    "name, parts",
    [
        ("knkarthick/samsum", ("knkarthick/samsum", None, None)),
        ("abisee/cnn_dailymail:3.0.0", ("abisee/cnn_dailymail", "3.0.0", None)),
        (
            "openai/summarize_from_feedback:comparisons@a1b2c3",
            ("openai/summarize_from_feedback", "comparisons", "a1b2c3"),
        ),
        ("owner/data@v1.0", ("owner/data", None, "v1.0")),
    ],
)
def test_hub_ids_name_a_config_and_a_revision(name, parts, monkeypatch):
    datasets = pytest.importorskip("datasets")
    from textgym.data.sources import hub_id

    assert hub_id(name) == parts
    calls = []
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: calls.append((a, k)) or [])
    with pytest.raises(DatasetError, match="no rows"):
        load_examples(name, task="summarize", split="test")
    assert calls == [((parts[0], parts[1]), {"split": "test", "revision": parts[2]})]


@pytest.mark.parametrize("name", ["owner/data:", "owner/data@", ":cfg"])
def test_a_malformed_hub_id_is_a_clear_error(name):
    with pytest.raises(DatasetError, match="NAME:CONFIG@REVISION"):
        load_examples(name, task="summarize", split="test")


def test_a_hub_revision_with_slashes_is_not_a_path(monkeypatch):
    calls = []
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: calls.append((a, k)) or [])
    with pytest.raises(DatasetError, match="no rows"):
        load_examples("org/data@refs/convert/parquet", task="summarize", split="test")
    assert calls == [(("org/data", None), {"split": "test", "revision": "refs/convert/parquet"})]
