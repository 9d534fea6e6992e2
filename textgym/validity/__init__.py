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
