"""``ParquetIOManager``: per-episode records as Parquet, so downstream assets take DataFrames as arguments.

Layout under ``base_dir``: ``<asset key path>/<partition key>.parquet`` per partition, or
``<asset key path>.parquet`` for an unpartitioned asset; each file written atomically. One step that
materializes several partitions at once (a range run, or a backfill with a single-run policy) returns
one DataFrame for all of them; it is split into one file per partition by the column the asset names in
its definition metadata ``"partition_column"`` (e.g. ``"mission"``), so a later run of one partition
replaces exactly that partition's rows. An input that spans partitions is the concatenation of the
partitions that exist (the missing ones are logged); none existing is an error naming the asset and keys.
"""

import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field

from daf_core._internal.atomic import atomic_write_bytes
from daf_dagster.resources import absolute, default_output_root

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

#: The asset definition metadata key naming the column that tells a row's partition.
PARTITION_COLUMN = "partition_column"
IO_DIR = "dagster_io"


class ParquetIOManager(dg.ConfigurableIOManager):
    """Stores a pandas DataFrame per asset partition as Parquet (see the module docstring)."""

    base_dir: str | None = Field(
        default=None, description=f"Where the files go; None: <DAF output root>/{IO_DIR}."
    )

    def root(self) -> Path:
        return absolute(self.base_dir) if self.base_dir else default_output_root() / IO_DIR

    def path_for(self, asset_key: dg.AssetKey, partition_key: str | None = None) -> Path:
        """The file of one partition of ``asset_key`` (``partition_key`` None: the unpartitioned file)."""
        if partition_key is None:
            *folders, name = asset_key.path
            return self.root().joinpath(*folders, f"{name}.parquet")
        return self.root().joinpath(*asset_key.path, f"{partition_key}.parquet")

    def handle_output(self, context: dg.OutputContext, obj: "pd.DataFrame") -> None:
        import pandas as pd  # noqa: PLC0415 - only when an asset stores records

        asset = context.asset_key.to_user_string()
        if not isinstance(obj, pd.DataFrame):
            raise ValueError(f"{asset}: the Parquet IO manager stores DataFrames, got {type(obj).__name__}")
        column = context.definition_metadata.get(PARTITION_COLUMN)
        if not context.has_asset_partitions:
            parts = {None: obj}
        elif column or len(context.asset_partition_keys) > 1:
            parts = _split(obj, list(context.asset_partition_keys), column, asset)
        else:
            parts = {context.asset_partition_key: obj}
        paths = [_write(self.path_for(context.asset_key, key), frame) for key, frame in parts.items()]
        context.log.info(f"{asset}: {len(obj)} rows in {len(paths)} Parquet file(s) under {self.root()}")
        context.add_output_metadata(
            {
                "num_rows": len(obj),
                "path": dg.MetadataValue.path(str(paths[0] if len(paths) == 1 else paths[0].parent)),
            }
        )

    def load_input(self, context: dg.InputContext) -> "pd.DataFrame":
        """The stored frame(s), read as :func:`daf_core.records.load_records` reads records (list cells
        such as ``agent_rewards`` come back as lists, not arrays)."""
        import pandas as pd  # noqa: PLC0415

        from daf_core.records import load_records  # noqa: PLC0415 - pandas

        asset = context.asset_key.to_user_string()
        if not context.has_asset_partitions:
            path = self.path_for(context.asset_key)
            if not path.is_file():
                raise FileNotFoundError(f"{asset}: no stored output at {path}; materialize {asset} first")
            return load_records(path)
        keys = list(context.asset_partition_keys)
        paths = {key: self.path_for(context.asset_key, key) for key in keys}
        present = {key: path for key, path in paths.items() if path.is_file()}
        missing = [key for key in keys if key not in present]
        if not present:
            raise FileNotFoundError(
                f"{asset}: none of the partitions {keys} is stored under {self.root()}; "
                f"materialize {asset} for them first"
            )
        if missing:
            context.log.warning(f"{asset}: partitions {missing} not materialized; loading {list(present)}")
        return pd.concat([load_records(path) for path in present.values()], ignore_index=True)


def _split(obj: "pd.DataFrame", keys: list[str], column: Any, asset: str) -> dict[str, "pd.DataFrame"]:
    """One frame per partition key, by the values of ``column``: every row belongs to one of ``keys`` and
    every key has rows (a row of another partition in this output would be stored nowhere, or twice)."""
    if not column:
        raise ValueError(
            f"{asset}: one output covers partitions {keys}; set the asset's metadata "
            f"{PARTITION_COLUMN!r} to the column that tells a row's partition"
        )
    if column not in obj.columns:
        raise ValueError(f"{asset}: {PARTITION_COLUMN} {column!r} is not a column of the output")
    values = obj[column].astype(str)
    strays = sorted(set(values) - set(keys))
    if strays:
        raise ValueError(f"{asset}: rows with {column} {strays} belong to none of the partitions {keys}")
    empty = [key for key in keys if not (values == key).any()]
    if empty:
        raise ValueError(f"{asset}: the output has no rows for partitions {empty} (column {column!r})")
    return {key: obj[values == key].reset_index(drop=True) for key in keys}


def _write(path: Path, frame: "pd.DataFrame") -> Path:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return atomic_write_bytes(path, buffer.getvalue())
