"""Partitions of DAF's assets: one per training run, per built-in mission, per benchmark suite.

The mission and suite names are written out, not read from ``daf_core.missions`` or
``daf_core.comparison``: those import mettagrid, and loading the definitions must not (a test checks
that these lists equal the catalog's).
"""

import dagster as dg

#: One partition per training run; the key is the DAF run name (its checkpoint directory's name).
TRAINING_RUNS = dg.DynamicPartitionsDefinition(name="training_runs")

#: DAF's built-in missions (``daf_core.missions.BUILTIN_MISSIONS``), in the catalog's order.
MISSIONS = dg.StaticPartitionsDefinition(["tiny_walk", "explore", "explore_large", "collect"])

#: DAF's benchmark suites (``daf_core.comparison.BENCHMARK_SUITES``).
BENCHMARK_SUITES = dg.StaticPartitionsDefinition(["quick", "standard"])
