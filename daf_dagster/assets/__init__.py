"""Dagster assets, one module per domain. Each asset parses its config, calls ``daf_core`` and returns
metadata. Heavy imports (torch, cogames, mettagrid, ``daf_core.evaluation``) happen inside asset bodies,
never at import time. No ``from __future__ import annotations`` here: Dagster reads the config
annotations of asset functions at runtime, and string annotations break that."""
