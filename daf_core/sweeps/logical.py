"""The sweep's logical trials: which of the study's Optuna trials count, and in which order they were drawn.

The Optuna study holds more trials than the sweep has. A trial whose worker died stays FAIL beside the
retry that replaces it (Optuna's retry callback numbers the retry anew), and a trial that another worker
beat to its slot, or to its parameters, is discarded (told FAIL and marked :data:`ATTR_DISCARDED`). The
sweep's own trials, those ``num_trials`` and ``results.json`` count, are the *logical* trials: every
attempt except those a retry replaced and those discarded.

The sampler draws the parameters of a trial from its *logical index*: how many trials before it drew
parameters and were kept. Retries reuse their first attempt's parameters and discarded trials are
drawn again, so neither moves the index: the n-th draw of a sweep is the same whether it ran
uninterrupted, was resumed after a kill, or shared its study with other workers.

Only trials' public fields are read here (``number``, ``state``, ``params``, ``user_attrs``,
``system_attrs``), so this module needs no Optuna import.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from daf_core.sweeps.results import TrialStateName

# User attributes DAF keeps on Optuna trials.
ATTR_WORKER = "daf_worker"
ATTR_HYPERPARAMETERS = "daf_hyperparameters"
ATTR_ERROR = "daf_error"
ATTR_METRICS = "daf_metrics"
ATTR_RUN_DIRS = "daf_run_dirs"
ATTR_DURATION = "daf_duration_s"
ATTR_DISCARDED = "daf_discarded"

# System attributes Optuna puts on the trials its retry callback and ``enqueue_trial`` create.
_RETRY_OF = "failed_trial"
_RETRY_HISTORY = "retry_history"
_ENQUEUED_PARAMS = "fixed_params"

_STATE_NAMES: dict[str, TrialStateName] = {
    "COMPLETE": "complete",
    "FAIL": "failed",
    "PRUNED": "pruned",
    "RUNNING": "running",
    "WAITING": "waiting",
}


def state_name(trial: Any) -> TrialStateName:
    """The trial's state as results.json names it."""
    return _STATE_NAMES[trial.state.name]


def is_discarded(trial: Any) -> bool:
    return bool(trial.user_attrs.get(ATTR_DISCARDED))


def reuses_parameters(trial: Any) -> bool:
    """A retry or an enqueued trial: its parameters were given to it, not drawn by the sampler."""
    return _RETRY_OF in trial.system_attrs or _ENQUEUED_PARAMS in trial.system_attrs


def retry_of(trial: Any) -> int | None:
    """The number of the first attempt this trial retries (None when it is not a retry)."""
    number = trial.system_attrs.get(_RETRY_OF)
    return None if number is None else int(number)


def first_attempt(trial: Any) -> int:
    """The number of the trial's first attempt: its own, or that of the trial it retries."""
    root = retry_of(trial)
    return trial.number if root is None else root


def logical_trials(trials: Sequence[Any]) -> list[Any]:
    """The trials the sweep counts: attempts a retry replaced and discarded trials left out."""
    replaced = {n for t in trials for n in t.system_attrs.get(_RETRY_HISTORY, [])}
    return [t for t in trials if t.number not in replaced and not is_discarded(t)]


def drawn_trials(trials: Iterable[Any]) -> list[Any]:
    """Trials whose parameters the sampler drew and that were kept, in the order they were created."""
    kept = [t for t in trials if not reuses_parameters(t) and not is_discarded(t)]
    return sorted(kept, key=lambda t: t.number)


def logical_index(trials: Iterable[Any], number: int) -> int:
    """How many kept draws came before trial ``number``: the position of its draw in the sweep."""
    return sum(t.number < number for t in drawn_trials(trials))


def parameter_key(params: Mapping[str, Any], names: Iterable[str]) -> str | None:
    """A comparable form of the values of ``names`` (None while some are not drawn yet)."""
    names = sorted(names)
    if any(name not in params for name in names):
        return None
    return json.dumps({name: params[name] for name in names})
