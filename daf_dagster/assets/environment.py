"""``environment_report``: the pre-flight check every run starts from (``daf_core.environment_checks``)."""

import dagster as dg
from pydantic import Field

from daf_dagster.metadata import provenance
from daf_dagster.resources import DAFResource, absolute

CODE_VERSION = "1"


class EnvironmentReportConfig(dg.Config):
    missions: list[str] = Field(default=["collect"], description="Missions to load and build once.")
    checkpoint_dir: str | None = Field(
        default=None,
        description="Where checkpoints go (free space is measured there); null: the DAF checkpoint root.",
    )
    min_available_gb: float = Field(default=1.0, description="Free disk space required at checkpoint_dir.")


@dg.asset(group_name="environment", kinds={"python"}, code_version=CODE_VERSION)
def environment_report(
    context: dg.AssetExecutionContext, config: EnvironmentReportConfig, daf: DAFResource
) -> dg.MaterializeResult:
    """Dependencies, PufferLib's kernel, training device, disk space, missions; fails the run if unhealthy."""
    from daf_core.environment_checks import daf_check_environment  # noqa: PLC0415 - keep definitions light

    result = daf_check_environment(
        missions=config.missions,
        checkpoint_dir=absolute(config.checkpoint_dir) if config.checkpoint_dir else daf.checkpoint_dir(),
        min_available_gb=config.min_available_gb,
    )
    report = result.to_dict()
    metadata = {
        "summary": dg.MetadataValue.md(f"```\n{result.summary()}\n```"),
        "num_checks": report["num_checks"],
        "num_failed": report["num_failed"],
        "num_warnings": report["num_warnings"],
        "report": dg.MetadataValue.json(report),
        **provenance(config),
    }
    if not result.is_healthy():
        raise dg.Failure(description=result.summary(), metadata=metadata)
    context.log.info(result.summary())
    return dg.MaterializeResult(metadata=metadata)
