"""How well do rewards agree with human judgments? Kendall and Spearman correlations.

Input is a JSONL file of human-judged summaries, one line per (document, system):
``doc_id``, ``system``, ``source``, ``summary``, the reference(s) (``references``: a list
of strings, or ``reference``: a string or a list; ``references`` wins when a line has both)
and one or more numeric human score columns (e.g. ``litepyramid_recall``, ``relevance``).
``summary`` and ``source`` must be strings (a null summary is an error naming the line, not
the text "None"). A human score that is not a finite number (``"n/a"``, null, missing) leaves
that line out of that column's correlations only; a warning and
:attr:`ValidityResult.skipped_scores` say how many lines each column lost.
Each reward scores every summary; its scores are then correlated with each human column at
two levels, as in the summarisation-evaluation literature (e.g. Bhandari et al. 2020,
Deutsch et al. 2021):

- **system level**: average each system's scores over the documents, then correlate the
  per-system means of the reward with those of the humans (one value, across systems);
- **summary level**: for each document, correlate the reward with the humans across the
  systems that summarised it, then average over documents. A document on which the reward
  or the humans give every system the same score has no defined correlation and is skipped.

Kendall's tau is tau-b (ties corrected); Spearman's rho is Pearson on ranks (``scipy``).

Confidence intervals (95%, percentile bootstrap): documents are resampled with replacement
``bootstrap`` times with ``numpy.random.default_rng(seed)``; the same resamples serve every
reward and human column, so intervals are paired. At system level each resample recomputes
the per-system means from the resampled documents and correlates them (the systems stay
fixed: the interval reflects the choice of documents only). At summary level each resample
averages the per-document correlations of the resampled documents. (The percentile step
is :func:`textgym.stats.percentile_interval`; ``scipy.stats.bootstrap`` is not used because
one set of document resamples must serve every reward and column, to pair the intervals.)

With several references per summary, ``multi_reference`` ("max" or "mean") sets how the
ROUGE, BLEU and chrF rewards combine their scores against each (see
:mod:`textgym.rewards.multi_reference`); None keeps each reward's default.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from textgym.atomic import check_output_folder, write_atomic, write_text_atomic
from textgym.errors import ConfigError, DatasetError, did_you_mean
from textgym.stats.intervals import percentile_interval

KNOWN_FIELDS = ("id", "doc_id", "system", "source", "summary", "reference", "references")
LEVELS = ("system", "summary")
CSV_COLUMNS = (
    "reward",
    "human",
    "level",
    "kendall",
    "kendall_low",
    "kendall_high",
    "spearman",
    "spearman_low",
    "spearman_high",
    "n",
)


@dataclass
class Judgments:
    """Human-judged summaries arranged as documents x systems.

    ``sources``, ``summaries`` and ``references`` are one entry per line of the file (in file
    order); ``cell[i] = (document index, system index)`` says where line ``i`` sits in the
    ``(n_docs, n_systems)`` grid; ``human`` maps each human column to its per-line scores.
    """

    doc_ids: list[str]
    systems: list[str]
    cells: np.ndarray
    sources: list[str]
    summaries: list[str]
    references: list[list[str]]
    human: dict[str, np.ndarray]

    def grid(self, values: np.ndarray) -> np.ndarray:
        """Per-line ``values`` as a ``(n_docs, n_systems)`` matrix, NaN where no summary."""
        out = np.full((len(self.doc_ids), len(self.systems)), np.nan)
        out[self.cells[:, 0], self.cells[:, 1]] = values
        return out


@dataclass
class Correlation:
    """One reward against one human column at one level, with bootstrap 95% intervals.

    ``n`` counts systems (system level) or the documents with a defined correlation
    (summary level).
    """

    reward: str
    human: str
    level: str
    kendall: float
    kendall_low: float
    kendall_high: float
    spearman: float
    spearman_low: float
    spearman_high: float
    n: int


@dataclass
class ValidityResult:
    """Every correlation, plus what produced them and where the files went.

    ``skipped_scores`` maps each human column used to the number of lines left out of its
    correlations because their score there is not a number (columns with none are absent).
    """

    correlations: list[Correlation]
    rewards: list[str]
    human_columns: list[str]
    n_documents: int
    n_systems: int
    n_summaries: int
    bootstrap: int
    seed: int
    judgments: str = ""
    multi_reference: str | None = None
    skipped_scores: dict[str, int] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def get(self, reward: str, human: str, level: str) -> Correlation:
        """The correlation of ``reward`` with ``human`` at ``level``.

        Raises:
            ConfigError: no such combination in this result.
        """
        for c in self.correlations:
            if (c.reward, c.human, c.level) == (reward, human, level):
                return c
        raise ConfigError(
            f"No correlation for reward={reward!r}, human={human!r}, level={level!r}; "
            f"rewards: {self.rewards}, human columns: {self.human_columns}, levels: {LEVELS}."
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (NaN becomes null)."""
        return _nan_to_none(asdict(self))


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
        judgments: A JSONL path (see the module docstring) or loaded :class:`Judgments`.
        rewards: Reward specs for :func:`textgym.rewards.make_reward` (names such as
            ``"rouge1"``, ``"rm:FOLDER"``, or reward objects).
        human_columns: Human score columns to use; None: every numeric column that is not
            one of :data:`KNOWN_FIELDS`.
        bootstrap: Bootstrap resamples of the documents for the 95% intervals (0: none).
        seed: Seeds the bootstrap.
        batch_size: Summaries per reward call.
        out: If given, a folder to write ``validity.csv``, ``validity.json`` and
            ``validity_kendall_system.png`` into (see :func:`write_report`).
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

    if not rewards:
        raise ConfigError("Pass at least one reward, e.g. rewards=['rouge1', 'rougeL'].")
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, int) or bootstrap < 0:
        raise ConfigError(f"bootstrap={bootstrap!r} must be a non-negative integer, e.g. 1000.")
    if out is not None:
        check_output_folder(out, "--out")
    # unknown names and rules fail first
    reward_fns = [
        (spec, with_multi_reference(make_reward(spec), multi_reference)) for spec in rewards
    ]
    data = judgments if isinstance(judgments, Judgments) else load_judgments(judgments)
    columns = select_human_columns(data, human_columns)
    samples = _resamples(len(data.doc_ids), bootstrap, seed)
    correlations, names = [], []
    for spec, reward in reward_fns:
        names.append(str(getattr(reward, "name", spec)))
        metric = data.grid(score_summaries(reward, data, batch_size))
        for column in columns:
            human = data.grid(data.human[column])
            correlations += correlate(metric, human, samples, names[-1], column)
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


def load_judgments(path: str | os.PathLike[str]) -> Judgments:
    """Read a judgments JSONL file into :class:`Judgments`.

    Human columns are those (outside :data:`KNOWN_FIELDS`) with a number on at least one
    line; a line whose score there is not a finite number gets NaN in that column only,
    and a warning says how many lines each column lost.

    Raises:
        DatasetError: a missing, unreadable or empty file, a line that is not a JSON
            object, a missing field, a summary or source that is not a string (e.g. null),
            or the same (doc_id, system) twice.
    """
    rows = _read_jsonl(Path(path))
    numeric = _numeric_columns(rows)
    _warn_skipped(rows, numeric)
    doc_ids = list(dict.fromkeys(str(r["doc_id"]) for r in rows))
    systems = list(dict.fromkeys(str(r["system"]) for r in rows))
    doc_index = {d: i for i, d in enumerate(doc_ids)}
    sys_index = {s: i for i, s in enumerate(systems)}
    cells = np.array([(doc_index[str(r["doc_id"])], sys_index[str(r["system"])]) for r in rows])
    _check_unique(cells, rows, path)
    return Judgments(
        doc_ids=doc_ids,
        systems=systems,
        cells=cells.reshape(-1, 2),
        sources=[str(r["source"]) for r in rows],
        summaries=[str(r["summary"]) for r in rows],
        references=[_references(_reference_value(r)) for r in rows],
        human={c: np.array([_score(r.get(c)) for r in rows]) for c in numeric},
    )


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise DatasetError(f"Judgments file {str(path)!r} {what}; pass a JSONL file path.")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f"Judgments file {str(path)!r} is not UTF-8 text ({exc.reason}); save it as UTF-8 "
            "JSONL."
        ) from exc
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}:{number} is not valid JSON ({exc.msg}).") from exc
        _check_row(row, f"{path}:{number}")
        rows.append(row)
    if not rows:
        raise DatasetError(f"Judgments file {str(path)!r} is empty; write one JSON object a line.")
    return rows


def _check_row(row: Any, where: str) -> None:
    needed = ("doc_id", "system", "source", "summary")
    if not isinstance(row, dict):
        raise DatasetError(f"{where} is a {type(row).__name__}, not a JSON object.")
    missing = [name for name in needed if name not in row]
    if "reference" not in row and "references" not in row:
        missing.append("reference (or references)")
    if missing:
        raise DatasetError(
            f"{where} lacks the field(s) {', '.join(missing)} (it has {', '.join(row)}); every "
            f"line needs {', '.join(needed)}, reference or references, and numeric human "
            "score columns."
        )
    _check_types(row, where)


def _check_types(row: dict[str, Any], where: str) -> None:
    """Raise unless the known fields of ``row`` hold text (and ids) of the right type."""
    for name in ("source", "summary"):
        if not isinstance(row[name], str):
            raise DatasetError(
                f"{where}: {name} is {row[name]!r:.60}, not a string; give the {name} text "
                f"(an empty string for an empty {name}), or drop the line."
            )
    for name in ("doc_id", "system"):
        if isinstance(row[name], bool) or not isinstance(row[name], (str, int)):
            raise DatasetError(f"{where}: {name} is {row[name]!r:.60}; use a string or integer.")
    reference = _reference_value(row)
    if not isinstance(reference, str) and not (
        isinstance(reference, list) and reference and all(isinstance(r, str) for r in reference)
    ):
        field = "references" if "references" in row else "reference"
        raise DatasetError(
            f"{where}: {field} {reference!r:.60} must be a string or a non-empty list of "
            "strings (several references)."
        )


def _numeric_columns(rows: list[dict[str, Any]]) -> list[str]:
    """Columns (outside KNOWN_FIELDS) that hold a finite number, not a bool, on some line."""
    candidates = dict.fromkeys(k for r in rows for k in r if k not in KNOWN_FIELDS)
    return [c for c in candidates if any(_is_number(r.get(c)) for r in rows)]


def _score(value: Any) -> float:
    """A human score as a float; NaN (left out) if it is not a finite number."""
    return float(value) if _is_number(value) else math.nan


def _warn_skipped(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Warn, per human column, about the lines whose score is not a number there."""
    for column in columns:
        bad = [r for r in rows if not _is_number(r.get(column))]
        if bad:
            first = bad[0]
            value = repr(first[column])[:40] if column in first else "no value"
            warnings.warn(
                f"Human column {column!r}: {len(bad)} of {len(rows)} lines have no numeric "
                f"score (e.g. doc_id={first['doc_id']!r}, system={first['system']!r}: "
                f"{value}); they are left out of {column!r}'s correlations only (counted in "
                "skipped_scores).",
                stacklevel=3,
            )


def skipped_scores(data: Judgments, columns: Sequence[str]) -> dict[str, int]:
    """Lines per human column whose score is NaN there (left out of that column only)."""
    counts = {c: int(np.sum(~np.isfinite(data.human[c]))) for c in columns}
    return {c: n for c, n in counts.items() if n}


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _reference_value(row: dict[str, Any]) -> Any:
    """The line's ``references`` field if it has one, else its ``reference`` field."""
    return row["references"] if "references" in row else row["reference"]


def _references(value: str | list[str]) -> list[str]:
    """A checked reference (see :func:`_check_row`) as a list of strings."""
    return [value] if isinstance(value, str) else list(value)


def _check_unique(cells: np.ndarray, rows: list[dict[str, Any]], path: Any) -> None:
    _, first, counts = np.unique(cells, axis=0, return_index=True, return_counts=True)
    if np.any(counts > 1):
        row = rows[int(first[np.argmax(counts > 1)])]
        raise DatasetError(
            f"{path} has doc_id={row['doc_id']!r}, system={row['system']!r} more than once; "
            f"keep one line per (document, system), e.g. average the annotators first."
        )


def select_human_columns(data: Judgments, columns: Sequence[str] | None) -> list[str]:
    """``columns`` checked against ``data``, or every numeric human column if None.

    Raises:
        DatasetError: a requested column that is missing or has no numeric score on any
            line, or no numeric column at all.
    """
    available = list(data.human)
    if columns is None:
        if not available:
            raise DatasetError(
                "The judgments have no numeric human score column (besides "
                f"{', '.join(KNOWN_FIELDS)}); add one, e.g. 'relevance': 4.3."
            )
        return available
    for column in columns:
        if column not in data.human:
            raise DatasetError(
                f"Human column {column!r} is missing or has no numeric score on any line."
                f"{did_you_mean(column, available)} Numeric columns: {', '.join(available)}."
            )
    return list(columns)


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


def correlate(
    metric: np.ndarray,
    human: np.ndarray,
    samples: np.ndarray,
    reward: str = "reward",
    column: str = "human",
) -> list[Correlation]:
    """System- and summary-level correlations of two ``(n_docs, n_systems)`` grids.

    Args:
        metric: Reward scores, NaN where a document has no summary from a system.
        human: Human scores on the same grid.
        samples: ``(B, n_docs)`` document indices of the bootstrap resamples (B may be 0).
        reward: Name recorded in the result.
        column: Human column name recorded in the result.
    """
    system = system_level(metric, human)
    boot_system = np.array([system_level(metric[s], human[s]) for s in samples]).reshape(-1, 2)
    per_doc = summary_level_per_document(metric, human)  # (n_docs, 2)
    summary = _nanmean_or_nan(per_doc)
    boot_summary = np.array([_nanmean_or_nan(per_doc[s]) for s in samples]).reshape(-1, 2)
    n_docs = int(np.sum(~np.isnan(per_doc[:, 0])))
    n_systems = int(np.sum(_has_values(metric, human)))
    return [
        _correlation(reward, column, "system", system, boot_system, n_systems),
        _correlation(reward, column, "summary", summary, boot_summary, n_docs),
    ]


def system_level(metric: np.ndarray, human: np.ndarray) -> np.ndarray:
    """``[kendall, spearman]`` of the per-system means (over documents) of two grids."""
    keep = _has_values(metric, human)
    with np.errstate(invalid="ignore"):
        x = np.nanmean(metric[:, keep], axis=0) if keep.any() else np.array([])
        y = np.nanmean(human[:, keep], axis=0) if keep.any() else np.array([])
    return kendall_spearman(x, y)


def summary_level_per_document(metric: np.ndarray, human: np.ndarray) -> np.ndarray:
    """``(n_docs, 2)``: each document's [kendall, spearman] across its systems (NaN: undefined)."""
    return np.array([kendall_spearman(x, y) for x, y in zip(metric, human, strict=True)])


def kendall_spearman(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``[tau_b, rho]`` of the pairs where both are finite; NaN if fewer than 2 or constant."""
    from scipy import stats

    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return np.array([np.nan, np.nan])
    tau = stats.kendalltau(x, y, variant="b").statistic
    rho = stats.spearmanr(x, y).statistic
    return np.array([tau, rho], dtype=np.float64)


def _has_values(metric: np.ndarray, human: np.ndarray) -> np.ndarray:
    """Systems with at least one document scored by both."""
    return np.any(np.isfinite(metric) & np.isfinite(human), axis=0)


def _nanmean_or_nan(values: np.ndarray) -> np.ndarray:
    ok = ~np.isnan(values)
    count = ok.sum(axis=0)
    total = np.where(ok, values, 0.0).sum(axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _resamples(n_docs: int, bootstrap: int, seed: int) -> np.ndarray:
    """``(bootstrap, n_docs)`` document indices drawn with replacement."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_docs, size=(bootstrap, n_docs))


def _correlation(
    reward: str, column: str, level: str, point: np.ndarray, boot: np.ndarray, n: int
) -> Correlation:
    low, high = percentile_interval(boot)  # 95 %, NaN replicates ignored
    return Correlation(
        reward=reward,
        human=column,
        level=level,
        kendall=float(point[0]),
        kendall_low=float(low[0]),
        kendall_high=float(high[0]),
        spearman=float(point[1]),
        spearman_low=float(low[1]),
        spearman_high=float(high[1]),
        n=n,
    )


def write_report(result: ValidityResult, out: str | os.PathLike[str]) -> dict[str, str]:
    """Write ``validity.csv``, ``validity.json`` and a PNG heatmap into ``out``, atomically.

    Each file is complete or absent. Returns (and records in ``result.files``) their paths.
    """
    folder = Path(out)
    files = {
        "csv": str(folder / "validity.csv"),
        "json": str(folder / "validity.json"),
        "heatmap": str(folder / "validity_kendall_system.png"),
    }
    result.files.update(files)
    write_text_atomic(files["csv"], to_csv(result))
    write_text_atomic(files["json"], json.dumps(result.to_dict(), indent=2) + "\n")
    write_atomic(files["heatmap"], lambda tmp: plot_heatmap(result, tmp))
    return files


def to_csv(result: ValidityResult) -> str:
    """The correlations as CSV text, one row per reward x human column x level."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for c in result.correlations:
        writer.writerow({k: _csv_value(v) for k, v in asdict(c).items()})
    return buffer.getvalue()


def _csv_value(value: Any) -> Any:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6f}"
    return value


def plot_heatmap(
    result: ValidityResult, path: str | os.PathLike[str], level: str = "system"
) -> None:
    """Save a rewards x human columns heatmap of Kendall's tau at ``level`` as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tau = np.array(
        [[result.get(r, h, level).kendall for h in result.human_columns] for r in result.rewards]
    )
    width = 2.4 + 1.3 * len(result.human_columns)
    fig, ax = plt.subplots(figsize=(width, 1.0 + 0.45 * len(result.rewards)))
    image = ax.imshow(tau, cmap="RdBu", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(len(result.human_columns)), result.human_columns, rotation=30, ha="right")
    ax.set_yticks(range(len(result.rewards)), result.rewards)
    for (i, j), value in np.ndenumerate(tau):
        label = "n/a" if np.isnan(value) else f"{value:.2f}"
        color = "white" if abs(value) > 0.6 else "black"
        ax.text(j, i, label, ha="center", va="center", color=color, fontsize=9)
    name = Path(result.judgments).stem or "judgments"
    ax.set_title(f"{level}-level Kendall tau: {name}", fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.05)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=120)
    plt.close(fig)


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return value
