"""Score the judged summaries with each reward and correlate the scores with the humans."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from textgym.atomic import check_output_folder
from textgym.errors import ConfigError
from textgym.validity.correlation import Correlation, correlate, document_resamples
from textgym.validity.judgments import (
    Judgments,
    load_judgments,
    select_human_columns,
    skipped_scores,
)
from textgym.validity.report import ValidityResult, write_report


def validate_rewards(
    judgments: str | os.PathLike[str] | Judgments,
    rewards: Sequence[Any],
    human_columns: Sequence[str] | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
    batch_size: int = 256,
    out: str | os.PathLike[str] | None = None,
    multi_reference: str | None = None,
) -> ValidityResult:
    """Correlate each reward with each human column at system and summary level.

    Args:
        judgments: A JSONL path (see :mod:`textgym.validity.judgments`) or loaded
            :class:`~textgym.validity.judgments.Judgments`.
        rewards: Reward specs for :func:`textgym.rewards.make_reward` (names such as
            ``"rouge1"``, ``"rm:FOLDER"``, or reward objects).
        human_columns: Human score columns to use; None: every numeric column that is not
            one of :data:`~textgym.validity.judgments.KNOWN_FIELDS`.
        bootstrap: Bootstrap resamples of the documents for the 95% intervals (0: none).
        seed: Seeds the bootstrap.
        batch_size: Summaries per reward call.
        out: If given, a folder to write ``validity.csv``, ``validity.json`` and
            ``validity_kendall_system.png`` into (see
            :func:`~textgym.validity.report.write_report`).
        multi_reference: ``"max"`` or ``"mean"``: how every reward combines its scores
            against several references (None: each reward's default).

    Raises:
        ConfigError: no rewards, an unknown reward, a reward without a multi-reference rule
            while ``multi_reference`` is set, a negative ``bootstrap``, or an ``out`` that is
            a file or cannot be written (all checked before any scoring).
        DatasetError: a malformed judgments file or a missing human column.
    """
    from textgym.rewards import make_reward
    from textgym.rewards.multi_reference import with_multi_reference

    check_arguments(rewards, bootstrap, out, seed, batch_size)
    # unknown names and rules fail first
    reward_fns = [
        (spec, with_multi_reference(make_reward(spec), multi_reference)) for spec in rewards
    ]
    data = judgments if isinstance(judgments, Judgments) else load_judgments(judgments)
    columns = select_human_columns(data, human_columns)
    samples = document_resamples(len(data.doc_ids), bootstrap, seed)
    correlations, names = _correlate_rewards(reward_fns, data, columns, samples, batch_size)
    result = ValidityResult(
        correlations=correlations,
        rewards=names,
        human_columns=list(columns),
        n_documents=len(data.doc_ids),
        n_systems=len(data.systems),
        n_summaries=len(data.summaries),
        bootstrap=bootstrap,
        seed=seed,
        judgments="" if isinstance(judgments, Judgments) else str(judgments),
        multi_reference=multi_reference,
        skipped_scores=skipped_scores(data, columns),
    )
    if out is not None:
        write_report(result, out)
    return result


def check_arguments(
    rewards: Sequence[Any],
    bootstrap: int,
    out: str | os.PathLike[str] | None,
    seed: int = 0,
    batch_size: int = 1,
) -> None:
    """Raise ConfigError for no rewards, a bad number, or an unusable ``out``."""
    if not rewards:
        raise ConfigError("Pass at least one reward, e.g. rewards=['rouge1', 'rougeL'].")
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, int) or bootstrap < 0:
        raise ConfigError(f"bootstrap={bootstrap!r} must be a non-negative integer, e.g. 1000.")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed={seed!r} (--seed) must be an integer >= 0.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size={batch_size!r} (--batch-size) must be an integer >= 1.")
    if out is not None:
        check_output_folder(out, "--out", keep=False)  # written only once all is scored


def _correlate_rewards(
    reward_fns: list[tuple[Any, Any]],
    data: Judgments,
    columns: list[str],
    samples: np.ndarray,
    batch_size: int,
) -> tuple[list[Correlation], list[str]]:
    """Every reward's correlations with every column, and the rewards' names (in order)."""
    correlations, names = [], []
    for spec, reward in reward_fns:
        names.append(str(getattr(reward, "name", spec)))
        metric = data.grid(score_summaries(reward, data, batch_size))
        for column in columns:
            human = data.grid(data.human[column])
            correlations += correlate(metric, human, samples, names[-1], column)
    return correlations, names


def score_summaries(reward: Any, data: Judgments, batch_size: int = 256) -> np.ndarray:
    """Score every summary with ``reward`` in batches; one checked float per line."""
    from textgym.rewards import score

    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size={batch_size!r} must be a positive integer.")
    parts = []
    for lo in range(0, len(data.summaries), batch_size):
        hi = lo + batch_size
        total, _ = score(reward, data.summaries[lo:hi], data.references[lo:hi], data.sources[lo:hi])
        parts.append(total)
    return np.concatenate(parts)
