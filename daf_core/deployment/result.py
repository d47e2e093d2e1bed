"""``DeploymentResult``: what every deployment step returns, in the reference API's vocabulary.

A step that did not do what it was asked never says "success": packaging, validation and deployment
each have their own failure status, and ``message`` says why in words a person can act on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

DeploymentStatus = Literal["success", "validation_failed", "deployment_failed", "dry_run"]


class DeploymentResult(BaseModel):
    """The outcome of packaging, validating, deploying or rolling back one policy version.

    ``details`` holds the step's evidence (the validation report, the manifest, the server's answer)
    as JSON-safe data, so a result can be logged, stored or shown as Dagster metadata as it is.
    """

    model_config = ConfigDict(frozen=True)

    policy_name: str
    version: str
    status: DeploymentStatus
    message: str
    deployment_id: str | None = None
    package_path: Path | None = None
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "success"
