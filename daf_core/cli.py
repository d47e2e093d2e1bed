"""The ``daf`` command: thin subcommands over daf_core's functions.

Workflows: ``daf run PIPELINE.yaml`` runs a :class:`~daf_core.config.DAFPipelineConfig` (a table of its
stages; exit 0 only when every stage completed, 1 when one failed, 2 when the config is bad, naming the
field); ``daf train``, ``daf sweep`` and ``daf compare`` run one training, sweep or comparison config;
``daf benchmark`` runs policies on a benchmark suite; ``daf package`` and ``daf validate`` build and
check a policy bundle; ``daf check`` checks the environment (exit 1 when unhealthy). ``--daf-config``
gives the global :class:`~daf_core.config.DAFConfig` where one applies.

``daf serve`` starts the policy server (FastAPI on uvicorn); ``daf token create|list|revoke`` manages its
bearer tokens in the same store. Every flag of ``serve`` is a :class:`~daf_core.server.ServerSettings`
field; a flag left out keeps the field's default, so defaults live in one place, and a bad value stops
the command with the field's name and the value.

Exit status: 0 done, 1 the work ran and failed, 2 bad input (a config, a flag, a missing file). Every
import of daf_core's work happens inside its command, so ``daf --help`` stays fast.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from daf_core.config import DAFConfig
    from daf_core.orchestrators import PipelineResult

logger = logging.getLogger(__name__)

app = typer.Typer(
    name="daf",
    help="DAF: pipelines, training, sweeps, comparisons, benchmarks, policy bundles and the policy server.",
    no_args_is_help=True,
    add_completion=False,
)
token_app = typer.Typer(
    help="Bearer tokens of a policy server (stored hashed; shown once).", no_args_is_help=True
)
app.add_typer(token_app, name="token")

#: Replicas of one server (containers behind a load balancer) share a PostgreSQL database and a bundle
#: directory; these variables give them both without flags (a flag wins).
STORE_DIR_ENV = "DAF_SERVER_STORE_DIR"
DATABASE_URL_ENV = "DAF_SERVER_DATABASE_URL"
StoreDir = Annotated[
    Path | None,
    typer.Option(envvar=STORE_DIR_ENV, help="Bundle directory (and default SQLite database) of the server."),
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        envvar=DATABASE_URL_ENV,
        help="SQLAlchemy URL of the version store (default: sqlite in --store-dir), e.g. "
        "postgresql://user:password@host:5432/db.",
    ),
]


def _settings(config: Path | None = None, **fields: object):  # noqa: ANN202 - imports stay inside
    """``ServerSettings`` from the flags that were given, over a deployment config's when one is given
    (see :meth:`~daf_core.server.settings.ServerSettings.from_deployment_config`); a bad value or a bad
    config file exits with status 2."""
    from daf_core.config import DAFDeploymentConfig  # noqa: PLC0415 - `daf --help` need not load them
    from daf_core.server.settings import ServerSettings  # noqa: PLC0415

    given = {key: value for key, value in fields.items() if value is not None}
    try:
        if config is None:
            return ServerSettings(**given)
        return ServerSettings.from_deployment_config(DAFDeploymentConfig.from_file(config), **given)
    except (ValueError, FileNotFoundError) as err:
        typer.echo(f"daf: {err}", err=True)
        raise typer.Exit(2) from None


@app.command()
def serve(
    config: Annotated[
        Path | None,
        typer.Option(
            help="A DAFDeploymentConfig file: its authentication_server and validation settings "
            "(validation_missions, min_mean_reward, max_action_ms, ...) become the server's; flags win."
        ),
    ] = None,
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (0: any free port, logged).")] = None,
    store_dir: StoreDir = None,
    database_url: DatabaseUrl = None,
    allow_class: Annotated[
        list[str] | None, typer.Option(help="Allowed policy class path (repeat; replaces the default list).")
    ] = None,
    max_upload_bytes: Annotated[int | None, typer.Option(help="Largest accepted bundle upload.")] = None,
    max_archive_entries: Annotated[int | None, typer.Option(help="Most zip entries in a bundle.")] = None,
    max_uncompressed_bytes: Annotated[
        int | None, typer.Option(help="Most uncompressed bytes in a bundle.")
    ] = None,
    max_compression_ratio: Annotated[
        float | None, typer.Option(help="Largest per-entry compression ratio.")
    ] = None,
    authentication_server: Annotated[
        str | None, typer.Option(help="RFC 7662 introspection URL for tokens this server did not issue.")
    ] = None,
    max_sessions: Annotated[int | None, typer.Option(help="Play sessions open at once.")] = None,
    validation_mission: Annotated[
        list[str] | None, typer.Option(help="Mission every upload is validated on (repeat).")
    ] = None,
    validation_episodes: Annotated[int | None, typer.Option(help="Validation episodes per mission.")] = None,
    validation_max_steps: Annotated[
        int | None, typer.Option(help="Cap on each validation episode's steps.")
    ] = None,
    min_mean_reward: Annotated[float | None, typer.Option(help="Uploads scoring less are rejected.")] = None,
    max_action_ms: Annotated[
        float | None, typer.Option(help="Uploads whose slowest action is slower are rejected.")
    ] = None,
    validation_timeout_s: Annotated[
        float | None, typer.Option(help="Wall-clock limit of one validation.")
    ] = None,
    validation_memory_mb: Annotated[
        int | None, typer.Option(help="Memory limit of the validating process.")
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "info",
    access_log: Annotated[bool, typer.Option(help="Log every request (costs time per act request).")] = False,
) -> None:
    """Start the policy server (the `deployment_endpoint` of DAFDeploymentConfig)."""
    import uvicorn  # noqa: PLC0415

    from daf_core.server.app import create_app  # noqa: PLC0415

    settings = _settings(
        config,
        host=host,
        port=port,
        store_dir=store_dir,
        database_url=database_url,
        allowed_class_paths=allow_class or None,
        max_upload_bytes=max_upload_bytes,
        max_archive_entries=max_archive_entries,
        max_uncompressed_bytes=max_uncompressed_bytes,
        max_compression_ratio=max_compression_ratio,
        authentication_server=authentication_server,
        max_sessions=max_sessions,
        validation_missions=validation_mission or None,
        validation_episodes=validation_episodes,
        validation_max_steps=validation_max_steps,
        min_mean_reward=min_mean_reward,
        max_action_ms=max_action_ms,
        validation_timeout_s=validation_timeout_s,
        validation_memory_mb=validation_memory_mb,
    )
    try:
        server_app = create_app(settings)
    except ValueError as err:
        typer.echo(f"daf: {err}", err=True)
        raise typer.Exit(2) from None
    uvicorn.run(
        server_app, host=settings.host, port=settings.port, log_level=log_level, access_log=access_log
    )


def _store(store_dir: Path | None, database_url: str | None):  # noqa: ANN202
    from daf_core.server.store import Store  # noqa: PLC0415

    settings = _settings(store_dir=store_dir, database_url=database_url)
    settings.store_dir.mkdir(parents=True, exist_ok=True)
    return Store(settings.resolved_database_url)


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option(help="Who holds the token; recorded as the actor of their changes.")],
    scope: Annotated[
        list[str], typer.Option(help="admin (deploy, roll back; implies act) or act (play). Repeat.")
    ],
    store_dir: StoreDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a token and print it (only its hash is stored: this is the one time it is shown)."""
    from daf_core.server.store import ConflictError  # noqa: PLC0415
    from daf_core.server.tokens import create_token  # noqa: PLC0415

    store = _store(store_dir, database_url)
    try:
        token, _record = create_token(store, name, scope)
    except (ValueError, ConflictError) as err:
        typer.echo(f"daf: {err}", err=True)
        raise typer.Exit(2) from None
    finally:
        store.close()
    typer.echo(token)


@token_app.command("list")
def token_list(store_dir: StoreDir = None, database_url: DatabaseUrl = None) -> None:
    """Name, scopes, creation time and state of every token (never the tokens themselves)."""
    store = _store(store_dir, database_url)
    try:
        for record in store.tokens():
            state = "revoked" if record.revoked else "active"
            typer.echo(f"{record.name}\t{' '.join(record.scopes)}\t{record.created_at.isoformat()}\t{state}")
    finally:
        store.close()


@token_app.command("revoke")
def token_revoke(
    name: Annotated[str, typer.Option(help="The token's name.")],
    store_dir: StoreDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a token: requests carrying it get 403 from then on."""
    from daf_core.server.store import UnknownError  # noqa: PLC0415

    store = _store(store_dir, database_url)
    try:
        store.revoke_token(name)
    except UnknownError as err:
        typer.echo(f"daf: {err}", err=True)
        raise typer.Exit(2) from None
    finally:
        store.close()
    typer.echo(f"revoked {name}")


# --------------------------------------------------------------------------------------------------
# Workflows
# --------------------------------------------------------------------------------------------------

DafConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--daf-config",
        help="A DAFConfig file: output and checkpoint directories, parallel jobs, logging, tracking.",
    ),
]
ConfigOption = Annotated[Path, typer.Option("--config", help="The config file (YAML or JSON).")]


def _exit(message: str, code: int) -> NoReturn:
    typer.echo(f"daf: {message}", err=True)
    raise typer.Exit(code)


def _load(model: Any, path: Path) -> Any:
    """``model`` from ``path``; a missing or bad file exits with status 2 and the message naming it."""
    try:
        return model.from_file(path)
    except (ValueError, FileNotFoundError) as err:
        _exit(str(err), 2)


def _daf_config(path: Path | None) -> DAFConfig | None:
    from daf_core.config import DAFConfig  # noqa: PLC0415

    return _load(DAFConfig, path) if path is not None else None


def _jobs(daf_config: DAFConfig | None) -> int:
    """Episode workers: the DAFConfig's ``max_parallel_jobs`` when one is given, else 1."""
    return daf_config.max_parallel_jobs if daf_config is not None else 1


def _console() -> Console:
    from rich.console import Console  # noqa: PLC0415

    return Console()


@app.command("run")
def run_pipeline(
    pipeline: Annotated[Path, typer.Argument(help="A DAFPipelineConfig file (YAML or JSON).")],
    output_dir: Annotated[
        Path | None, typer.Option(help="Write under DIR/<name>/ instead of the config's output_dir.")
    ] = None,
    stage: Annotated[
        list[str] | None,
        typer.Option(help="Run these stages instead of the config's, in this order (repeat)."),
    ] = None,
    stop_on_failure: Annotated[
        bool | None,
        typer.Option(
            "--stop-on-failure/--keep-going",
            help="Stop at the first failed stage, or run every stage that does not depend on it "
            "(default: the config's stop_on_failure).",
        ),
    ] = None,
    parallel: Annotated[
        bool | None,
        typer.Option(
            "--parallel/--sequential",
            help="Start each stage once its dependencies are done, or one at a time "
            "(default: the config's parallel_stages).",
        ),
    ] = None,
    daf_config: DafConfigOption = None,
    progress: Annotated[bool, typer.Option(help="Show each stage's state while it runs.")] = True,
) -> None:
    """Run a pipeline's stages and print how each ended; exit 0 only when every stage completed."""
    from daf_core.config import DAFPipelineConfig  # noqa: PLC0415
    from daf_core.orchestrators import daf_run_pipeline  # noqa: PLC0415

    config = _load(DAFPipelineConfig, pipeline)
    changes = {
        "output_dir": str(output_dir) if output_dir is not None else None,
        "stages": stage or None,
        "stop_on_failure": stop_on_failure,
        "parallel_stages": parallel,
        "daf_config": str(daf_config) if daf_config is not None else None,
    }
    try:
        config = config.with_changes(**{key: value for key, value in changes.items() if value is not None})
        result = daf_run_pipeline(config, show_progress=progress)
    except (ValueError, FileNotFoundError) as err:
        _exit(f"{pipeline}: {err}", 2)
    _print_pipeline(result)
    raise typer.Exit(0 if result.is_success() else 1)


def _print_pipeline(result: PipelineResult) -> None:
    from rich.table import Table  # noqa: PLC0415

    table = Table(title=f"pipeline {result.pipeline_name}: {result.status}")
    for column in ("stage", "status", "seconds", "details"):
        table.add_column(column, justify="right" if column == "seconds" else "left")
    colour = {"success": "green", "failed": "red", "skipped": "yellow"}
    for stage in result.stages:
        details = stage.error or stage.reason or stage.summary.get("headline", "")
        table.add_row(stage.name, f"[{colour[stage.status]}]{stage.status}", f"{stage.seconds:.1f}", details)
    _console().print(table)
    for line in result.errors:
        typer.echo(f"failed: {line}")
    typer.echo(
        f"{result.status}: {len(result.stages_completed)} of {len(result.stages)} stages completed in "
        f"{result.total_time_seconds:.1f} s; result: {Path(str(result.output_dir)) / 'pipeline_result.json'}"
    )


@app.command()
def train(config: ConfigOption, daf_config: DafConfigOption = None) -> None:
    """Train (or resume) one DAFTrainingConfig run; prints its checkpoint."""
    from daf_core.config import DAFTrainingConfig  # noqa: PLC0415
    from daf_core.distributed_training import daf_launch_distributed_training  # noqa: PLC0415

    training = _load(DAFTrainingConfig, config)
    global_config = _daf_config(daf_config)
    try:
        result = daf_launch_distributed_training(training_config=training, daf_config=global_config)
    except (RuntimeError, ValueError, FileNotFoundError, ImportError) as err:
        _exit(f"training failed: {err}", 1)
    typer.echo(f"run: {result.run_dir}")
    typer.echo(f"checkpoint: {result.final_checkpoint}")
    typer.echo(
        f"{result.training_steps} agent steps on {result.num_workers} worker(s), "
        f"{result.training_rate():.0f} steps/s"
    )


@app.command()
def sweep(config: ConfigOption, daf_config: DafConfigOption = None) -> None:
    """Run (or continue) a DAFSweepConfig sweep; prints its best trials."""
    from daf_core.config import DAFSweepConfig  # noqa: PLC0415
    from daf_core.sweeps import daf_launch_sweep  # noqa: PLC0415

    sweep_config = _load(DAFSweepConfig, config)
    global_config = _daf_config(daf_config)
    try:
        result = daf_launch_sweep(sweep_config, global_config)
    except (RuntimeError, ValueError, FileNotFoundError, ImportError) as err:
        _exit(f"sweep failed: {err}", 1)
    result.print_summary(_console())
    typer.echo(f"results: {Path(sweep_config.output_dir) / sweep_config.name / 'results.json'}")


@app.command()
def compare(config: ConfigOption, daf_config: DafConfigOption = None) -> None:
    """Compare a DAFComparisonConfig's policies on the same seeds; prints the leaderboard."""
    from daf_core.config import DAFComparisonConfig  # noqa: PLC0415
    from daf_core.orchestrators import daf_compare_from_config  # noqa: PLC0415
    from daf_core.visualization import daf_generate_leaderboard  # noqa: PLC0415

    comparison = _load(DAFComparisonConfig, config)
    global_config = _daf_config(daf_config)
    folder = Path(comparison.output_dir) / comparison.name
    try:
        report = daf_compare_from_config(
            comparison, max_parallel_jobs=_jobs(global_config), daf_config=global_config
        )
    except (RuntimeError, ValueError, FileNotFoundError, ImportError) as err:
        _exit(f"comparison failed: {err}", 1)
    typer.echo(daf_generate_leaderboard(report, folder / "leaderboard.md"))
    typer.echo(f"report: {folder}")


@app.command()
def benchmark(
    suite: Annotated[str, typer.Option(help="A benchmark suite: quick or standard.")] = "standard",
    policy: Annotated[
        list[str] | None,
        typer.Option(help="A policy to benchmark (shorthand, class path, checkpoint). Repeat."),
    ] = None,
    episodes: Annotated[
        int | None,
        typer.Option(help="Episodes per mission instead of the suite's (changes its fingerprint)."),
    ] = None,
    output_dir: Annotated[Path, typer.Option(help="The report goes to DIR/<suite>/.")] = Path(
        "./daf_output/benchmarks"
    ),
) -> None:
    """Run policies on a benchmark suite; prints the leaderboard."""
    from daf_core.comparison import daf_benchmark_suite  # noqa: PLC0415
    from daf_core.visualization import daf_generate_leaderboard  # noqa: PLC0415

    if not policy:
        _exit("benchmark: give at least one --policy", 2)
    folder = output_dir / suite
    try:
        report = daf_benchmark_suite(policy, suite, episodes_per_mission=episodes, output_dir=folder)
    except (ValueError, FileNotFoundError) as err:
        _exit(str(err), 2)
    except RuntimeError as err:
        _exit(f"benchmark failed: {err}", 1)
    typer.echo(daf_generate_leaderboard(report, folder / "leaderboard.md"))
    typer.echo(f"report: {folder}")


@app.command()
def package(
    policy_class_path: Annotated[
        str, typer.Argument(help="The policy's class: a shorthand (lstm) or class path.")
    ],
    weights: Annotated[
        Path | None, typer.Option(help="A weights file or a checkpoint run directory (none: no weights).")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="The bundle's policy name (default: from the run).")
    ] = None,
    version: Annotated[str, typer.Option(help="The bundle's semantic version.")] = "0.1.0",
    output_dir: Annotated[Path, typer.Option(help="Where <name>-<version>.zip goes.")] = Path(
        "./daf_output/packages"
    ),
    mission: Annotated[
        str | None, typer.Option(help="The mission whose interface the policy plays (default: the run's).")
    ] = None,
) -> None:
    """Package a policy as a cogames bundle with DAF's manifest; prints its path and sha256."""
    from daf_core.deployment import daf_package_policy  # noqa: PLC0415

    try:
        result = daf_package_policy(
            policy_class_path,
            weights,
            policy_name=name,
            version=version,
            output_dir=output_dir,
            mission=mission,
        )
    except (ValueError, FileNotFoundError) as err:
        _exit(str(err), 2)
    if not result.ok:
        _exit(result.message, 1)
    typer.echo(f"bundle: {result.package_path}")
    typer.echo(f"sha256: {result.details['sha256']}")


@app.command()
def validate(
    bundle: Annotated[
        Path | None, typer.Argument(help="A bundle zip (or unpacked bundle directory).")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            help="A DAFDeploymentConfig: its validation settings; without a bundle, its policy is packaged "
            "and validated."
        ),
    ] = None,
    mission: Annotated[list[str] | None, typer.Option(help="A validation mission (repeat).")] = None,
    episodes: Annotated[int | None, typer.Option(help="Episodes per validation mission.")] = None,
) -> None:
    """Play a bundle in a fresh, limited interpreter and judge it; exit 1 when it fails."""
    from daf_core.config import DAFDeploymentConfig  # noqa: PLC0415
    from daf_core.deployment import (  # noqa: PLC0415
        daf_validate_deployment,
        validate_bundle,
        validate_bundle_config,
    )

    if bundle is None and config is None:
        _exit("validate: give a bundle, a --config, or both", 2)
    if config is None and not mission:
        _exit("validate: give the validation missions (--mission), or a --config that lists them", 2)
    deployment = _load(DAFDeploymentConfig, config) if config is not None else None
    overrides: dict[str, Any] = {"validation_missions": list(mission)} if mission else {}
    if episodes is not None:
        overrides["validation_episodes"] = episodes
    try:
        if deployment is None:
            report = validate_bundle(bundle, missions=list(mission or []), **_episodes(episodes))
            summary, passed = report.summary(), report.passed
        elif bundle is None:
            outcome = daf_validate_deployment(
                deployment.policy_class_path,
                deployment.weights_path,
                config=deployment,
                **overrides,
            )
            summary, passed = outcome.message, outcome.ok
        else:
            checked = DAFDeploymentConfig.from_dict({**deployment.to_dict(), **overrides})
            report = validate_bundle_config(bundle, checked)
            summary, passed = report.summary(), report.passed
    except (ValueError, FileNotFoundError) as err:
        _exit(str(err), 2)
    typer.echo(summary)
    raise typer.Exit(0 if passed else 1)


def _episodes(episodes: int | None) -> dict[str, int]:
    return {"episodes": episodes} if episodes is not None else {}


@app.command()
def check(
    mission: Annotated[list[str] | None, typer.Option(help="A mission to build and check (repeat).")] = None,
    checkpoint_dir: Annotated[
        Path | None,
        typer.Option(help="Where free disk space is checked (default: the DAFConfig's checkpoint_dir)."),
    ] = None,
    min_disk_gb: Annotated[float, typer.Option(help="Free space needed there.")] = 10.0,
    cuda: Annotated[bool, typer.Option(help="Check CUDA (a CPU-only machine passes with a warning).")] = True,
    require_cuda: Annotated[bool, typer.Option(help="Fail when no CUDA device is usable.")] = False,
    daf_config: DafConfigOption = None,
) -> None:
    """Check dependencies, CUDA, disk space and missions before a run; exit 1 when unhealthy."""
    from daf_core.config import DAFConfig  # noqa: PLC0415
    from daf_core.environment_checks import daf_check_environment  # noqa: PLC0415

    global_config = _daf_config(daf_config) or DAFConfig()
    result = daf_check_environment(
        mission or None,
        check_cuda=cuda,
        checkpoint_dir=checkpoint_dir or global_config.checkpoint_dir,
        min_available_gb=min_disk_gb,
        require_cuda=require_cuda,
    )
    typer.echo(result.summary())
    raise typer.Exit(0 if result.is_healthy() else 1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
