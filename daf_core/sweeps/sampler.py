"""The sweep's sampler: a fresh Optuna sampler for every trial, seeded from the trial's place in the sweep.

Workers sharing a study ask for trials at the same moment, and a sweep can be killed and resumed. A
sampler seeded once per process starts its sequence over after a restart, and one seeded from the
number of trials a worker saw before asking gives two workers asking together the same seed, hence the
same values. Optuna calls the sampler inside ``ask()`` with the trial the storage has already created
and numbered, so this sampler decides there: it reads the trial's logical index (how many kept draws
came before it, :func:`~daf_core.sweeps.logical.logical_index`), builds the strategy's sampler seeded
from ``(seed, index)`` and draws the whole parameter set at once:

* ``random``: Optuna's ``RandomSampler``. ``bayesian``: Optuna's ``TPESampler`` (random for its first
  ``n_startup_trials``, then fitted to the finished trials). Trials asked together have different
  indices, so different seeds; after a restart an index has the same seed and sees the same trials.
* ``grid``: the grid points in one order, shuffled with ``seed``; the trial of index i takes point i.
  Optuna's ``GridSampler`` is not used: it picks points by trial number, which retries and discarded
  trials move, or at random among unvisited points.
* A draw equal to the parameters of an earlier trial is drawn again, seeded ``(seed, index, attempt)``
  (for a grid: the next point); a small finite space that keeps repeating earlier trials gets one of
  its free points chosen with the ``(seed, index)`` seed. So every trial gets a parameter set of its
  own. Two workers drawing in the same instant cannot see each other's draw; the worker loop then
  discards the later trial of the pair (:func:`~daf_core.sweeps.study.discard_reason`) and asks again.

This module imports Optuna; the sweep study loads it only when it opens a study.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial

from daf_core.sweeps.logical import is_discarded, logical_index, parameter_key, reuses_parameters
from daf_core.sweeps.plan import SweepPlan

#: Draws tried for a parameter set no earlier trial has, in a space too large to list.
MAX_DRAWS = 100
#: Finite search spaces up to this many points are listed when draws keep repeating earlier trials...
MAX_ENUMERATED_POINTS = 100_000
#: ... after this many draws (a Bayesian sampler that favours a few points would repeat them for long).
MAX_DRAWS_BEFORE_LISTING = 10


def draw_seed(seed: int, index: int, attempt: int = 0) -> int:
    """The seed of a trial's draw: one stream per (sweep seed, logical index, attempt)."""
    entropy = [seed % 2**64, index] + ([attempt] if attempt else [])
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def grid_order(plan: SweepPlan) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The names a grid varies and its points in the order trials take them (shuffled with the seed)."""
    names = sorted(n for n, s in plan.specs.items() if s.kind == "choice" and len(s.choices) > 1)
    points = list(itertools.product(*(plan.specs[name].choices for name in names)))
    np.random.RandomState(plan.config.seed % 2**32).shuffle(points)  # type: ignore[arg-type]
    return names, points


class SweepSampler(optuna.samplers.BaseSampler):
    """Draws each trial's parameters from its logical index (see the module docstring)."""

    def __init__(self, plan: SweepPlan):
        self._plan = plan
        self._strategy = plan.config.strategy
        self._seed = plan.config.seed
        self._space = {n: d for n, d in plan.distributions().items() if not d.single()}
        self._startup_trials = max(1, min(5, plan.num_trials // 2))
        self._grid_names, self._grid = grid_order(plan) if self._strategy == "grid" else ([], [])

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        """Every swept parameter, drawn together; none for a retry (it keeps its first attempt's values)."""
        return {} if reuses_parameters(trial) else dict(self._space)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        trials = study.get_trials(deepcopy=False)
        index = logical_index(trials, trial.number)
        taken = {
            parameter_key(t.params, search_space)
            for t in trials
            if t.number < trial.number and not is_discarded(t)
        }
        size = self._plan.space_size(search_space)
        enumerable = size is not None and size <= MAX_ENUMERATED_POINTS
        if self._strategy == "grid":
            attempts = len(self._grid)
        else:
            attempts = MAX_DRAWS_BEFORE_LISTING if enumerable else MAX_DRAWS
        for attempt in range(attempts):
            params = self._draw(study, trial, search_space, index, attempt)
            if parameter_key(params, search_space) not in taken:
                return params
        if not enumerable:
            raise RuntimeError(
                f"trial {trial.number}: {attempts} draws all repeated the parameters of an earlier trial"
            )
        free = self._free_points(search_space, taken)
        if not free:  # every point is taken: this trial is over the budget and will be discarded
            return params
        return free[np.random.default_rng(draw_seed(self._seed, index)).integers(len(free))]

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        """A parameter outside the relative space (a retry whose first attempt died before drawing it)."""
        index = logical_index(study.get_trials(deepcopy=False), trial.number)
        return self._draw(study, trial, {param_name: param_distribution}, index, 0)[param_name]

    def _draw(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        search_space: Mapping[str, BaseDistribution],
        index: int,
        attempt: int,
    ) -> dict[str, Any]:
        if self._strategy == "grid":
            point = self._grid[(index + attempt) % len(self._grid)]
            return dict(zip(self._grid_names, point, strict=True))
        seed = draw_seed(self._seed, index, attempt)
        if self._strategy == "random":
            inner: optuna.samplers.BaseSampler = optuna.samplers.RandomSampler(seed=seed)
        else:
            inner = optuna.samplers.TPESampler(seed=seed, n_startup_trials=self._startup_trials)
        return {name: inner.sample_independent(study, trial, name, d) for name, d in search_space.items()}

    def _free_points(
        self, search_space: Mapping[str, BaseDistribution], taken: set[str | None]
    ) -> list[dict[str, Any]]:
        """Every parameter set of a finite space that no earlier trial has."""
        axes = self._plan.space_axes(search_space)
        points = (dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values()))
        return [point for point in points if parameter_key(point, search_space) not in taken]
