"""``DAFDeploymentConfig``: where and how a trained policy is deployed, and what it must pass first."""

from __future__ import annotations

from pydantic import Field

from daf_core.config.base import ConfigPath, DAFConfigBase, HttpUrlStr, NonEmptyStr, SemVerStr


class DAFDeploymentConfig(DAFConfigBase):
    """Where and how a trained policy is deployed, and what it must pass first."""

    policy_name: NonEmptyStr
    policy_class_path: NonEmptyStr
    weights_path: ConfigPath | None = None
    deployment_endpoint: HttpUrlStr
    authentication_server: HttpUrlStr | None = None
    validation_missions: list[NonEmptyStr] = Field(default_factory=list)
    version: SemVerStr
    enable_rollback: bool = True
