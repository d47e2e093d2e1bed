"""The cogames tournament target: submit a bundle the way ``cogames upload`` does.

What cogames 0.27.3's client sends (``cogames.cli.client.TournamentServerClient`` and
``cogames.cli.submit.upload_submission``, read from the installed package):

1. ``POST {server}/observatory/stats/policies/submit/presigned-url`` with header ``X-Auth-Token`` (the
   token ``cogames auth login`` keeps in ``~/.metta/cogames.yaml``); the answer holds ``upload_url`` (a
   presigned storage URL) and ``upload_id``.
2. ``PUT {upload_url}`` with the zip as the body, ``Content-Type: application/zip`` and no token (the
   URL itself is the credential).
3. ``POST {server}/observatory/stats/policies/submit/complete`` with ``X-Auth-Token`` and JSON
   ``{"upload_id", "name"}``: the server registers an immutable ``name:vN`` policy version.
4. With a season, ``POST {server}/observatory/tournament/seasons/{season}/submissions`` with
   ``{"policy_version_id"}``. A submission cannot be withdrawn.

That server cannot be reached from here, so :func:`daf_submit_to_tournament` has a dry run that returns
exactly these requests (the token redacted, the body described by size and sha256) and sends nothing; a
real submission goes through cogames' own client, so what is sent is what ``cogames upload`` sends.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import httpx

from daf_core._internal.process_state import import_preserving_process_state
from daf_core.deployment.result import DeploymentResult

logger = logging.getLogger(__name__)

#: cogames' default submission server (``cogames.cli.submit.DEFAULT_SUBMIT_SERVER`` in 0.27.3).
DEFAULT_TOURNAMENT_SERVER = "https://softmax.com/api"
#: Placeholders in a dry run: values only the real server hands out, and the token, never shown.
PRESIGNED_UPLOAD_URL = "<upload_url from the presigned-url answer>"
UPLOAD_ID = "<upload_id from the presigned-url answer>"
POLICY_VERSION_ID = "<id from the complete answer>"
REDACTED = "<redacted>"


def tournament_requests(
    policy_name: str, package_path: str | Path, server_url: str, *, season: str | None = None
) -> list[dict[str, Any]]:
    """The requests a submission of ``package_path`` as ``policy_name`` sends, in order (see module doc)."""
    package = Path(package_path)
    data = package.read_bytes()
    base = f"{server_url.rstrip('/')}/observatory"
    token = {"X-Auth-Token": REDACTED}
    requests: list[dict[str, Any]] = [
        {
            "method": "POST",
            "url": f"{base}/stats/policies/submit/presigned-url",
            "headers": token,
            "json": None,
        },
        {
            "method": "PUT",
            "url": PRESIGNED_UPLOAD_URL,
            "headers": {"Content-Type": "application/zip"},
            "body": {"file": str(package), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()},
        },
        {
            "method": "POST",
            "url": f"{base}/stats/policies/submit/complete",
            "headers": token,
            "json": {"upload_id": UPLOAD_ID, "name": policy_name},
        },
    ]
    if season:
        requests.append(
            {
                "method": "POST",
                "url": f"{base}/tournament/seasons/{season}/submissions",
                "headers": token,
                "json": {"policy_version_id": POLICY_VERSION_ID},
            }
        )
    return requests


def daf_submit_to_tournament(
    policy_name: str,
    package_path: str | Path,
    server_url: str = DEFAULT_TOURNAMENT_SERVER,
    auth_token: str | None = None,
    *,
    season: str | None = None,
    dry_run: bool = True,
    version: str | None = None,
) -> DeploymentResult:
    """Submit a bundle to cogames' tournament server, or (``dry_run``) show what would be sent.

    The dry run's status is "dry_run" and ``details["requests"]`` lists the requests; nothing is sent.
    A real submission uses ``auth_token`` or the token of ``cogames auth login``, and returns "success"
    with the server's ``name:vN`` as ``deployment_id`` only when the server confirmed it; any failure
    (no token, no answer, an HTTP error) is "deployment_failed" naming the URL or the server's reason.
    """
    package = Path(package_path)
    if not package.is_file():
        raise FileNotFoundError(f"package_path: no bundle at {package}")
    if not policy_name:
        raise ValueError(f"policy_name: must be non-empty, got {policy_name!r}")
    requests = tournament_requests(policy_name, package, server_url, season=season)
    common = {"policy_name": policy_name, "version": version or "", "package_path": package}
    if dry_run:
        return DeploymentResult(
            **common,
            status="dry_run",
            message=f"dry run: {len(requests)} requests to {server_url} would submit {package.name}; "
            "none sent",
            details={"target": "cogames_tournament", "server": server_url, "requests": requests},
        )

    submit = import_preserving_process_state("cogames.cli.submit")
    token = auth_token or import_preserving_process_state("softmax.auth").load_current_cogames_token(
        api_server=server_url
    )
    if not token:
        return DeploymentResult(
            **common,
            status="deployment_failed",
            message=f"no token for {server_url}: pass auth_token or run `cogames auth login`",
        )
    try:
        with submit.TournamentServerClient(server_url=server_url, token=token) as client:
            uploaded = submit.upload_submission(client, package, policy_name, season=season)
    except httpx.HTTPStatusError as err:
        return DeploymentResult(
            **common,
            status="deployment_failed",
            message=f"{err.request.method} {err.request.url}: HTTP {err.response.status_code}: "
            f"{err.response.text[:500]}",
        )
    except httpx.HTTPError as err:
        return DeploymentResult(
            **common,
            status="deployment_failed",
            message=f"cannot reach the tournament server at {server_url}: {type(err).__name__}: {err}",
        )
    except submit.typer.Exit:
        # cogames' upload prints the server's reason (a bundle over its size limit) and exits.
        return DeploymentResult(
            **common, status="deployment_failed", message=f"{server_url} refused the bundle as too large"
        )
    submission = f"{uploaded.name}:v{uploaded.version}"
    logger.info("Submitted %s to %s as %s", package.name, server_url, submission)
    return DeploymentResult(
        **common,
        status="success",
        deployment_id=submission,
        message=f"submitted as {submission} (policy version {uploaded.policy_version_id})",
        details={
            "target": "cogames_tournament",
            "server": server_url,
            "policy_version_id": str(uploaded.policy_version_id),
            "tournament_version": uploaded.version,
            "pools": uploaded.pools,
        },
    )
