"""Every option of every command, probed with bad values: a clear usage error, never a traceback.

The options are read from the parsers themselves, so an option added later is probed too. The
commands' long-running calls are replaced by a sentinel: a bad value must be refused before it.
"""

from __future__ import annotations

import argparse
import importlib

import pytest

from textgym.cli import COMMANDS, build_parser, main

# the call each command makes once its input is accepted (replaced by the sentinel)
WORK = {
    "train": ("textgym.commands.train", "train"),
    "compare": ("textgym.commands.compare", "compare"),
    "train-rm": ("textgym.commands.train_rm", "train_reward_model"),
    "sample": ("textgym.commands.sample", "sample_candidates"),
    "validate-rewards": ("textgym.commands.validate_rewards", "validate_rewards"),
}
# what a command needs besides the probed option
REQUIRED = {
    "train-rm": ["--pairs", "p.jsonl"],
    "sample": ["--dataset", "d.jsonl"],
    "validate-rewards": ["--judgments", "j.jsonl"],
}
# numeric options for which -1 is a valid value
NEGATIVE_OK: set[tuple[str, str]] = set()


class Reached(Exception):
    """The command accepted its input and started its work."""


def options(command: str) -> list[argparse.Action]:
    parser = build_parser([command])
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [
        a
        for a in sub.choices[command]._actions
        if a.option_strings and a.nargs != 0 and a.dest not in ("help", "config")
    ]


PROBES = [
    pytest.param(
        command, action.option_strings[0], action.type, id=f"{command} {action.option_strings[0]}"
    )
    for command in COMMANDS
    for action in options(command)
]


def test_every_command_is_probed():
    assert set(WORK) == set(COMMANDS) and len(PROBES) > 60


@pytest.fixture
def sentinel(monkeypatch):
    def reached(*args, **kwargs):
        raise Reached

    for module, name in WORK.values():
        monkeypatch.setattr(importlib.import_module(module), name, reached)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


def outcome(argv: list[str], capsys) -> tuple[str, str]:
    """``("usage" | "error" | "reached", stderr)``; anything else fails the test."""
    try:
        code = main(argv)
    except SystemExit as exc:
        assert exc.code == 2, argv
        return "usage", capsys.readouterr().err
    except Reached:
        return "reached", capsys.readouterr().err
    assert code == 2, argv
    return "error", capsys.readouterr().err


@pytest.mark.parametrize("command, flag, kind", PROBES)
def test_bad_values_are_refused_with_one_clear_line(
    command, flag, kind, sentinel, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("mine")
    values = ["", "  "]
    if kind in (int, float):
        values += ["abc", "1e999x"] + ([] if (command, flag) in NEGATIVE_OK else ["-1"])
    dest = flag.lstrip("-").replace("-", "_")
    for value in values:
        result, err = outcome([command, *REQUIRED.get(command, []), f"{flag}={value}"], capsys)
        assert result != "reached", f"textgym {command} {flag}={value!r} was accepted"
        assert "Traceback" not in err and err.strip(), err
        error = err.strip().splitlines()[-1]  # the error line, not argparse's usage lines
        assert "error:" in error and (flag in error or f"{dest}=" in error), err
    assert (tmp_path / "a_file").read_text() == "mine"


OUT_OPTIONS = [
    (command, flag)
    for command in COMMANDS
    for flag in ("--out",)
    if any(flag in a.option_strings for a in options(command)) and command != "sample"
]


@pytest.mark.parametrize("command, flag", OUT_OPTIONS)
def test_a_file_where_a_folder_is_expected_is_refused(command, flag, tmp_path, capsys, monkeypatch):
    # sample's --out is a file; every other --out is a folder, checked before anything loads
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("mine")
    (tmp_path / "p.jsonl").write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\n')
    argv = [command, *REQUIRED.get(command, []), flag, "a_file"]
    result, err = outcome(argv, capsys)
    assert result != "reached" and "is an existing file, not a folder" in err, err
    assert "Traceback" not in err and (tmp_path / "a_file").read_text() == "mine"
