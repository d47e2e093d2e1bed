"""The promotion gate: deploy a candidate bundle only when it beats the served version on evidence.

:func:`promotion_decision` is a pure rule over per-episode benchmark records; :func:`daf_promote_policy`
fetches the version a policy server serves, benchmarks it against the candidate on the same seeds and
deploys the candidate only when the rule says so.

The rule. Both policies play every mission of a suite on the same seeds (episode k of every policy and
mission uses seed ``suite.seed + k``), so the episodes pair by ``(mission, seed)``. For each seed ``s``
let ``D_s`` be the mean over missions of ``candidate - incumbent`` reward (each mission weighs the same,
as in the comparison reports). The candidate is promoted iff

1. the one-sided ``1 - alpha`` lower confidence bound of ``mean(D)`` (Student's t over the seeds,
   ``scipy.stats.ttest_1samp(..., alternative="greater")``) is above zero, **and**
2. no mission shows a regression: per mission, the one-sided paired t test of "the candidate scores
   less" (``alternative="less"``) with Holm's correction over the suite's missions
   (:func:`daf_core.stats.holm_bonferroni`) rejects for none at ``alpha``.

Why this shape: seeds are the independent units (a seed fixes every mission's episode for both
policies), so averaging over missions first gives one paired difference per seed and one test with
its exact t interval - no multiplicity in the promotion itself. Rule 1 alone controls false promotion:
when the candidate is no better (``E[D] <= 0``) it promotes at most ``alpha`` of the time (exactly for
normal differences; tests/deployment/test_promotion.py measures it by simulation at 5, 10 and 20
episodes). Rule 2 can only veto, so it never adds false promotions; it stops a candidate that buys a
suite-wide gain with a clear loss on one mission. Holm keeps the chance of vetoing a candidate that
regresses nowhere at ``alpha`` or less over the whole suite.

Degenerate data: when every seed's difference is the same (deterministic policies on deterministic
missions) the t interval has zero width, so the bound is the point - a constant gain promotes, a
constant zero does not - and a mission whose differences are all the same negative number is a
regression (p 0), one whose are all equal and non-negative is not (p 1). Each such case says so in
its reasons. Numbers in the results are plain floats, never NaN or inf.

Sequential promotion (``stop_when="decided"``). The benchmark runs in rounds of ``round_episodes`` seeds
up to ``max_episodes`` and stops once the gate is decided, under the group-sequential design of
:mod:`daf_core.stats.sequential` (O'Brien-Fleming-type spending, repeated t intervals). Rule 1 becomes:
the repeated confidence interval (two-sided ``1 - 2 alpha``, so its lower end is a one-sided ``1 - alpha``
bound valid at every look) of the per-seed mean difference ``D`` lies above zero at some look. The
gate stops there, or when the interval lies below zero (the candidate is worse), or inside
``+-equivalence_margin`` (no gain worth a deployment), or at the last look. Rule 2 at the look that
promotes: a mission whose own repeated interval (Bonferroni over the missions) is first decided below
zero at a look so far vetoes. False promotion stays at most ``alpha`` however early the gate stops
(tests/deployment/test_promotion_sequential.py measures it). The fixed-n numbers (``lower_bound`` is
then the RCI's lower end, ``p_value`` and the mission rows the fixed-n tests of the seeds run) describe
the data; ``sequential`` holds the decision.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from daf_core._internal.atomic import atomic_write_json
from daf_core.deployment.client import PolicyServerClient, PolicyServerError
from daf_core.deployment.deploy import daf_deploy_policy
from daf_core.deployment.manifest import check_policy_name, verify_bundle

if TYPE_CHECKING:
    import pandas as pd

    from daf_core.comparison.benchmarks import BenchmarkSuite

logger = logging.getLogger(__name__)

#: The report names of the two policies a promotion benchmarks.
CANDIDATE, INCUMBENT = "candidate", "incumbent"
PromotionOutcome = Literal["deployed_first", "promoted", "refused", "already_active"]
_RECORD_COLUMNS = ("policy", "mission", "seed", "reward")
StopWhen = Literal["fixed", "decided"]
#: Differences closer together than this (relative to their size) count as constant: they are the same
#: number up to floating-point rounding of the rewards, and a t test on them means nothing.
_CONSTANT_RTOL = 1e-9


@dataclass(frozen=True)
class MissionComparison:
    """One mission of the suite: the paired differences ``candidate - incumbent`` over its seeds.

    ``ci_low``/``ci_high`` is the two-sided ``1 - 2 alpha`` t interval of the mean difference, so each
    end is a one-sided ``1 - alpha`` bound: ``ci_high < 0`` is exactly "the raw regression test rejects".
    ``p_regression`` is that one-sided test's p-value, ``p_regression_adjusted`` Holm's over the suite's
    missions, and ``regression`` whether the adjusted p-value is below alpha.
    """

    mission: str
    n: int
    candidate_mean: float
    incumbent_mean: float
    mean_diff: float
    ci_low: float
    ci_high: float
    p_regression: float
    p_regression_adjusted: float
    regression: bool


@dataclass(frozen=True)
class PromotionDecision:
    """What :func:`promotion_decision` found: promote or not, why, and every number behind it.

    ``mean_improvement`` is the mean over seeds of the per-seed mean over missions of the paired
    differences; ``lower_bound`` its one-sided ``1 - significance_level`` t bound and ``p_value`` the
    one-sided p-value of "no improvement" that the bound inverts. Under ``stop_when="decided"``,
    ``sequential`` holds the design and its decision (``decision``, ``look``, ``episodes``, the RCI,
    each mission's veto interval, and ``stop``: whether the benchmark may stop at these seeds);
    ``lower_bound`` is then the RCI's lower end (None while that interval is unbounded: every seed's
    difference the same, with too few seeds for the sign-flip rule) and ``promote`` is its decision.
    """

    promote: bool
    reasons: list[str]
    candidate: str
    incumbent: str
    significance_level: float
    n_seeds: int
    seeds: list[int]
    mean_improvement: float
    lower_bound: float | None
    p_value: float
    missions: list[MissionComparison]
    sequential: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe (plain floats, ints, strings and lists), as Dagster metadata and result files take it."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class PromotionResult:
    """What :func:`daf_promote_policy` did.

    ``decision``: ``deployed_first`` (nothing was served, so the candidate was deployed without a
    comparison), ``promoted`` (it beat the served version and now serves), ``refused`` (it did not;
    nothing was deployed and ``reasons`` says why) or ``already_active`` (the served version is these
    very bytes; nothing was benchmarked or deployed). ``comparison`` is the
    :class:`PromotionDecision` as a dict when a benchmark ran; ``report_dir`` holds that benchmark's
    report and per-episode records when an ``output_dir`` was given. ``previous_version`` is what the
    server served before a deployment, as its activation answered.
    """

    decision: PromotionOutcome
    promoted: bool
    reasons: list[str]
    policy_name: str
    candidate_version: str
    candidate_sha256: str
    incumbent_version: str | None
    deployed_version: str | None
    previous_version: str | None
    comparison: dict[str, Any] | None = None
    report_dir: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["report_dir"] = None if self.report_dir is None else str(self.report_dir)
        return data


# -- the rule -----------------------------------------------------------------------------------------


def promotion_decision(
    records: pd.DataFrame,
    candidate: str,
    incumbent: str,
    *,
    significance_level: float = 0.05,
    stop_when: StopWhen = "fixed",
    max_episodes: int | None = None,
    round_episodes: int = 5,
    equivalence_margin: float | None = None,
) -> PromotionDecision:
    """Apply the promotion rule (module docstring) to per-episode ``records`` of both policies.

    ``records`` needs the columns ``policy``, ``mission``, ``seed`` and ``reward`` (a benchmark report's
    ``records``); other policies in it are ignored. Every mission must have both policies on the same
    seeds, every mission the same seeds, at least 2 of them, one episode per policy, mission and seed.
    ValueError naming the field and the value otherwise.

    ``stop_when="decided"``: the sequential rule over the looks ``round_episodes, 2 round_episodes, ...,
    max_episodes`` (required: the design's last look) that these seeds reach, in seed order.
    """
    alpha = _check_alpha(significance_level)
    settings = _check_stopping(stop_when, max_episodes, round_episodes, equivalence_margin, max_episodes)
    diffs, missions, seeds, means = _paired_differences(records, candidate, incumbent)
    scipy_stats = _scipy_stats()
    reasons: list[str] = []
    notes: list[str] = []  # how degenerate data was handled; after the reasons that decide

    per_seed = diffs.mean(axis=1)
    mean_improvement = float(per_seed.mean())
    if _is_constant(per_seed):
        lower_bound, p_value = mean_improvement, 0.0 if mean_improvement > 0 else 1.0
        notes.append(
            f"every seed's mean difference over missions is {mean_improvement:+.4g}: the interval has "
            "no width, so the bound is the point"
        )
    else:
        test = scipy_stats.ttest_1samp(per_seed, 0.0, alternative="greater")
        lower_bound = float(test.confidence_interval(confidence_level=1 - alpha).low)
        p_value = float(test.pvalue)
    improved = lower_bound > 0

    rows = _mission_rows(diffs, missions, means, alpha, scipy_stats, notes)
    regressed = [row for row in rows if row.regression]
    level = _percent(1 - alpha)
    shape = f"{len(seeds)} seeds x {len(missions)} mission(s)"
    if improved:
        reasons.append(
            f"suite mean paired improvement {mean_improvement:+.4g}, one-sided {level} lower bound "
            f"{lower_bound:+.4g} > 0 ({shape}, p = {p_value:.3g})"
        )
    else:
        reasons.append(
            f"no established improvement: suite mean paired improvement {mean_improvement:+.4g}, "
            f"one-sided {level} lower bound {lower_bound:+.4g} <= 0 ({shape}, p = {p_value:.3g})"
        )
    sequential = None
    if settings is not None:
        sequential, lower_bound, reasons = _sequential_rule(per_seed, diffs, missions, settings, alpha)
        promote = sequential["promote"]
    else:
        for row in regressed:
            reasons.append(
                f"mission {row.mission!r} regressed: {row.candidate_mean:.4g} vs {row.incumbent_mean:.4g} "
                f"(mean difference {row.mean_diff:+.4g}, Holm-adjusted one-sided p = "
                f"{row.p_regression_adjusted:.3g} < {alpha:g})"
            )
        if not regressed:
            reasons.append(
                f"no mission regressed (one-sided paired t, Holm over {len(missions)}, alpha {alpha:g})"
            )
        promote = improved and not regressed
    return PromotionDecision(
        promote=promote,
        reasons=reasons + notes,
        candidate=candidate,
        incumbent=incumbent,
        significance_level=alpha,
        n_seeds=len(seeds),
        seeds=seeds,
        mean_improvement=mean_improvement,
        lower_bound=lower_bound,
        p_value=p_value,
        missions=rows,
        sequential=sequential,
    )


def _check_stopping(
    stop_when: Any, max_episodes: Any, round_episodes: Any, margin: Any, default_max: Any
) -> Any:
    """The sequential settings (None for ``"fixed"``), checked as the comparisons check them."""
    if stop_when == "fixed" and max_episodes is None and round_episodes == 5 and margin is None:
        return None  # today's call: nothing to check, and the comparison package stays unloaded
    from daf_core.comparison.sequential import check_stopping  # noqa: PLC0415 - pandas (see _scipy_stats)

    if stop_when == "decided" and default_max is None:
        raise ValueError(
            "max_episodes: stop_when='decided' needs the design's last look (the most seeds the "
            "benchmark may run), got None"
        )
    return check_stopping(stop_when, max_episodes, round_episodes, margin, default_max)


def _sequential_rule(
    per_seed: np.ndarray, diffs: np.ndarray, missions: list[str], settings: Any, alpha: float
) -> tuple[dict[str, Any], float | None, list[str]]:
    """Rule 1 and the veto under the group-sequential design (module docstring): the decision as a dict,
    the RCI's lower end, and the reasons."""
    from daf_core import stats  # noqa: PLC0415 - loads scipy (see _scipy_stats)

    design = stats.group_sequential_design(settings.looks, alpha=2 * alpha)
    if per_seed.size > design.max_episodes:
        raise ValueError(
            f"records: {per_seed.size} seeds, more than max_episodes ({design.max_episodes}), the "
            "design's last look"
        )
    gate = stats.sequential_decision(per_seed, design, settings.equivalence_margin)
    veto_design = stats.group_sequential_design(settings.looks, alpha=2 * alpha / len(missions))
    vetoes = [
        {"mission": mission, **stats.sequential_decision(diffs[: gate.episodes, j], veto_design).to_dict()}
        for j, mission in enumerate(missions)
    ]
    regressed = [v for v in vetoes if v["decision"] == "worse"]
    promote = gate.decision == "better" and not regressed
    level = _percent(1 - alpha)
    where = f"{gate.episodes} seeds x {len(missions)} mission(s), look {gate.looks} of {len(design.looks)}"
    low = "unbounded" if gate.rci_low is None else f"{gate.rci_low:+.4g}"
    reasons = [
        f"sequential gate: {gate.decision}; suite mean paired improvement {gate.mean_diff:+.4g}, "
        f"repeated one-sided {level} lower bound {low} ({where})"
    ]
    if gate.decision == "pending":
        reasons.append(f"not decided yet: the next look is at {design.looks[gate.looks]} seeds")
    if gate.decision == "undecided":
        reasons.append("no established improvement by the last planned look")
    for veto in regressed:
        reasons.append(
            f"mission {veto['mission']!r} regressed: repeated interval [{veto['rci_low']:+.4g}, "
            f"{veto['rci_high']:+.4g}] below zero (Bonferroni over {len(missions)} missions)"
        )
    if gate.decision == "better" and not regressed:
        reasons.append(f"no mission regressed (repeated intervals, Bonferroni over {len(missions)})")
    decision = {
        "design": design.to_dict(),
        "equivalence_margin": settings.equivalence_margin,
        **gate.to_dict(),
        "missions": vetoes,
        "promote": promote,
        "stop": gate.decision != "pending",
    }
    return decision, gate.rci_low, reasons + ([gate.note] if gate.note else [])


def _check_alpha(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < float(value) < 0.5:
        raise ValueError(f"significance_level: expected a number in (0, 0.5), got {value!r}")
    return float(value)


def _scipy_stats() -> Any:
    """scipy.stats, imported on first use: it takes 1-2 s, and the deployment face (imported by every
    server start and Dagster code location) stays light, as :mod:`~daf_core.deployment.monitor` does."""
    import scipy.stats  # noqa: PLC0415

    return scipy.stats


def _is_constant(values: np.ndarray) -> bool:
    scale = max(1.0, float(np.max(np.abs(values))))
    return float(np.ptp(values)) <= _CONSTANT_RTOL * scale


def _percent(level: float) -> str:
    return f"{100 * level:.4g}%"


def _paired_differences(
    records: pd.DataFrame, candidate: str, incumbent: str
) -> tuple[np.ndarray, list[str], list[int], dict[str, tuple[float, float]]]:
    """``diffs[seed, mission]`` = candidate - incumbent, the missions (in order of appearance) and
    seeds (ascending), and each mission's two means; ValueError for anything that does not pair.

    The records go into a ``(policy, mission, seed)`` grid of rewards with numpy (a benchmark has a
    few hundred rows; the simulations of the rule's level call this thousands of times).
    """
    missing = [column for column in _RECORD_COLUMNS if column not in getattr(records, "columns", ())]
    if missing:
        raise ValueError(f"records: missing column(s) {missing}; need {list(_RECORD_COLUMNS)}")
    if candidate == incumbent:
        raise ValueError(f"candidate/incumbent: must be two policies, got {candidate!r} twice")
    present = list(dict.fromkeys(records["policy"]))
    for role, name in (("candidate", candidate), ("incumbent", incumbent)):
        if name not in present:
            raise ValueError(f"{role}: no records of policy {name!r}; records have {present}")
    rows = records.loc[records["policy"].isin([candidate, incumbent])]
    rewards = rows["reward"].to_numpy(dtype=float)
    if not np.all(np.isfinite(rewards)):
        raise ValueError(f"records: {int(np.sum(~np.isfinite(rewards)))} reward(s) are missing or not finite")
    roles = (rows["policy"].to_numpy() == incumbent).astype(int)  # 0: candidate, 1: incumbent
    mission_codes, missions = rows["mission"].factorize()
    seed_codes, seed_index = rows["seed"].factorize(sort=True)
    seeds = np.asarray(seed_index.tolist())  # plain values, so errors print 3, not np.int64(3)
    names = (candidate, incumbent)
    counts = np.zeros((2, len(missions), len(seeds)), dtype=int)
    np.add.at(counts, (roles, mission_codes, seed_codes), 1)
    if np.any(counts > 1):
        role, m, s = (int(i[0]) for i in np.nonzero(counts > 1))
        raise ValueError(
            f"records: policy {names[role]!r} has {counts[role, m, s]} episodes on mission "
            f"{missions[m]!r} with seed {seeds[s].item()!r}; pairing needs one"
        )
    one_sided = counts.sum(axis=0) == 1
    if np.any(one_sided):
        m, s = (int(i[0]) for i in np.nonzero(one_sided))
        lacking = names[int(counts[0, m, s])]  # the candidate played it (count 1): the incumbent lacks it
        raise ValueError(
            f"records: unpaired seeds: {lacking!r} has no episode on mission {missions[m]!r} with seed "
            f"{seeds[s].item()!r} ({int(one_sided.sum())} unpaired (mission, seed) pair(s)); both "
            "policies must play the same seeds"
        )
    played = counts[0] == 1
    for m in range(1, len(missions)):
        if not np.array_equal(played[m], played[0]):
            raise ValueError(
                f"records: mission {missions[m]!r} has seeds {seeds[played[m]].tolist()}, mission "
                f"{missions[0]!r} {seeds[played[0]].tolist()}; the suite's missions must share their "
                "seeds to average over them per seed"
            )
    if len(seeds) < 2:
        raise ValueError(
            f"records: n = {len(seeds)} paired seed(s) per mission; the t bound needs at least 2"
        )
    grid = np.empty((2, len(missions), len(seeds)))
    grid[roles, mission_codes, seed_codes] = rewards
    means = {str(m): (float(grid[0, j].mean()), float(grid[1, j].mean())) for j, m in enumerate(missions)}
    return (grid[0] - grid[1]).T, [str(m) for m in missions], [int(s) for s in seeds], means


def _mission_rows(
    diffs: np.ndarray,
    missions: list[str],
    means: dict[str, tuple[float, float]],
    alpha: float,
    scipy_stats: Any,
    notes: list[str],
) -> list[MissionComparison]:
    """Each mission's one-sided regression test, Holm-corrected over the missions.

    The missions whose differences vary go through scipy in one vectorised call per test; the constant
    ones get the rule of the module docstring (scipy's t is undefined there).
    """
    from daf_core.stats import holm_bonferroni  # noqa: PLC0415 - loads scipy (see _scipy_stats)

    mean = diffs.mean(axis=0)
    low, high = mean.copy(), mean.copy()
    p = np.where(mean < 0, 0.0, 1.0)
    constant = np.array([_is_constant(diffs[:, j]) for j in range(len(missions))])
    varying = diffs[:, ~constant]
    if varying.shape[1]:
        p[~constant] = scipy_stats.ttest_1samp(varying, 0.0, axis=0, alternative="less").pvalue
        interval = scipy_stats.ttest_1samp(varying, 0.0, axis=0).confidence_interval(1 - 2 * alpha)
        low[~constant], high[~constant] = interval.low, interval.high
    for j in np.nonzero(constant)[0]:
        notes.append(
            f"mission {missions[j]!r}: every seed's difference is {mean[j]:+.4g} (p = {p[j]:g} by rule)"
        )
    adjusted, reject = holm_bonferroni(p.tolist(), alpha=alpha)
    return [
        MissionComparison(
            mission=mission,
            n=int(diffs.shape[0]),
            candidate_mean=means[mission][0],
            incumbent_mean=means[mission][1],
            mean_diff=float(mean[j]),
            ci_low=float(low[j]),
            ci_high=float(high[j]),
            p_regression=float(p[j]),
            p_regression_adjusted=float(adjusted[j]),
            regression=bool(reject[j]),
        )
        for j, mission in enumerate(missions)
    ]


# -- the gate against a server ------------------------------------------------------------------------


def daf_promote_policy(
    candidate_bundle: str | Path,
    policy_name: str,
    endpoint: str,
    token: str | None = None,
    *,
    benchmark: str | BenchmarkSuite = "quick",
    episodes_per_mission: int | None = None,
    significance_level: float = 0.05,
    max_parallel_jobs: int = 1,
    output_dir: str | Path | None = None,
    version: str | None = None,
    reason: str = "",
    stop_when: StopWhen = "fixed",
    max_episodes: int | None = None,
    round_episodes: int = 5,
    equivalence_margin: float | None = None,
) -> PromotionResult:
    """Deploy ``candidate_bundle`` as ``policy_name`` at ``endpoint`` only if it beats the served version.

    Nothing served: the candidate is deployed (``deployed_first``). The served version is these very
    bytes: nothing happens (``already_active``). Otherwise the served bundle is downloaded (its
    SHA-256 checked), both play ``benchmark`` (a suite name such as ``quick``/``standard`` or a
    :class:`~daf_core.comparison.BenchmarkSuite`; ``episodes_per_mission`` overrides its count) on the
    same seeds, :func:`promotion_decision` judges at ``significance_level``, and only a ``promoted``
    candidate is uploaded and activated (:func:`~daf_core.deployment.daf_deploy_policy`).

    ``version`` names the candidate on the server (default: its manifest's). A version of that name
    already on the server with other bytes is a ValueError naming it, found before anything is
    benchmarked; one with these bytes is activated instead of uploaded again. ``token`` needs the
    ``admin`` scope. With ``output_dir``: ``incumbent/`` (the downloaded bundle), ``benchmark/`` (the
    report and per-episode records) and ``promotion.json`` (the result). A failed upload or activation,
    or a served version that changed while the benchmark ran, raises RuntimeError: nothing is reported
    as deployed that the server did not confirm.

    ``stop_when="decided"`` benchmarks in rounds of ``round_episodes`` seeds, at most ``max_episodes``
    (default: the suite's episode count, or ``episodes_per_mission``), and stops once the sequential
    rule (module docstring) is decided; episodes of earlier rounds are reused, not rerun.
    """
    candidate = Path(candidate_bundle)
    if not candidate.is_file():
        raise FileNotFoundError(f"candidate_bundle: no bundle at {candidate}")
    check_policy_name(policy_name)
    alpha = _check_alpha(significance_level)
    settings = _promotion_stopping(
        stop_when, max_episodes, round_episodes, equivalence_margin, benchmark, episodes_per_mission
    )
    manifest = verify_bundle(candidate)
    candidate_version = version or manifest.version
    sha256 = hashlib.sha256(candidate.read_bytes()).hexdigest()
    out = None if output_dir is None else Path(output_dir)
    common = {"policy_name": policy_name, "candidate_version": candidate_version, "candidate_sha256": sha256}

    with PolicyServerClient(endpoint, token) as client:
        active, versions = _served(client, policy_name)
        existing = versions.get(candidate_version)
        if existing is not None and existing["sha256"] != sha256:
            raise ValueError(
                f"version: {policy_name} {candidate_version} is already on the server with other bytes "
                f"(sha256 {existing['sha256']}, this bundle {sha256}); give the candidate a new version"
            )
        if existing is not None and existing["state"] != "ready":
            raise ValueError(
                f"version: the server rejected {policy_name} {candidate_version} (these very bytes) on "
                f"upload: {existing.get('validation', {}).get('reasons')}"
            )
        if active is not None and versions[active]["sha256"] == sha256:
            result = PromotionResult(
                decision="already_active",
                promoted=False,
                reasons=[f"{policy_name} {active} is these very bytes (sha256 {sha256[:12]}); nothing to do"],
                incumbent_version=active,
                deployed_version=None,
                previous_version=None,
                **common,
            )
            return _finish(result, out)
        if active is None:
            deployed, previous = _deploy(
                client, candidate, policy_name, endpoint, token, common, existing, reason
            )
            result = PromotionResult(
                decision="deployed_first",
                promoted=True,
                reasons=[f"{policy_name} had no active version: {deployed} deployed without a comparison"],
                incumbent_version=None,
                deployed_version=deployed,
                previous_version=previous,
                **common,
            )
            return _finish(result, out)

        # The served bundle is kept under output_dir when there is one, else only while it plays.
        holder: contextlib.AbstractContextManager[str] = (
            tempfile.TemporaryDirectory(prefix="daf-promotion-")
            if out is None
            else contextlib.nullcontext(str(out / "incumbent"))
        )
        report_dir = out / "benchmark" if out is not None else None
        with holder as incumbent_dir:
            incumbent = client.download_bundle(policy_name, active, incumbent_dir)
            decision = _benchmark(
                candidate,
                incumbent,
                benchmark,
                episodes_per_mission,
                alpha,
                max_parallel_jobs,
                report_dir,
                settings,
            )
        served_now, _ = _served(client, policy_name)
        if served_now != active:
            raise RuntimeError(
                f"{policy_name}: the server switched from {active} to {served_now} while the candidate was "
                f"benchmarked against {active}; nothing was deployed - run the promotion again"
            )
        benchmarked = {
            "comparison": decision.to_dict(),
            "report_dir": report_dir,
            "incumbent_version": active,
            "reasons": [
                f"{policy_name} {candidate_version} against the served {active}: "
                f"{decision.n_seeds} seeds on {len(decision.missions)} mission(s)",
                *decision.reasons,
            ],
        }
        if not decision.promote:
            result = PromotionResult(
                decision="refused",
                promoted=False,
                deployed_version=None,
                previous_version=None,
                **benchmarked,
                **common,
            )
            return _finish(result, out)
        deployed, previous = _deploy(
            client,
            candidate,
            policy_name,
            endpoint,
            token,
            common,
            existing,
            reason or f"promoted over {active}",
        )
    result = PromotionResult(
        decision="promoted",
        promoted=True,
        deployed_version=deployed,
        previous_version=previous,
        **benchmarked,
        **common,
    )
    return _finish(result, out)


def _served(client: PolicyServerClient, policy_name: str) -> tuple[str | None, dict[str, dict[str, Any]]]:
    """The active version (None when nothing is served) and every version's record, by version."""
    if policy_name not in client.health().get("policies", {}):
        return None, {}
    policy = client.get_policy(policy_name)
    return policy["active_version"], {record["version"]: record for record in policy["versions"]}


def _promotion_stopping(
    stop_when: Any,
    max_episodes: Any,
    round_episodes: Any,
    margin: Any,
    benchmark: str | BenchmarkSuite,
    episodes_per_mission: int | None,
) -> Any:
    """The sequential settings of a promotion (None for ``"fixed"``), checked before the server is asked
    anything; ``max_episodes`` defaults to the suite's episode count (or ``episodes_per_mission``)."""
    if stop_when != "decided":
        return _check_stopping(stop_when, max_episodes, round_episodes, margin, None)
    from daf_core.comparison import get_benchmark_suite  # noqa: PLC0415 - pandas and the catalog

    default = episodes_per_mission or get_benchmark_suite(benchmark).episodes_per_mission
    return _check_stopping(stop_when, max_episodes, round_episodes, margin, default)


def _benchmark(
    candidate: Path,
    incumbent: Path,
    benchmark: str | BenchmarkSuite,
    episodes_per_mission: int | None,
    alpha: float,
    max_parallel_jobs: int,
    report_dir: Path | None,
    settings: Any = None,
) -> PromotionDecision:
    """Both bundles on the suite in one run (so on the same seeds), and the rule over its records.

    Sequentially: one benchmark per look with the cumulative seed count and the same report directory
    (a temporary one without ``report_dir``), so each round runs only its new seeds.
    """
    from daf_core.comparison import daf_benchmark_suite  # noqa: PLC0415 - pandas and the evaluator

    def run(episodes: int | None, output_dir: Path | None) -> Any:
        return daf_benchmark_suite(
            {CANDIDATE: str(candidate), INCUMBENT: str(incumbent)},
            benchmark,
            episodes_per_mission=episodes,
            max_parallel_jobs=max_parallel_jobs,
            significance_level=alpha,
            output_dir=output_dir,
            show_progress=False,
        )

    if settings is None:
        report = run(episodes_per_mission, report_dir)
        return promotion_decision(report.records, CANDIDATE, INCUMBENT, significance_level=alpha)
    holder: contextlib.AbstractContextManager[str | Path] = (
        tempfile.TemporaryDirectory(prefix="daf-promotion-rounds-")
        if report_dir is None
        else contextlib.nullcontext(report_dir)
    )
    with holder as work_dir:
        for episodes in settings.looks:
            report = run(episodes, Path(work_dir))
            decision = promotion_decision(
                report.records,
                CANDIDATE,
                INCUMBENT,
                significance_level=alpha,
                stop_when="decided",
                max_episodes=settings.max_episodes,
                round_episodes=settings.round_episodes,
                equivalence_margin=settings.equivalence_margin,
            )
            logger.info("Promotion look at %d seeds: %s", episodes, decision.reasons[0])
            if decision.sequential["stop"]:
                break
    return decision


def _deploy(
    client: PolicyServerClient,
    candidate: Path,
    policy_name: str,
    endpoint: str,
    token: str | None,
    common: dict[str, Any],
    existing: dict[str, Any] | None,
    reason: str,
) -> tuple[str, str | None]:
    """Serve the candidate: upload and activate it, or only activate the version that already holds
    these bytes. ``(deployed version, previous version)``; RuntimeError with the server's reason."""
    version = common["candidate_version"]
    if existing is not None:
        try:
            answer = client.activate(policy_name, version, reason)
        except PolicyServerError as err:
            raise RuntimeError(f"activating {policy_name} {version} failed: {err}") from err
        return answer["active_version"], answer["previous_version"]
    deployed = daf_deploy_policy(policy_name, candidate, endpoint, token, version=version, reason=reason)
    if not deployed.ok:
        raise RuntimeError(
            f"deploying {policy_name} {version} failed ({deployed.status}): {deployed.message}"
        )
    return deployed.version, deployed.details["activation"]["previous_version"]


def _finish(result: PromotionResult, out: Path | None) -> PromotionResult:
    if out is not None:
        atomic_write_json(out / "promotion.json", result.to_dict())
    logger.info(
        "Promotion of %s %s: %s", result.policy_name, result.candidate_version, "; ".join(result.reasons)
    )
    return result


__all__ = [
    "CANDIDATE",
    "INCUMBENT",
    "MissionComparison",
    "PromotionDecision",
    "PromotionOutcome",
    "PromotionResult",
    "daf_promote_policy",
    "promotion_decision",
]
