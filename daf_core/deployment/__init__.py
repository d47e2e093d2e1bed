"""Deployment: a trained policy as a cogames bundle, validated in isolation, served, watched, rolled back.

``daf_package_policy`` writes a cogames submission zip with DAF's manifest (byte-identical for the same
inputs); ``check_archive``/``safe_extract`` refuse hostile zips before anything is written;
``validate_bundle``/``daf_validate_deployment`` play the bundle in a fresh, limited interpreter and
fail it when it cannot load, only emits no-ops, is too slow, scores too little or overruns its limits.
``daf_deploy_policy`` uploads and activates it on a policy server (``daf serve``, through
``PolicyServerClient``) or, with ``target="cogames_tournament"``, submits it as cogames does;
``daf_monitor_deployment`` judges the active version by the config's health rules and
``daf_rollback_deployment`` brings the previous one back. ``fetch_active_bundle`` downloads (and checks)
the bundle a server serves; ``promotion_decision`` is the promotion gate's rule over paired benchmark
episodes and ``daf_promote_policy`` benchmarks a candidate against the served version and deploys it
only when the rule says it is better. ``remote_policy`` (not imported here: it loads
mettagrid) plays and evaluates a deployed version through the server.

Importing this package loads neither torch nor mettagrid: each step imports them when it runs.
"""

from daf_core.deployment.archive_safety import ArchiveLimits, UnsafeArchiveError, check_archive, safe_extract
from daf_core.deployment.bundle import daf_package_policy, deterministic_zip
from daf_core.deployment.client import PolicyServerClient, PolicyServerError, fetch_active_bundle
from daf_core.deployment.deploy import daf_deploy_policy, daf_rollback_deployment
from daf_core.deployment.manifest import (
    MANIFEST_FILENAME,
    BundleManifest,
    BundleSource,
    read_manifest,
    verify_bundle,
)
from daf_core.deployment.monitor import HealthRules, assess_health, daf_monitor_deployment
from daf_core.deployment.promotion import (
    MissionComparison,
    PromotionDecision,
    PromotionResult,
    daf_promote_policy,
    promotion_decision,
)
from daf_core.deployment.result import DeploymentResult, DeploymentStatus
from daf_core.deployment.tournament import daf_submit_to_tournament, tournament_requests
from daf_core.deployment.validation import (
    ValidationReport,
    daf_validate_deployment,
    validate_bundle,
    validate_bundle_config,
)

__all__ = [
    "MANIFEST_FILENAME",
    "ArchiveLimits",
    "BundleManifest",
    "BundleSource",
    "DeploymentResult",
    "DeploymentStatus",
    "HealthRules",
    "MissionComparison",
    "PolicyServerClient",
    "PolicyServerError",
    "PromotionDecision",
    "PromotionResult",
    "UnsafeArchiveError",
    "ValidationReport",
    "assess_health",
    "check_archive",
    "daf_deploy_policy",
    "daf_monitor_deployment",
    "daf_package_policy",
    "daf_promote_policy",
    "daf_rollback_deployment",
    "daf_submit_to_tournament",
    "daf_validate_deployment",
    "deterministic_zip",
    "fetch_active_bundle",
    "promotion_decision",
    "read_manifest",
    "safe_extract",
    "tournament_requests",
    "validate_bundle",
    "validate_bundle_config",
    "verify_bundle",
]
