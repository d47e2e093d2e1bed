"""Cross-play: policies scored with their agents mixed into teams, the way CoGames' tournament scores.

The face of issue 15's cross-play analysis. Running a study: :func:`daf_cross_play` (a round robin
over a pool: every pair in every split, and self-play) and :func:`daf_value_over_replacement` (cogames
pickup's value over replacement of one candidate). Both return a :class:`CrossPlayReport` (its
``to_dict()`` is the shape ``ComparisonReport.cross_play`` stores). The analysis is pure pandas/numpy/
scipy over ``evaluate_policies`` records, usable on any records with ``agent_policies``:

* :mod:`~daf_core.crossplay.splits` - ``"1v3"`` parsed, the tournament's defaults.
* :mod:`~daf_core.crossplay.lineups` - the lineups of a round robin and of VOR scenarios.
* :mod:`~daf_core.crossplay.episodes` - each policy's mean per-agent reward per episode.
* :mod:`~daf_core.crossplay.matrix` - the cross-play matrix, intervals over seeds.
* :mod:`~daf_core.crossplay.vor` - value over replacement with intervals paired by seed.
* :mod:`~daf_core.crossplay.ratings` - Bradley-Terry ratings and rank intervals by bootstrap.
* :mod:`~daf_core.crossplay.report`, :mod:`~daf_core.crossplay.printing` - the report, its files, its tables.
* :mod:`~daf_core.crossplay.runner` - the two ``daf_*`` functions.
"""

from daf_core.crossplay.episodes import policy_scores
from daf_core.crossplay.lineups import replacement_lineups, round_robin_lineups
from daf_core.crossplay.matrix import cross_play_matrix
from daf_core.crossplay.printing import print_cross_play
from daf_core.crossplay.ratings import bradley_terry_ratings, fit_bradley_terry
from daf_core.crossplay.report import CrossPlayReport
from daf_core.crossplay.runner import DEFAULT_REPLACEMENT, daf_cross_play, daf_value_over_replacement
from daf_core.crossplay.splits import Split, default_splits, parse_split, resolve_splits
from daf_core.crossplay.vor import paired_differences, value_over_replacement

__all__ = [
    "DEFAULT_REPLACEMENT",
    "CrossPlayReport",
    "Split",
    "bradley_terry_ratings",
    "cross_play_matrix",
    "daf_cross_play",
    "daf_value_over_replacement",
    "default_splits",
    "fit_bradley_terry",
    "paired_differences",
    "parse_split",
    "policy_scores",
    "print_cross_play",
    "replacement_lineups",
    "resolve_splits",
    "round_robin_lineups",
    "value_over_replacement",
]
