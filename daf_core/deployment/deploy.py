"""Deploy a bundle to a policy server, and roll a deployment back.

``daf_deploy_policy`` uploads a bundle to ``daf serve`` (which validates it in isolation on arrival) and
activates it; ``daf_rollback_deployment`` makes the server serve an earlier version again. A deployment is
identified by the policy's name on the server: every version of a policy is one deployment's history.

The result says what the server confirmed and nothing more: "success" only after the server answered
the upload (201) and the activation with the new version active; a 422 (the bundle failed the server's
validation) is "validation_failed" with the server's reasons; any other refusal or no answer at all is
"deployment_failed" with the server's reason or the URL that could not be reached.

With ``config.target == "cogames_tournament"`` the bundle goes to cogames' tournament server instead
(:mod:`~daf_core.deployment.tournament`); ``config.dry_run`` returns the requests that would be sent, with
status "dry_run", and sends nothing.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from daf_core.config import DAFDeploymentConfig
from daf_core.deployment.client import PolicyServerClient, PolicyServerError
from daf_core.deployment.manifest import check_policy_name
from daf_core.deployment.result import DeploymentResult
from daf_core.deployment.tournament import daf_submit_to_tournament

logger = logging.getLogger(__name__)

REDACTED = "<redacted>"


def _server_requests(
    policy_name: str, package: Path, endpoint: str, version: str | None, activate: bool, reason: str
) -> list[dict[str, Any]]:
    """What :func:`daf_deploy_policy` sends to a DAF policy server, in order (the token redacted)."""
    data = package.read_bytes()
    base = f"{endpoint.rstrip('/')}/v1/policies/{policy_name}"
    auth = {"Authorization": f"Bearer {REDACTED}"}
    requests: list[dict[str, Any]] = [
        {
            "method": "POST",
            "url": f"{base}/versions",
            "params": {"version": version} if version else {},
            "headers": auth | {"Content-Type": "application/zip"},
            "body": {"file": str(package), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()},
        }
    ]
    if activate:
        requests.append(
            {
                "method": "POST",
                "url": f"{base}/activate",
                "headers": auth,
                "json": {"version": version or "<the uploaded version>", "reason": reason},
            }
        )
    return requests


def _failure(
    err: PolicyServerError, common: dict[str, Any], step: str, details: dict[str, Any] | None = None
) -> DeploymentResult:
    """A server error as a result: 422 is the server's validation refusing the bundle."""
    status = "validation_failed" if err.status_code == 422 else "deployment_failed"
    details = (details or {}) | {
        "step": step,
        "url": err.url,
        "status_code": err.status_code,
        "server_detail": err.detail,
    }
    return DeploymentResult(**common, status=status, message=f"{step} failed: {err}", details=details)


def daf_deploy_policy(
    policy_name: str,
    package_path: str | Path,
    deployment_endpoint: str,
    auth_token: str | None = None,
    *,
    config: DAFDeploymentConfig | None = None,
    activate: bool = True,
    version: str | None = None,
    reason: str = "deploy",
    season: str | None = None,
) -> DeploymentResult:
    """Upload ``package_path`` (a bundle from ``daf_package_policy``) as a new version of ``policy_name``
    and, with ``activate``, serve it.

    ``version`` (default: ``config.version`` when a config is given, else the bundle manifest's) names the
    new version. ``auth_token`` needs the ``admin`` scope. From ``config``: ``target`` chooses the DAF
    server or cogames' tournament (then ``season`` is the tournament season to enter), ``dry_run`` only
    shows the requests. ``deployment_id`` of a success is the policy name, the handle that
    :func:`daf_monitor_deployment` and :func:`daf_rollback_deployment` take.
    """
    package = Path(package_path)
    if not package.is_file():
        raise FileNotFoundError(f"package_path: no bundle at {package}")
    check_policy_name(policy_name)
    version = version or (config.version if config is not None else None)
    target = config.target if config is not None else "daf_server"
    dry_run = config.dry_run if config is not None else False
    if target == "cogames_tournament":
        return daf_submit_to_tournament(
            policy_name,
            package,
            deployment_endpoint,
            auth_token,
            season=season,
            dry_run=dry_run,
            version=version,
        )

    if season is not None:
        raise ValueError(f"season: only the cogames_tournament target has seasons, got {season!r}")
    common: dict[str, Any] = {"policy_name": policy_name, "version": version or "", "package_path": package}
    if dry_run:
        requests = _server_requests(policy_name, package, deployment_endpoint, version, activate, reason)
        return DeploymentResult(
            **common,
            status="dry_run",
            message=f"dry run: {len(requests)} requests to {deployment_endpoint}; none sent",
            details={"target": "daf_server", "endpoint": deployment_endpoint, "requests": requests},
        )

    with PolicyServerClient(deployment_endpoint, auth_token) as client:
        try:
            uploaded = client.upload_version(policy_name, package, version)
        except PolicyServerError as err:
            return _failure(err, common, "upload")
        common["version"] = uploaded["version"]
        details: dict[str, Any] = {
            "target": "daf_server",
            "endpoint": deployment_endpoint,
            "uploaded": uploaded,
        }
        if not activate:
            return DeploymentResult(
                **common,
                status="success",
                deployment_id=policy_name,
                message=f"uploaded {policy_name} {uploaded['version']} (not activated)",
                details=details,
            )
        try:
            activation = client.activate(policy_name, uploaded["version"], reason)
        except PolicyServerError as err:
            return _failure(err, common, "activate", details)
    details["activation"] = activation
    if activation.get("active_version") != uploaded["version"]:
        return DeploymentResult(
            **common,
            status="deployment_failed",
            message=f"the server activated {activation.get('active_version')!r}, not {uploaded['version']!r}",
            details=details,
        )
    logger.info(
        "Deployed %s %s to %s (was %s)",
        policy_name,
        uploaded["version"],
        deployment_endpoint,
        activation.get("previous_version"),
    )
    return DeploymentResult(
        **common,
        status="success",
        deployment_id=policy_name,
        message=f"{policy_name} {uploaded['version']} is active at {deployment_endpoint} "
        f"(previously {activation.get('previous_version')})",
        details=details,
    )


def daf_rollback_deployment(
    deployment_id: str,
    endpoint: str,
    previous_version: str | None = None,
    auth_token: str | None = None,
    *,
    reason: str = "rollback",
    config: DAFDeploymentConfig | None = None,
) -> DeploymentResult:
    """Serve ``previous_version`` of the deployment again, or (None) the version active before the current.

    ``details`` holds ``from_version`` and ``to_version`` as the server answered them. With a config whose
    ``enable_rollback`` is False nothing is sent and the result is "deployment_failed" saying so.
    """
    common: dict[str, Any] = {"policy_name": deployment_id, "version": previous_version or ""}
    if config is not None and not config.enable_rollback:
        return DeploymentResult(
            **common,
            status="deployment_failed",
            message=f"rollback of {deployment_id!r} refused: enable_rollback is False in the config",
        )
    with PolicyServerClient(endpoint, auth_token) as client:
        try:
            answer = client.rollback(deployment_id, previous_version, reason)
        except PolicyServerError as err:
            return _failure(err, common, "rollback")
    to_version, from_version = answer.get("active_version"), answer.get("previous_version")
    if previous_version is not None and to_version != previous_version:
        return DeploymentResult(
            **common,
            status="deployment_failed",
            message=f"the server now serves {to_version!r}, not the requested {previous_version!r}",
            details={"from_version": from_version, "to_version": to_version, "server": answer},
        )
    logger.info("Rolled %s back from %s to %s at %s", deployment_id, from_version, to_version, endpoint)
    return DeploymentResult(
        policy_name=deployment_id,
        version=to_version,
        status="success",
        deployment_id=deployment_id,
        message=f"rolled {deployment_id} back from {from_version} to {to_version}",
        details={"from_version": from_version, "to_version": to_version, "event_id": answer.get("event_id")},
    )
