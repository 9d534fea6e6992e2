"""How well do rewards agree with human judgments? Kendall and Spearman correlations.

Each reward scores every human-judged summary; its scores are correlated with each human
score column at system and summary level, with paired bootstrap intervals over documents.

With several references per summary, ``multi_reference`` ("max" or "mean") sets how the
ROUGE, BLEU and chrF rewards combine their scores against each (see
:mod:`textgym.rewards.multi_reference`); None keeps each reward's default.

Modules:

- :mod:`~textgym.validity.judgments`: the JSONL file, its checks, the documents x systems grid;
- :mod:`~textgym.validity.correlation`: the two levels, Kendall/Spearman, the resamples;
- :mod:`~textgym.validity.report`: :class:`ValidityResult` and its CSV, JSON and heatmap;
- :mod:`~textgym.validity.run`: :func:`validate_rewards`, which ties them together.
"""

from textgym.validity.correlation import (
    LEVELS,
    Correlation,
    correlate,
    document_resamples,
    kendall_spearman,
    summary_level_per_document,
    system_level,
)
from textgym.validity.judgments import (
    KNOWN_FIELDS,
    Judgments,
    load_judgments,
    select_human_columns,
    skipped_scores,
)
from textgym.validity.report import CSV_COLUMNS, ValidityResult, plot_heatmap, to_csv, write_report
from textgym.validity.run import score_summaries, validate_rewards

__all__ = [
    "CSV_COLUMNS",
    "KNOWN_FIELDS",
    "LEVELS",
    "Correlation",
    "Judgments",
    "ValidityResult",
    "correlate",
    "document_resamples",
    "kendall_spearman",
    "load_judgments",
    "plot_heatmap",
    "score_summaries",
    "select_human_columns",
    "skipped_scores",
    "summary_level_per_document",
    "system_level",
    "to_csv",
    "validate_rewards",
    "write_report",
]
