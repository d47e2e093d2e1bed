"""Search spaces: what a sweep varies, checked before anything runs, and grid or random draws from it.

A search space maps each parameter name to a list of choices, a range ``{low, high}`` (optionally
``log: true`` and ``int: true``) or a fixed value. :func:`parse_search_space` checks its structure and
returns one :class:`ParamSpec` per name (``DAFSweepConfig`` validates with it, and the Optuna study
samples from :meth:`ParamSpec.distribution`); :func:`daf_grid_search` and :func:`daf_random_search` turn
a search space into a plain list of parameter sets. Where each name goes is
:mod:`daf_core.sweeps.plan`'s job.
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from daf_core.config.limits import short_repr

if TYPE_CHECKING:
    import optuna

_RANGE_KEYS = ("low", "high", "log", "int")
_SCALAR_TYPES = (str, int, float, bool, type(None))
#: Integer-range bounds are drawn through floats and numpy's int64, exact only up to 2**53.
_MAX_INT_BOUND = 2**53


@dataclass(frozen=True)
class ParamSpec:
    """One search-space entry: a list of ``choices``, a ``range`` (low, high, log, int) or a fixed value."""

    name: str
    kind: Literal["choice", "range", "fixed"]
    choices: tuple[Any, ...] = ()
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    integer: bool = False
    value: Any = None

    def distribution(self) -> optuna.distributions.BaseDistribution:
        """The Optuna distribution this entry is sampled from (fixed values are not sampled)."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution  # noqa: PLC0415

        if self.kind == "choice":
            return CategoricalDistribution(list(self.choices))
        if self.kind == "range" and self.integer:
            return IntDistribution(int(self.low), int(self.high), log=self.log)  # type: ignore[arg-type]
        if self.kind == "range":
            return FloatDistribution(float(self.low), float(self.high), log=self.log)  # type: ignore[arg-type]
        raise ValueError(
            f"parameter {short_repr(self.name)} is fixed to {short_repr(self.value)}; it has no distribution"
        )


def parse_search_space(search_space: Mapping[str, Any]) -> dict[str, ParamSpec]:
    """Check a search space's structure and return its entries; ``ValueError`` names the bad parameter.

    A list is a set of choices (scalars, non-empty, no repeats); a mapping is a range ``{low, high}`` of
    numbers with ``low < high``, optional ``log: true`` (then ``low > 0``) and ``int: true`` (integer
    bounds); anything else that is a number, string, boolean or null is a fixed value.
    """
    if not isinstance(search_space, Mapping):
        raise ValueError(
            f"search_space: expected a mapping of parameter names to values, lists or ranges, "
            f"got {type(search_space).__name__}"
        )
    if not search_space:
        raise ValueError("search_space: empty; give at least one parameter to sweep")
    return {name: _parse_param(name, spec) for name, spec in search_space.items()}


def _parse_param(name: Any, spec: Any) -> ParamSpec:
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        raise ValueError(f"search_space: parameter names must be non-empty strings, got {short_repr(name)}")
    where = f"search_space: parameter {short_repr(name)}"
    if isinstance(spec, list | tuple):
        if not spec:
            raise ValueError(f"{where}: empty list of choices; give at least one value")
        seen: set[tuple[type, Any]] = set()
        for choice in spec:
            if not isinstance(choice, _SCALAR_TYPES):
                raise ValueError(
                    f"{where}: choice {short_repr(choice)} is a {type(choice).__name__}; choices must be "
                    "numbers, strings, booleans or null"
                )
            if isinstance(choice, float) and not math.isfinite(choice):
                raise ValueError(f"{where}: choice {choice!r} is not a finite number")
            # Keyed by type too: 1 and True (or 1 and 1.0) are different choices to a user.
            if (type(choice), choice) in seen:
                raise ValueError(f"{where}: choice {short_repr(choice)} is listed more than once")
            seen.add((type(choice), choice))
        return ParamSpec(name, "choice", choices=tuple(spec))
    if isinstance(spec, Mapping):
        return _parse_range(name, spec, where)
    if isinstance(spec, _SCALAR_TYPES):
        return ParamSpec(name, "fixed", value=spec)
    raise ValueError(
        f"{where}: {short_repr(spec)} ({type(spec).__name__}) is not a list of choices, "
        "a range {low, high} or a fixed value"
    )


def _bound_problem(value: Any) -> str | None:
    """Why ``value`` cannot bound a range (sampled as a float): not a number, inf/nan, or too large."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "is not a number"
    if isinstance(value, int) and abs(value) > sys.float_info.max:  # exact comparison, no OverflowError
        return "is too large to sample (beyond the float range)"
    if isinstance(value, float) and not math.isfinite(value):
        return "is not a finite number"
    return None


def _parse_range(name: str, spec: Mapping[str, Any], where: str) -> ParamSpec:
    unknown = [key for key in spec if key not in _RANGE_KEYS]
    if unknown or "low" not in spec or "high" not in spec:
        problem = f"unknown key(s) {short_repr(unknown)}" if unknown else "missing 'low' or 'high'"
        raise ValueError(
            f"{where}: {problem} in {short_repr(dict(spec))}; a range is {{low: L, high: H}} with optional "
            "log: true and int: true (use a list for choices)"
        )
    low, high = spec["low"], spec["high"]
    for bound, value in (("low", low), ("high", high)):
        problem = _bound_problem(value)
        if problem is not None:
            raise ValueError(f"{where}: range bound {bound}={short_repr(value)} {problem}")
    for flag in ("log", "int"):
        if not isinstance(spec.get(flag, False), bool):
            raise ValueError(f"{where}: {flag}={short_repr(spec[flag])} must be true or false")
    log, integer = bool(spec.get("log", False)), bool(spec.get("int", False))
    if not low < high:
        raise ValueError(f"{where}: range low={short_repr(low)} must be less than high={short_repr(high)}")
    if log and low <= 0:
        raise ValueError(f"{where}: a log range needs low > 0, got low={short_repr(low)}")
    if integer:
        if max(abs(low), abs(high)) > _MAX_INT_BOUND:
            raise ValueError(
                f"{where}: an int range needs bounds within +-2**53, got low={short_repr(low)}, "
                f"high={short_repr(high)}"
            )
        if float(low) != int(low) or float(high) != int(high):
            raise ValueError(
                f"{where}: an int range needs whole-number bounds, got low={low!r}, high={high!r}"
            )
        low, high = int(low), int(high)
    return ParamSpec(name, "range", low=low, high=high, log=log, integer=integer)


def daf_grid_search(search_space: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every combination of the choices (fixed values included), in the order the names are given.

    A grid needs values to enumerate: a range ``{low, high}`` is a ``ValueError`` asking for a list.
    """
    specs = parse_search_space(search_space)
    require_grid(specs)
    names = list(specs)
    axes = [spec.choices if spec.kind == "choice" else (spec.value,) for spec in specs.values()]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes)]


def require_grid(specs: Mapping[str, ParamSpec]) -> None:
    for spec in specs.values():
        if spec.kind == "range":
            example = [spec.low, spec.high]
            raise ValueError(
                f"search_space: parameter {short_repr(spec.name)} is a range "
                f"{{low: {spec.low}, high: {spec.high}}}, which a grid cannot enumerate; "
                f"give a list of values instead, e.g. {example}"
            )


def daf_random_search(
    search_space: Mapping[str, Any], num_samples: int, seed: int = 42
) -> list[dict[str, Any]]:
    """``num_samples`` independent draws, the same for the same seed.

    Choices are drawn uniformly, ranges uniformly or log-uniformly (``log: true``), ``int: true`` ranges
    as integers between the bounds inclusive; fixed values are copied into every sample.
    """
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples: must be a positive integer, got {num_samples!r}")
    specs = parse_search_space(search_space)
    rng = np.random.default_rng(seed)
    return [{name: _draw(spec, rng) for name, spec in specs.items()} for _ in range(num_samples)]


def _draw(spec: ParamSpec, rng: np.random.Generator) -> Any:
    if spec.kind == "fixed":
        return spec.value
    if spec.kind == "choice":
        return spec.choices[int(rng.integers(len(spec.choices)))]
    low, high = float(spec.low), float(spec.high)  # type: ignore[arg-type]
    if spec.integer:
        if (
            spec.log
        ):  # log-uniform over [low, high + 1), floored: each integer gets its share of the log scale
            value = math.floor(math.exp(rng.uniform(math.log(low), math.log(high + 1))))
        else:
            value = int(rng.integers(int(low), int(high) + 1))
        return int(min(max(value, int(low)), int(high)))
    if spec.log:
        return float(math.exp(rng.uniform(math.log(low), math.log(high))))
    return float(rng.uniform(low, high))
