"""``rollback_job``: make the policy server serve an earlier version again.

The deployment health sensor starts it when the served version is degraded, and the promotion failure
sensor when a promotion run that had activated its candidate fails afterwards (``daf_dagster.sensors``);
from the launchpad it rolls back by hand. Its one op, ``rollback_deployment``, calls
:func:`daf_core.deployment.daf_rollback_deployment` with the ``policy_server`` resource.

``from_version`` guards a rollback requested for one version: when the server no longer serves it (the
incident is over: someone deployed or rolled back since the request), nothing is sent and the run
succeeds with ``rolled_back: false`` and the reason, instead of replacing whatever is served now.
A rollback the server refuses (no such version, nothing to roll back to) fails the run with the
server's reason.
"""

import dagster as dg
from pydantic import Field

from daf_dagster.resources import PolicyServerResource

#: The tag naming the incident a rollback run was requested for (the sensors set it).
INCIDENT_TAG = "daf/incident"


class RollbackConfig(dg.Config):
    """Which policy goes back to which version, and why."""

    policy_name: str | None = Field(
        default=None, description="The served policy; null: the policy_server resource's."
    )
    to_version: str | None = Field(
        default=None, description="The version to serve; null: the one active before the current one."
    )
    from_version: str | None = Field(
        default=None,
        description="Roll back only while this version is the one served (else nothing is sent); "
        "null: whatever is served.",
    )
    reason: str = Field(default="manual rollback", description="Recorded in the server's history.")
    incident: str | None = Field(
        default=None, description="What triggered the rollback (the sensors' incident id); recorded too."
    )


@dg.op(description="Roll the served policy back to an earlier version on the policy server.")
def rollback_deployment(
    context: dg.OpExecutionContext, config: RollbackConfig, policy_server: PolicyServerResource
) -> dg.Output[dict]:
    """Roll back (unless ``from_version`` is no longer served) and record what the server answered."""
    from daf_core.deployment import daf_rollback_deployment  # noqa: PLC0415 - httpx

    policy = config.policy_name or policy_server.policy_name()
    endpoint = policy_server.server_url()
    with policy_server.client() as client:
        active = client.get_policy(policy)["active_version"]
    common = {"policy_name": policy, "endpoint": endpoint, "incident": config.incident or "none"}
    if config.from_version is not None and active != config.from_version:
        reason = (
            f"{policy} serves {active!r}, not {config.from_version!r}: the incident is over, nothing sent"
        )
        context.log.warning(reason)
        return dg.Output(
            {"rolled_back": False, "active_version": active, "reason": reason},
            metadata={**common, "rolled_back": False, "active_version": str(active), "reason": reason},
        )
    reason = config.reason + (f" (incident {config.incident})" if config.incident else "")
    reason += f" [dagster run {context.run_id}]"
    result = daf_rollback_deployment(
        policy, endpoint, config.to_version, policy_server.auth_token(), reason=reason
    )
    if not result.ok:
        raise RuntimeError(f"rollback of {policy} at {endpoint} failed: {result.message}")
    context.log.info(result.message)
    details = result.details
    return dg.Output(
        {"rolled_back": True, **details},
        metadata={
            **common,
            "rolled_back": True,
            "from_version": str(details["from_version"]),
            "to_version": str(details["to_version"]),
            "event_id": details["event_id"],
            "reason": reason,
        },
    )


@dg.job(
    description="Serve an earlier version of the policy again (the health and failure sensors start it).",
    executor_def=dg.in_process_executor,
)
def rollback_job():
    rollback_deployment()
