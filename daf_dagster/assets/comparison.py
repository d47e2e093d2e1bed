"""Comparisons as assets: per-mission episodes, combined by a report asset (and the factories behind them).

``comparison_episodes`` runs the config's policies on its partitions' missions (one partition per
built-in mission) on common random numbers and stores the per-episode records through the Parquet IO
manager, so Dagster's executors can spread missions over processes here and over machines with the
docker/k8s executors; a range run or a single-run backfill evaluates all its missions in one step,
which spreads the episodes over ``max_parallel_jobs`` worker processes instead.
``comparison_report`` takes every partition's records as one DataFrame, refuses records that do not
answer one design (the same policies, episode counts, seeds and policy weights on every mission: a
partition materialized with another config would silently mix two experiments), and builds the
:class:`~daf_core.comparison.ComparisonReport`: ``report.json`` with the records beside it,
``report.html``, ``leaderboard.md`` and the figures under ``<output root>/comparisons/<name>/``. Its
checks (sample sizes, finite intervals) read the report as it was materialized.

:func:`episodes_asset` and :func:`report_asset` build both kinds of asset; the quickstart reuses them.
"""

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import dagster as dg
from pydantic import Field

from daf_dagster.config_defaults import with_defaults
from daf_dagster.io_managers import PARTITION_COLUMN
from daf_dagster.metadata import png_markdown, provenance
from daf_dagster.partitions import MISSIONS
from daf_dagster.resources import DAFResource

if TYPE_CHECKING:
    import pandas as pd

    from daf_core.comparison import ComparisonReport


#: Bumped whenever these assets' logic changes (Dagster then marks their materializations stale).
CODE_VERSION = "1"
GROUP = "comparison"
#: The figure whose PNG the report's metadata embeds (every figure is saved beside the report).
KEY_FIGURE = "mission_means"
#: Columns the episodes asset adds to the evaluator's records: what each row's policy and mission were,
#: so a report combining partitions can tell whether they ran the same policies.
POLICY_COLUMNS = ("policy_class_path", "policy_data_path", "policy_init_kwargs", "policy_fingerprint")
MISSION_FINGERPRINT = "mission_fingerprint"
#: Float metadata ``<key>/<policy>`` -> the report's overall statistic it holds (across missions).
OVERALL_SCORES = {
    "mean_reward": "mean",
    "mean_reward_ci_low": "mean_ci_low",
    "mean_reward_ci_high": "mean_ci_high",
    "iqm_reward": "iqm",
    "iqm_reward_ci_low": "iqm_ci_low",
    "iqm_reward_ci_high": "iqm_ci_high",
}


# --------------------------------------------------------------------------------------------------
# Configs
# --------------------------------------------------------------------------------------------------


class ComparisonEpisodesConfig(dg.Config):
    """Which policies to run, on which missions (unpartitioned assets only), how many episodes, which seed."""

    policies: list[str] = Field(
        default=["random", "noop"],
        description="Policy refs: shorthands (random, noop, lstm), class paths, checkpoint directories, "
        "bundles, or training_run:<name> for a training run under the checkpoint root.",
    )
    policy_names: dict[str, str] = Field(
        default={},
        description="Names to show for some policy refs, e.g. {lstm: lstm_untrained}; the others keep "
        "their own names (a shorthand, a class's name, a checkpoint's folder).",
    )
    missions: list[str] | None = Field(
        default=None,
        description="Missions (catalog names or mission files) of an unpartitioned episodes asset. A "
        "mission-partitioned asset evaluates its partitions' missions and refuses this field.",
    )
    episodes_per_mission: int = Field(
        default=5,
        ge=1,
        description="Episodes per policy and mission; episode k uses seed + k for every policy.",
    )
    seed: int = Field(default=0, ge=0, description="Seed of the first episode (common random numbers).")
    max_parallel_jobs: int = Field(default=1, ge=1, description="Worker processes for the episodes.")


class ComparisonReportConfig(dg.Config):
    """What the report covers and how it is read."""

    name: str = Field(
        default="comparison",
        description="The report's name: its title and its folder <output root>/comparisons/<name>.",
    )
    missions: list[str] | None = Field(
        default=None,
        description="Missions the report covers, each of which needs episodes. None: every partition of "
        "a partitioned episodes asset, or the missions in an unpartitioned one's records.",
    )
    significance_level: float = Field(
        default=0.05, gt=0.0, lt=1.0, description="Holm-Bonferroni's level over all comparisons."
    )
    aggregate: Literal["iqm", "mean"] = Field(
        default="iqm", description="What the leaderboard ranks by across missions."
    )


class SampleSizeConfig(dg.Config):
    min_episodes: int = Field(
        default=2, ge=1, description="Fewest episodes every policy needs on every mission."
    )


# --------------------------------------------------------------------------------------------------
# Episodes
# --------------------------------------------------------------------------------------------------


def episodes_asset(
    name: str,
    *,
    partitions_def: dg.PartitionsDefinition | None = None,
    deps: Sequence[Any] = (),
    default_config: ComparisonEpisodesConfig | None = None,
    group_name: str = GROUP,
    description: str | None = None,
) -> dg.AssetsDefinition:
    """An asset of per-episode records of the config's policies, stored by the Parquet IO manager.

    Partitioned (by mission): a run evaluates ``context.partition_keys`` (one key, or a whole range in
    one step) and the IO manager stores one file per mission. Unpartitioned: the config's missions.
    """
    config_class = with_defaults(ComparisonEpisodesConfig, default_config)

    @dg.asset(
        name=name,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run() if partitions_def is not None else None,
        metadata={PARTITION_COLUMN: "mission"} if partitions_def is not None else None,
        deps=list(deps),
        io_manager_key="parquet_io_manager",
        group_name=group_name,
        code_version=CODE_VERSION,
        kinds={"python", "parquet"},
        description=description,
    )
    def _episodes(context: dg.AssetExecutionContext, config: config_class, daf: DAFResource):  # type: ignore[valid-type]
        """Per-episode records of every policy on every mission, episode k on seed + k for all."""
        missions = _missions(context, config, partitioned=partitions_def is not None)
        records = evaluate(config, missions, daf, context.asset_key.to_python_identifier())
        means = records.groupby(["policy", "mission"], sort=False)["reward"].mean().unstack()
        context.log.info(f"{len(records)} episodes; mean episode reward:\n{means}")
        return dg.Output(
            records,
            metadata={
                "num_episodes": len(records),
                "policies": dg.MetadataValue.json(list(dict.fromkeys(records["policy"]))),
                "missions": dg.MetadataValue.json(missions),
                "mean_reward": dg.MetadataValue.md(_means_markdown(means, config.episodes_per_mission)),
                **provenance(config.model_copy(update={"missions": missions})),
            },
        )

    return _episodes


def _missions(
    context: dg.AssetExecutionContext, config: ComparisonEpisodesConfig, partitioned: bool
) -> list[str]:
    if not partitioned:
        if not config.missions:
            raise ValueError(
                f"missions: {context.asset_key.to_user_string()} is not partitioned, so its config must "
                f"name the missions to evaluate, got {config.missions!r}"
            )
        return list(config.missions)
    if config.missions is not None:
        raise ValueError(
            f"missions: {context.asset_key.to_user_string()} is partitioned by mission; choose missions "
            f"with the partition key or range, not in its config (got {config.missions!r})"
        )
    return list(context.partition_keys)


def evaluate(
    config: ComparisonEpisodesConfig, missions: list[str], daf: DAFResource, asset: str
) -> "pd.DataFrame":
    """The records of ``evaluate_policies`` in the config's policy order, each row naming what ran.

    Episodes are saved under ``<output root>/evaluations/<asset>/<missions>/`` as they finish, so a
    rerun after a failure (or of the same partitions) reuses the episodes already recorded.
    """
    from daf_core.evaluation import (  # noqa: PLC0415
        evaluate_policies,
        resolve_missions,
        resolve_policies,
        resolve_policy,
    )

    unknown = sorted(set(config.policy_names) - set(config.policies))
    if unknown:
        raise ValueError(f"policy_names: {unknown} are not among policies {config.policies}")
    named = [resolve_policy(daf.resolve_policy(ref), config.policy_names.get(ref)) for ref in config.policies]
    policies = resolve_policies(named, "policies")
    subjects = resolve_missions(missions)
    records = evaluate_policies(
        policies,
        subjects,
        config.episodes_per_mission,
        seed=config.seed,
        max_parallel_jobs=config.max_parallel_jobs,
        output_dir=daf.output_path("evaluations", asset, "+".join(Path(m).stem for m in missions)),
        show_progress=False,
    )
    by_name = {p.name: p for p in policies}
    columns = {
        "policy_class_path": lambda p: p.spec.class_path,
        "policy_data_path": lambda p: p.spec.data_path,
        "policy_init_kwargs": lambda p: json.dumps(dict(p.spec.init_kwargs), sort_keys=True),
        "policy_fingerprint": lambda p: p.fingerprint(),
    }
    for column, value in columns.items():
        records[column] = records["policy"].map(lambda name, value=value: value(by_name[name]))
    fingerprints = {m.name: m.fingerprint() for m in subjects}
    records[MISSION_FINGERPRINT] = records["mission"].map(fingerprints)
    return _ordered(records, [p.name for p in policies], [m.name for m in subjects])


def _ordered(records: "pd.DataFrame", policies: Sequence[str], missions: Sequence[str]) -> "pd.DataFrame":
    """Mission, then policy in the given orders, then episode: the report lists them as the user did."""
    rank = {
        "mission": {m: i for i, m in enumerate(missions)},
        "policy": {p: i for i, p in enumerate(policies)},
    }
    return records.sort_values(
        ["mission", "policy", "episode"],
        key=lambda column: column.map(rank[column.name]) if column.name in rank else column,
        kind="stable",
    ).reset_index(drop=True)


def _means_markdown(means: "pd.DataFrame", episodes: int) -> str:
    lines = [
        f"Mean episode reward over {episodes} episodes (the same seeds for every policy)",
        "",
        "| policy | " + " | ".join(map(str, means.columns)) + " |",
        "|---" + "|---:" * len(means.columns) + "|",
    ]
    lines += [f"| {p} | " + " | ".join(f"{v:.4f}" for v in row) + " |" for p, row in means.iterrows()]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------------


def report_asset(
    name: str,
    *,
    episodes: str | dg.AssetsDefinition,
    default_config: ComparisonReportConfig | None = None,
    group_name: str = GROUP,
    description: str | None = None,
) -> tuple[dg.AssetsDefinition, list[dg.AssetChecksDefinition]]:
    """A report asset over an episodes asset's records, and its checks (sample sizes, finite intervals).

    ``episodes``: the episodes asset, or its name. Given the asset, a partitioned one's partitions are
    what the report must cover by default; given a name, the missions in its records (or the config's).
    """
    episodes_key = episodes.key if isinstance(episodes, dg.AssetsDefinition) else dg.AssetKey(episodes)
    partitions = episodes.partitions_def if isinstance(episodes, dg.AssetsDefinition) else None
    config_class = with_defaults(ComparisonReportConfig, default_config)
    source = episodes_key.to_user_string()

    @dg.asset(
        name=name,
        ins={"episodes": dg.AssetIn(key=episodes_key)},
        group_name=group_name,
        code_version=CODE_VERSION,
        kinds={"python", "html"},
        description=description,
    )
    def _report(context: dg.AssetExecutionContext, config: config_class, daf: DAFResource, episodes):  # type: ignore[valid-type]
        """The comparison of every policy on every mission: statistics, leaderboard, HTML report, figures."""
        expected = config.missions
        if expected is None and partitions is not None:
            expected = list(partitions.get_partition_keys(dynamic_partitions_store=context.instance))
        report = build_report(
            episodes,
            name=config.name,
            missions=expected,
            source=source,
            significance_level=config.significance_level,
            extra_metadata={
                "dagster": {"asset": context.asset_key.to_user_string(), "run_id": context.run_id}
            },
        )
        files = write_report_files(report, daf.output_path("comparisons", config.name), config.aggregate)
        context.log.info(f"comparison report {config.name!r}: {files['report']}\n{files['leaderboard_text']}")
        return dg.MaterializeResult(metadata={**report_metadata(report, files), **provenance(config)})

    return _report, [sample_size_check(_report), finite_intervals_check(_report)]


def build_report(
    records: "pd.DataFrame",
    *,
    name: str,
    missions: Sequence[str] | None,
    source: str,
    significance_level: float,
    extra_metadata: Mapping[str, Any] | None = None,
) -> "ComparisonReport":
    """The report over the records of ``missions`` (None: all in the records), after checking they
    answer one design; its metadata carries what the HTML report's design section shows."""
    from daf_core.comparison import ComparisonReport  # noqa: PLC0415 - scipy
    from daf_core.comparison.constants import REWARD_DEFINITION  # noqa: PLC0415
    from daf_core.comparison.runner import package_versions  # noqa: PLC0415

    missions = list(dict.fromkeys(records["mission"])) if missions is None else list(missions)
    records = records[records["mission"].isin(missions)].copy()
    design = check_design(records, missions, source)
    policies = list(dict.fromkeys(records["policy"]))
    report = ComparisonReport.from_records(
        _ordered(records, policies, missions),
        name=name,
        significance_level=significance_level,
        seed=design["seed"],
        metadata={
            "kind": "comparison",
            "episodes_per_mission": design["episodes_per_mission"],
            "reward": REWARD_DEFINITION,
            "policy_specs": design["policy_specs"],
            "mission_fingerprints": design["mission_fingerprints"],
            "versions": package_versions(),
            **(extra_metadata or {}),
        },
    )
    report.compute_pairwise_comparisons()
    return report


def check_design(records: "pd.DataFrame", missions: Sequence[str], source: str) -> dict[str, Any]:
    """Refuse records that do not answer one experiment; return its design (seed, episodes, specs).

    Every mission must have episodes, and every mission the same policies (with the same weights), the
    same episode count per policy and the same seeds: records of partitions materialized with different
    configs would otherwise be compared as if they were one experiment. The errors say which partitions
    to materialize again.
    """
    present = set(records["mission"])
    missing = [m for m in missions if m not in present]
    if missing:
        raise ValueError(
            f"episodes: {source} has no episodes on mission(s) {missing}; materialize {source} for "
            f"partition(s) {missing} (or the whole range) before this report, or leave them out of its "
            "config's missions"
        )
    designs = {mission: _mission_design(records[records["mission"] == mission]) for mission in missions}
    reference = max(designs.values(), key=list(designs.values()).count)  # the majority's design
    differ = {m: d for m, d in designs.items() if d != reference}
    if differ:
        agree = [m for m, d in designs.items() if d == reference]
        lines = [f"  {m}: {_difference(d, reference)}" for m, d in differ.items()]
        raise ValueError(
            f"episodes: the records of {source} do not answer one design; mission(s) {list(differ)} differ "
            f"from {agree}:\n" + "\n".join(lines) + f"\nMaterialize {source} for partition(s) "
            f"{list(differ)} again with the config the others ran with (or all partitions with one config)"
        )
    seeds = reference["seeds"]
    specs = {policy: spec or {} for policy, spec in reference["policies"].items()}
    fingerprints = (
        {m: str(f) for m, f in records.groupby("mission")[MISSION_FINGERPRINT].first().items()}
        if MISSION_FINGERPRINT in records
        else {}
    )
    return {
        "seed": min(seeds) if seeds else 0,
        "episodes_per_mission": reference["episodes"],
        "policy_specs": specs,
        "mission_fingerprints": fingerprints,
    }


def _mission_design(rows: "pd.DataFrame") -> dict[str, Any]:
    """One mission's policies (with what each was), episodes per policy and seeds."""
    counts = rows.groupby("policy", sort=False).size()
    policies = {str(p): _policy_spec(group.iloc[0]) for p, group in rows.groupby("policy", sort=False)}
    known = "seed" in rows and not rows["seed"].isna().any()
    return {
        "policies": dict(sorted(policies.items())),
        "episodes": int(counts.iloc[0])
        if counts.nunique() == 1
        else {str(p): int(n) for p, n in counts.items()},
        "seeds": tuple(sorted({int(s) for s in rows["seed"]})) if known else None,
    }


def _policy_spec(row: "pd.Series") -> dict[str, Any] | None:
    """What a record says its policy was (the columns :func:`evaluate` adds); None for records without."""
    if not all(column in row for column in POLICY_COLUMNS):
        return None
    kwargs, data_path = row["policy_init_kwargs"], row["policy_data_path"]
    return {
        "class_path": str(row["policy_class_path"]),
        "data_path": None if _missing(data_path) else str(data_path),
        "init_kwargs": {} if _missing(kwargs) else json.loads(kwargs),
        "fingerprint": str(row["policy_fingerprint"]),
    }


def _missing(value: Any) -> bool:
    """None, or NaN (how Parquet gives back a missing string)."""
    return value is None or (isinstance(value, float) and value != value)


def _difference(design: Mapping[str, Any], reference: Mapping[str, Any]) -> str:
    parts = []
    if list(design["policies"]) != list(reference["policies"]):
        parts.append(f"policies {list(design['policies'])} (others {list(reference['policies'])})")
    else:
        changed = [p for p in design["policies"] if design["policies"][p] != reference["policies"][p]]
        if changed:
            parts.append(f"policies {changed} ran with other weights or settings (fingerprints differ)")
    if design["episodes"] != reference["episodes"]:
        parts.append(f"episodes per policy {design['episodes']} (others {reference['episodes']})")
    if design["seeds"] != reference["seeds"]:
        parts.append(f"seeds {_seeds(design['seeds'])} (others {_seeds(reference['seeds'])})")
    return "; ".join(parts)


def _seeds(seeds: Sequence[int] | None) -> str:
    if not seeds:
        return "unknown"
    if list(seeds) == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(map(str, seeds))


def write_report_files(
    report: "ComparisonReport", output_dir: Path, aggregate: str = "iqm"
) -> dict[str, Any]:
    """``report.json`` with the records, ``report.html``, ``leaderboard.md`` and ``figures/``."""
    from daf_core.visualization import (  # noqa: PLC0415 - matplotlib
        daf_export_comparison_html,
        daf_generate_leaderboard,
        daf_plot_policy_comparison,
    )

    saved = report.save(output_dir)
    leaderboard_path = output_dir / "leaderboard.md"
    return {
        **saved,
        "html": daf_export_comparison_html(report, output_dir / "report.html", aggregate=aggregate),
        "leaderboard": leaderboard_path,
        "leaderboard_text": daf_generate_leaderboard(report, leaderboard_path, aggregate),
        "figures": daf_plot_policy_comparison(report, output_dir / "figures"),
    }


def report_metadata(report: "ComparisonReport", files: Mapping[str, Any]) -> dict[str, Any]:
    """The leaderboard, the files, and each policy's scores as floats (the UI plots them across runs)."""
    comparisons = report.comparisons
    metadata: dict[str, Any] = {
        "leaderboard": dg.MetadataValue.md(files["leaderboard_text"]),
        "report_path": dg.MetadataValue.path(str(files["report"])),
        "html_report": dg.MetadataValue.path(str(files["html"])),
        "leaderboard_path": dg.MetadataValue.path(str(files["leaderboard"])),
        "records_path": dg.MetadataValue.path(str(files["parquet"])),
        "figures_dir": dg.MetadataValue.path(str(Path(files["html"]).parent / "figures")),
        "num_episodes": len(report.records),
        "policies": dg.MetadataValue.json(report.policies),
        "missions": dg.MetadataValue.json(report.missions),
        "num_comparisons": len(comparisons),
        "significant_comparisons": sum(c.is_significant for c in comparisons),
    }
    figure = next((p for p in files["figures"] if Path(p).name == f"{KEY_FIGURE}.png"), None)
    if figure is not None:
        caption = f"Mean episode reward per mission, with {report.confidence:.0%} intervals"
        metadata[KEY_FIGURE] = png_markdown(figure, caption)
    for policy, summary in report.summary_statistics.items():
        overall = summary["overall"]
        for key, field in OVERALL_SCORES.items():
            if overall.get(field) is not None:  # an undefined interval is the interval check's to flag
                metadata[f"{key}/{policy}"] = dg.MetadataValue.float(float(overall[field]))
    return metadata


# --------------------------------------------------------------------------------------------------
# Checks: the report as materialized
# --------------------------------------------------------------------------------------------------


def materialized_report(
    context: dg.AssetCheckExecutionContext, asset_key: dg.AssetKey
) -> tuple["ComparisonReport", dict[str, Any]]:
    """The report of ``asset_key``'s latest materialization (its ``report_path``), and that event's
    partition and path."""
    from daf_core.comparison import ComparisonReport  # noqa: PLC0415

    event = context.instance.get_latest_materialization_event(asset_key)
    if event is None or event.asset_materialization is None:
        raise FileNotFoundError(
            f"{asset_key.to_user_string()}: never materialized; materialize it before its checks"
        )
    materialization = event.asset_materialization
    path = materialization.metadata["report_path"].value
    about = {"report_path": dg.MetadataValue.path(str(path))}
    if materialization.partition is not None:
        about["partition"] = materialization.partition
    return ComparisonReport.load_json(path), about


def sample_size_check(asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    """``comparison_sample_size``: every policy has at least ``min_episodes`` episodes on every mission,
    and all the same number (unequal counts weigh missions and policies unevenly)."""

    @dg.asset_check(asset=asset, name="comparison_sample_size", description=sample_size_check.__doc__)
    def _check(context: dg.AssetCheckExecutionContext, config: SampleSizeConfig) -> dg.AssetCheckResult:
        report, about = materialized_report(context, asset.key)
        records = report.records
        counts = records.groupby(["policy", "mission"]).size()
        played = {(p, m) for p, m in counts.index}
        absent = [f"{p} on {m}" for p in report.policies for m in report.missions if (p, m) not in played]
        fewest, most = int(counts.min()), int(counts.max())
        problems = []
        if fewest < config.min_episodes:
            short = [f"{p} on {m}: {n}" for (p, m), n in counts.items() if n < config.min_episodes]
            problems.append(f"fewer than {config.min_episodes} episodes: {', '.join(short)}")
        if fewest != most or absent:
            problems.append(
                f"unequal episode counts ({fewest} to {most}" + (f"; none for {absent})" if absent else ")")
            )
        return dg.AssetCheckResult(
            passed=not problems,
            severity=dg.AssetCheckSeverity.ERROR,
            description="; ".join(problems) or f"{fewest} episodes of every policy on every mission",
            metadata={
                **about,
                "min_episodes_required": config.min_episodes,
                "fewest_episodes": fewest,
                "most_episodes": most,
                "episodes": dg.MetadataValue.md(_counts_markdown(counts, report.policies, report.missions)),
            },
        )

    return _check


def _counts_markdown(counts: "pd.Series", policies: Sequence[str], missions: Sequence[str]) -> str:
    """Episodes per policy (rows) and mission (columns)."""
    lines = ["| policy | " + " | ".join(missions) + " |", "|---" + "|---:" * len(missions) + "|"]
    for policy in policies:
        cells = [str(int(counts.get((policy, m), 0))) for m in missions]
        lines.append(f"| {policy} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def finite_intervals_check(
    asset: dg.AssetsDefinition, name: str = "comparison_finite_intervals"
) -> dg.AssetChecksDefinition:
    """Every interval of the report is finite: each policy's mean and IQM interval per mission and
    overall, and every comparison's interval of the mean difference (one episode leaves them undefined)."""

    @dg.asset_check(asset=asset, name=name, description=finite_intervals_check.__doc__)
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        report, about = materialized_report(context, asset.key)
        undefined = undefined_intervals(report)
        return dg.AssetCheckResult(
            passed=not undefined,
            severity=dg.AssetCheckSeverity.ERROR,
            description=(
                f"{len(undefined)} interval(s) undefined or infinite: {'; '.join(undefined[:10])}"
                if undefined
                else "every interval is finite"
            ),
            metadata={
                **about,
                "num_undefined": len(undefined),
                "undefined": dg.MetadataValue.json(undefined),
            },
        )

    return _check


def undefined_intervals(report: "ComparisonReport") -> list[str]:
    """``"<what>: <bound> = <value>"`` for every interval bound that is missing or not finite."""
    from daf_core.comparison.constants import OVERALL_KEY  # noqa: PLC0415 - the package loads scipy

    def bad(value: Any) -> bool:
        return value is None or not math.isfinite(float(value))

    out = []
    for policy, missions in report.summary_statistics.items():
        for mission, summary in missions.items():
            bounds = ("mean_ci_low", "mean_ci_high", "iqm_ci_low", "iqm_ci_high")
            if mission != OVERALL_KEY:
                bounds = ("ci_low", "ci_high", "iqm_ci_low", "iqm_ci_high")
            out += [f"{policy} on {mission}: {b} = {summary.get(b)}" for b in bounds if bad(summary.get(b))]
    for c in report.comparisons:
        for bound in ("mean_diff_ci_low", "mean_diff_ci_high"):
            if bad(getattr(c, bound)):
                out.append(f"{c.policy_a} vs {c.policy_b} on {c.mission}: {bound} = {getattr(c, bound)}")
    return out


# --------------------------------------------------------------------------------------------------
# The instances
# --------------------------------------------------------------------------------------------------

comparison_episodes = episodes_asset(
    "comparison_episodes",
    partitions_def=MISSIONS,
    description="Per-episode records of the config's policies on one built-in mission per partition "
    "(common random numbers); a range run evaluates all its missions in one step.",
)
comparison_report, comparison_report_checks = report_asset(
    "comparison_report",
    episodes=comparison_episodes,
    description="The comparison over every mission partition of comparison_episodes: leaderboard, HTML "
    "report, figures and each policy's scores.",
)

ASSETS = [comparison_episodes, comparison_report]
ASSET_CHECKS = list(comparison_report_checks)
