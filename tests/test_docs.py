"""The documentation is tested: its Python blocks run and its `textgym` commands parse.

- Every ```python block of README.md and docs/**/*.md runs, the blocks of one page in order in
  one namespace, in a fresh working directory. The default model ``smollm2-135m-instruct`` is
  replaced by a tiny random LM with the same tokenizer (the fixture ``tiny_default_model``:
  ``$TEXTGYM_CACHE`` points at a cache whose converted SmolLM2 is that tiny LM, so subprocesses
  see it too). A block preceded by ``<!-- not run: REASON -->`` is skipped; at most
  :data:`MAX_NOT_RUN` blocks may be, and each must say why.
- Every ``textgym ...`` command in a ```bash block is parsed by the CLI's own parser, so a
  renamed or removed flag fails here.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from textgym.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
MAX_NOT_RUN = 6
NOT_RUN = re.compile(r"<!--\s*not run:\s*(.*?)\s*-->")
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w+-]*)[^\n]*$")


@dataclass(frozen=True)
class Block:
    """A fenced code block: its page, first line, language, text and skip reason."""

    page: str
    line: int
    lang: str
    code: str
    not_run: str | None  # the reason given in a preceding <!-- not run: ... --> comment


def pages() -> list[Path]:
    """README.md and every Markdown page of the docs site, results pages included."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks(path: Path, root: Path = ROOT) -> list[Block]:
    """The fenced code blocks of the Markdown file ``path`` (named relative to ``root``)."""
    found, lines = [], path.read_text("utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, end = len(opening["indent"]), i + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        code = "\n".join(line[indent:] for line in lines[i + 1 : end])
        before = next((ln for ln in reversed(lines[:i]) if ln.strip()), "")
        reason = NOT_RUN.search(before)
        name = str(path.relative_to(root))
        found.append(Block(name, i + 1, opening["lang"], code, reason and reason[1]))
        i = end + 1
    return found


ALL_BLOCKS = [b for path in pages() for b in blocks(path)]
PYTHON_PAGES = sorted({b.page for b in ALL_BLOCKS if b.lang == "python"})


def commands(block: Block) -> list[list[str]]:
    """The ``textgym`` command lines of a shell block, continuations joined, as argv lists."""
    joined = re.sub(r"\\\n\s*", " ", block.code)
    found = []
    for line in joined.splitlines():
        argv = shlex.split(line, comments=True)
        if argv and argv[0] == "$":
            argv = argv[1:]
        while argv and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", argv[0]):
            argv = argv[1:]  # VAR=value prefixes
        if argv and argv[0] == "textgym":
            found.append(argv[1:])
    return found


SHELL = ("bash", "sh", "shell", "console")
COMMANDS = [
    pytest.param(argv, id=f"{b.page}:{b.line}:{i}")
    for b in ALL_BLOCKS
    if b.lang in SHELL
    for i, argv in enumerate(commands(b))
]


def test_the_docs_show_commands_and_code():
    assert len(COMMANDS) >= 10 and len(PYTHON_PAGES) >= 3


def test_blocks_and_commands_are_read_as_written(tmp_path):
    page = tmp_path / "p.md"
    page.write_text(
        "text\n\n<!-- not run: needs a GPU -->\n```python\nx = 1\n```\n\n"
        "```bash\n$ textgym train --env A \\\n    --n-envs 2  # two\nmake demo\n"
        "CUDA_VISIBLE_DEVICES=0 textgym compare --rewards a,b\n```\n"
    )
    python, shell = blocks(page, tmp_path)
    assert (python.lang, python.code, python.not_run) == ("python", "x = 1", "needs a GPU")
    assert (python.page, python.line) == ("p.md", 4)
    assert commands(shell) == [
        ["train", "--env", "A", "--n-envs", "2"],
        ["compare", "--rewards", "a,b"],
    ]


def test_few_blocks_are_not_run_and_each_says_why():
    skipped = [b for b in ALL_BLOCKS if b.lang == "python" and b.not_run is not None]
    assert len(skipped) <= MAX_NOT_RUN, [f"{b.page}:{b.line}" for b in skipped]
    assert all(b.not_run for b in skipped), "<!-- not run: REASON --> needs a reason"


@pytest.mark.parametrize("argv", COMMANDS)
def test_every_shown_command_parses(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # as a reader would type it: no runs/ folder yet
    argv = without_missing_config(argv)
    try:
        build_parser(argv).parse_args(argv)
    except SystemExit as exc:
        if exc.code:  # --help exits 0
            pytest.fail(f"textgym {shlex.join(argv)}\n{capsys.readouterr().err}")


def without_missing_config(argv: list[str]) -> list[str]:
    """``argv`` less a ``--config FILE`` whose file the page only names (it is read at parse)."""
    out, skip = [], False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        if arg == "--config" and i + 1 < len(argv) and not Path(argv[i + 1]).exists():
            skip = True
            continue
        if arg.startswith("--config=") and not Path(arg.split("=", 1)[1]).exists():
            continue
        out.append(arg)
    return out


def test_a_renamed_flag_fails_the_parse():
    with pytest.raises(SystemExit):
        build_parser(["train", "--n-envz", "2"]).parse_args(["train", "--n-envz", "2"])


@pytest.fixture
def registries():
    """Undo what a page registers (tasks, env ids, rewards), so other tests see none of it."""
    import gymnasium as gym

    from textgym import tasks
    from textgym.rewards import registry

    saved = [(d, dict(d)) for d in (gym.registry, tasks._TASKS, registry._FACTORIES)]
    yield
    for live, copy in saved:
        live.clear()
        live.update(copy)


@pytest.mark.parametrize("page", PYTHON_PAGES)
def test_python_blocks_run(page, tiny_default_model, tmp_path, monkeypatch, registries):
    monkeypatch.setenv("TEXTGYM_CACHE", str(tiny_default_model))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    ran = 0
    for block in (b for b in ALL_BLOCKS if b.page == page and b.lang == "python"):
        if block.not_run is None:
            exec(compile(block.code, f"{page}:{block.line}", "exec"), namespace)
            ran += 1
    if not ran:
        pytest.skip(f"every Python block of {page} is marked not run")
