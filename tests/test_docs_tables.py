"""No figure in the documentation without a stored artifact.

- The pages agree with their artifacts: ``docs/tables.py --check`` finds no problem (a region
  whose numbers differ from its artifact, a missing artifact, an unknown renderer).
- docs/tables.py behaves: on a temporary copy, changing an artifact makes the check fail and
  regeneration fixes it; unknown names and missing artifacts are reported.
- The benchmarks record their results: ``benchmarks/common.py``'s ``record`` writes the JSON
  file the tables read, and ``benchmarks/run_all.py`` runs exactly the rows docs/benchmarks.md
  shows.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load(path: Path, name: str):
    """Import a script that is not in a package, by its path."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


tables = load(ROOT / "docs" / "tables.py", "docs_tables")


def test_pages_agree_with_their_artifacts():
    problems = tables.check(ROOT)
    hint = (
        "\nMissing benchmark results: run `make bench` (python benchmarks/run_all.py --list names "
        "each file's command). Then `python docs/tables.py` regenerates the pages."
    )
    assert not problems, "\n".join(problems) + hint


# ---------------------------------------------------------------- docs/tables.py on a copy

RESULT = {
    "bench": "bench_x",
    "row": "a",
    "date": "2026-01-02",
    "command": "python benchmarks/bench_x.py --row a",
    "machine": {"cpu": "CPU X", "cpu_count": 2, "threads": 2, "device": "CPU", "torch": "2.0"},
    "settings": {"envs": 8},
    "figures": {"rollout_tok_s": 33.1, "ratio": 1.11, "each_repeat_tok_s": [33.1, 30.0]},
}
PAGE = """# Page

<!-- table: bench benchmarks/results/bench_x-a.json -->
<!-- /table -->

Inline: <!-- fig: json docs/results/exp/r.json figures/ratio .2f -->?<!-- /fig -->.
An example in prose: `<!-- fig: NAME ARGS... -->0.703<!-- /fig -->`, `<!-- table: NAME -->`.

```markdown
<!-- table: nosuch shown/as/an/example.json -->
<!-- /table -->
```
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A repository with one page, a benchmark result and an experiment artifact."""
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    (tmp_path / "docs" / "results" / "exp").mkdir(parents=True)
    write_json(tmp_path / "benchmarks" / "results" / "bench_x-a.json", RESULT)
    write_json(tmp_path / "docs" / "results" / "exp" / "r.json", RESULT)
    (tmp_path / "docs" / "page.md").write_text(PAGE, encoding="utf-8")
    return tmp_path


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data), encoding="utf-8")


def test_regeneration_fills_regions_with_figures_dates_and_sources(site):
    changed, problems = tables.regenerate(site)
    assert problems == [] and changed == [site / "docs" / "page.md"]
    page = (site / "docs" / "page.md").read_text(encoding="utf-8")
    assert "| rollout (tok/s) | 33.1 |" in page and "| each repeat (tok/s) | 33.1, 30.0 |" in page
    # outside docs/ the site cannot link, so the path is shown; the date is the artifact's
    assert "Source: `benchmarks/results/bench_x-a.json`, recorded 2026-01-02; CPU X" in page
    assert '[1.11](results/exp/r.json "recorded 2026-01-02")' in page
    assert "nosuch" in page and "`<!-- table: NAME -->`" in page  # examples are left alone
    assert tables.check(site) == []
    assert tables.regenerate(site) == ([], [])  # idempotent


def test_a_changed_artifact_fails_the_check_until_regenerated(site):
    tables.regenerate(site)
    changed = {**RESULT, "figures": {**RESULT["figures"], "ratio": 0.97}}
    write_json(site / "docs" / "results" / "exp" / "r.json", changed)
    problems = tables.check(site)
    assert len(problems) == 1 and "differs from its artifact" in problems[0]
    assert problems[0].startswith("docs/page.md: fig “json docs/results/exp/r.json")
    assert tables.main(["--check", "--root", str(site)]) == 1
    assert tables.main(["--root", str(site)]) == 0
    assert tables.check(site) == []
    assert "[0.97](results/exp/r.json" in (site / "docs" / "page.md").read_text(encoding="utf-8")


def test_a_hand_edited_figure_fails_the_check(site):
    tables.regenerate(site)
    page = site / "docs" / "page.md"
    page.write_text(page.read_text(encoding="utf-8").replace("| 33.1 |", "| 35.0 |"), "utf-8")
    assert [p for p in tables.check(site) if "table “bench" in p and "differs" in p]


def test_unknown_renderers_and_missing_artifacts_are_reported(site):
    page = site / "docs" / "page.md"
    extra = (
        "\n<!-- table: no_such_renderer benchmarks/results/bench_x-a.json -->\n<!-- /table -->\n"
        "<!-- table: bench benchmarks/results/bench_gone.json -->\n<!-- /table -->\n"
    )
    page.write_text(page.read_text(encoding="utf-8") + extra, encoding="utf-8")
    problems = tables.check(site)
    assert any("unknown table renderer 'no_such_renderer'" in p for p in problems)
    assert any("artifact missing: benchmarks/results/bench_gone.json" in p for p in problems)
    before = page.read_text(encoding="utf-8")
    assert tables.check(site) and page.read_text(encoding="utf-8") == before  # check writes nothing
    changed, problems = tables.regenerate(site)
    assert len(problems) == 2
    assert "Not recorded yet: `benchmarks/results/bench_gone.json` does not exist." in (
        page.read_text(encoding="utf-8")
    )


def test_an_unclosed_region_is_reported(site):
    (site / "docs" / "other.md").write_text("<!-- table: bench x.json -->\n", encoding="utf-8")
    assert any("not closed" in p for p in tables.check(site))


def test_links_from_readme_reach_outside_docs(site):
    (site / "README.md").write_text(
        "<!-- fig: json benchmarks/results/bench_x-a.json figures/ratio -->?<!-- /fig -->",
        encoding="utf-8",
    )
    tables.regenerate(site)
    readme = (site / "README.md").read_text(encoding="utf-8")
    assert '[1.11](benchmarks/results/bench_x-a.json "recorded 2026-01-02")' in readme


def test_every_registered_renderer_has_a_docstring():
    for name, function in {**tables.TABLES, **tables.FIGS}.items():
        assert function.__doc__ and "ARGS" in function.__doc__, name


# ---------------------------------------------------------------- benchmark results


@pytest.fixture
def common(monkeypatch, tmp_path):
    monkeypatch.setenv("TEXTGYM_BENCH_RESULTS", str(tmp_path / "results"))
    monkeypatch.delenv("TEXTGYM_BENCH_JSON", raising=False)
    return load(ROOT / "benchmarks" / "common.py", "bench_common")


def test_record_writes_the_result_file_the_tables_read(common, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["bench_x.py", "--prompt", "391", "--row", "p391"])
    lines = tmp_path / "figures.jsonl"
    monkeypatch.setenv("TEXTGYM_BENCH_JSON", str(lines))
    figures = {"rollout_tok_s": 33.1, "each_repeat_tok_s": [33.1, 30.0], "gpu": float("nan")}
    path = common.record("bench_x", {"prompt": 391, "row": "p391"}, figures, row="p391")
    assert path == tmp_path / "results" / "bench_x-p391.json"
    result = json.loads(path.read_text(encoding="utf-8"))  # strict JSON: NaN became null
    assert result["bench"] == "bench_x" and result["row"] == "p391"
    assert result["date"] == datetime.date.today().isoformat()
    assert result["command"] == "python benchmarks/bench_x.py --prompt 391 --row p391"
    assert set(result["machine"]) >= {
        "cpu", "threads", "device", "python", "torch", "transformers", "stable_baselines3",
        "textgym",
    }  # fmt: skip
    assert result["settings"] == {"prompt": 391}
    assert result["figures"] == {
        "rollout_tok_s": 33.1, "each_repeat_tok_s": [33.1, 30.0], "gpu": None
    }  # fmt: skip
    assert [p.name for p in path.parent.iterdir()] == ["bench_x-p391.json"]  # no temporary left
    line = json.loads(lines.read_text(encoding="utf-8"))  # gpu_check.sh's JSON lines go on
    assert line["bench"] == "bench_x" and line["figures"]["rollout_tok_s"] == 33.1


def test_benchmark_prompts_come_from_a_named_dataset_and_are_recorded(
    common, tmp_path, monkeypatch
):
    rows = [{"id": f"r{i}", "article": f"Text {i}.", "highlights": f"T{i}."} for i in range(3)]
    data = tmp_path / "prompts.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setenv("TEXTGYM_BENCH_PROMPTS", str(data))
    assert common.cnndm_rows(2) == [
        {"id": "r0", "source": "Text 0.", "reference": "T0."},
        {"id": "r1", "source": "Text 1.", "reference": "T1."},
    ]
    path = common.record("bench_x", {"envs": 8}, {"tok_s": 1.0})
    assert json.loads(path.read_text())["settings"] == {"envs": 8, "prompts": str(data)}


def test_a_result_renders_as_a_table(common, tmp_path):
    path = common.record("bench_x", {"envs": 8}, {"rollout_tok_s": 33.1})
    assert path.name == "bench_x.json"
    root = tmp_path / "site"
    (root / "benchmarks" / "results").mkdir(parents=True)
    (root / "benchmarks" / "results" / "bench_x.json").write_bytes(path.read_bytes())
    ctx = tables.Context(root, root / "docs" / "benchmarks.md")
    text = tables.TABLES["bench"](ctx, "benchmarks/results/bench_x.json")
    assert "| rollout (tok/s) | 33.1 |" in text and "settings: envs=8" in text


def test_a_row_is_named_by_row_or_by_the_options_that_differ(common):
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--prompt", type=int, default=128)
    common.add_row_argument(parser)
    assert common.row_of(parser, parser.parse_args([])) is None
    assert common.row_of(parser, parser.parse_args(["--row", "r"])) == "r"
    named = common.row_of(parser, parser.parse_args(["--device", "cuda", "--prompt", "391"]))
    assert named == "device-cuda_prompt-391"


def test_run_all_runs_exactly_the_rows_the_benchmarks_page_shows():
    run_all = load(ROOT / "benchmarks" / "run_all.py", "bench_run_all")
    page = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    shown = re.findall(r"^(python benchmarks/bench_\w+\.py.*?)\s*$", page, re.M)
    assert sorted(shown) == sorted(" ".join(row.command()) for row in run_all.ROWS)
    tabled = re.findall(r"<!-- table: bench benchmarks/results/(\S+)\.json -->", page)
    assert sorted(tabled) == sorted(row.name for row in run_all.ROWS)
    for row in run_all.ROWS:
        assert (ROOT / "benchmarks" / row.script).is_file()


def test_a_stored_text_renders_as_a_code_block(tmp_path):
    tables = load(ROOT / "docs" / "tables.py", "docs_tables_text")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.json").write_text(
        json.dumps({"runs": {"x y": "user: hi\nassistant: 5"}})
    )
    page = tmp_path / "docs" / "p.md"
    page.write_text('<!-- table: text docs/a.json "runs/x y" -->\n<!-- /table -->\n')
    tables.regenerate(tmp_path)
    text = page.read_text()
    assert "```text\nuser: hi\nassistant: 5\n```" in text
    assert tables.check(tmp_path) == []
