"""Moved to :mod:`textgym.validity`; this module re-exports its public names.

Import from :mod:`textgym.validity` in new code. (Patching a name here does not reach the
package: e.g. patch ``textgym.validity.run.score_summaries``, where
:func:`~textgym.validity.validate_rewards` looks it up.)
"""

from textgym.validity import (
    CSV_COLUMNS,
    KNOWN_FIELDS,
    LEVELS,
    Correlation,
    Judgments,
    ValidityResult,
    correlate,
    document_resamples,
    kendall_spearman,
    load_judgments,
    plot_heatmap,
    score_summaries,
    select_human_columns,
    skipped_scores,
    summary_level_per_document,
    system_level,
    to_csv,
    validate_rewards,
    write_report,
)

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
