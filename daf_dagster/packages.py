"""The packaged checkpoints Dagster has recorded: what the promotion sensor and the benchmark schedules read.

Every ``checkpoint_package`` materialization carries its bundle's path, sha256, version and whether the
bundle passed its isolated validation (``validation_passed``; ``daf_dagster.assets.deployment``). These
functions read them back from the instance's event log: a database query, no torch, no simulator, cheap
enough for a sensor tick.
"""

from dataclasses import dataclass

import dagster as dg

PACKAGE_ASSET = dg.AssetKey("checkpoint_package")
#: Materializations read per query; a sensor that finds more reads them on its next tick (cursor).
PAGE_SIZE = 100


@dataclass(frozen=True)
class PackageRecord:
    """One packaged checkpoint, as its materialization recorded it."""

    storage_id: int
    run_id: str
    training_run: str
    bundle: str
    sha256: str
    version: str
    policy_name: str
    validation_passed: bool


def package_records(
    instance: dg.DagsterInstance,
    *,
    after_storage_id: int | None = None,
    training_run: str | None = None,
    limit: int = PAGE_SIZE,
) -> list[PackageRecord]:
    """The ``checkpoint_package`` materializations after ``after_storage_id`` (oldest first), of one
    training run's partition or of all."""
    result = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=PACKAGE_ASSET,
            asset_partitions=[training_run] if training_run else None,
            after_storage_id=after_storage_id,
        ),
        limit=limit,
        ascending=True,
    )
    return [_record(row) for row in result.records]


def newest_validated_package(
    instance: dg.DagsterInstance, training_run: str | None = None
) -> PackageRecord | None:
    """The newest package that passed validation (of ``training_run``, or of any run); None if none did."""
    cursor = None
    while True:
        result = instance.fetch_materializations(
            dg.AssetRecordsFilter(
                asset_key=PACKAGE_ASSET, asset_partitions=[training_run] if training_run else None
            ),
            limit=PAGE_SIZE,
            cursor=cursor,
            ascending=False,
        )
        for row in result.records:
            record = _record(row)
            if record.validation_passed:
                return record
        if not result.has_more:
            return None
        cursor = result.cursor


def _record(row: dg.EventLogRecord) -> PackageRecord:
    materialization = row.asset_materialization
    metadata = {key: value.value for key, value in materialization.metadata.items()}
    return PackageRecord(
        storage_id=row.storage_id,
        run_id=row.run_id,
        training_run=materialization.partition or "",
        bundle=str(metadata.get("bundle", "")),
        sha256=str(metadata.get("sha256", "")),
        version=str(metadata.get("version", "")),
        policy_name=str(metadata.get("policy_name", "")),
        validation_passed=bool(metadata.get("validation_passed", False)),
    )
