"""Run-config classes with other defaults, for asset factories (the quickstart's assets, partitioned
packages) that reuse a domain's config class."""

from typing import Any

import dagster as dg
import pydantic
from pydantic.fields import FieldInfo


def with_defaults(config_class: type[dg.Config], defaults: dg.Config | None) -> type[dg.Config]:
    """``config_class`` with ``defaults``' values as its defaults: what the UI's launchpad pre-fills.

    Dagster reads an asset's defaults from its config class, so an asset with other defaults (the
    quickstart's policies) needs a class of its own; its fields, constraints and descriptions stay the
    same.
    """
    if defaults is None:
        return config_class
    if not isinstance(defaults, config_class):
        raise ValueError(f"default_config: expected a {config_class.__name__}, got {type(defaults).__name__}")
    fields: dict[str, Any] = {
        name: (info.annotation, FieldInfo.merge_field_infos(info, default=getattr(defaults, name)))
        for name, info in config_class.model_fields.items()
    }
    return pydantic.create_model(
        config_class.__name__, __base__=config_class, __doc__=config_class.__doc__, **fields
    )
