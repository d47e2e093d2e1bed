"""What every materialization records besides its own figures: the exact config and the package versions.

A result is only worth keeping if it can be reproduced, so each asset passes the config it ran with to
:func:`provenance` and adds the result to its metadata. Versions come from package metadata: importing
torch just to ask its version would cost seconds.
"""

import base64
import importlib.metadata
import json
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import BaseModel

#: The distributions whose versions every materialization records (importlib.metadata names).
VERSIONED_PACKAGES = ("daf", "cogames", "mettagrid", "torch", "dagster")


def package_versions() -> dict[str, str | None]:
    """The installed version of each of :data:`VERSIONED_PACKAGES` (None where not installed)."""
    versions: dict[str, str | None] = {}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def provenance(config: BaseModel | dict[str, Any]) -> dict[str, dg.MetadataValue]:
    """``config``: the exact config used (a pydantic model, Dagster config included, or a dict), as JSON;
    ``versions``: the versions of DAF, cogames, mettagrid, torch and Dagster."""
    data = config.model_dump(mode="json") if isinstance(config, BaseModel) else config
    if not isinstance(data, dict):
        raise ValueError(f"config: expected a pydantic model or a dict, got {type(config).__name__}")
    # Through JSON text, so a value JSON cannot hold fails here, not when Dagster stores the event.
    return {
        "config": dg.MetadataValue.json(json.loads(json.dumps(data, allow_nan=False, default=str))),
        "versions": dg.MetadataValue.json(package_versions()),
    }


def png_markdown(path: str | Path, title: str) -> dg.MetadataValue:
    """A PNG embedded in Markdown as a data URI: the UI shows it wherever its files live (a path on a
    run worker's disk would not load in the browser)."""
    encoded = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return dg.MetadataValue.md(f"![{title}](data:image/png;base64,{encoded})")
