"""The ``daf`` command: thin subcommands over daf_core's functions.

``daf serve`` starts the policy server (FastAPI on uvicorn); ``daf token create|list|revoke`` manages its
bearer tokens in the same store. Every flag of ``serve`` is a :class:`~daf_core.server.ServerSettings`
field; a flag left out keeps the field's default, so defaults live in one place, and a bad value stops
the command with the field's name and the value.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

logger = logging.getLogger(__name__)

app = typer.Typer(
    name="daf", help="DAF: the policy server and its tokens.", no_args_is_help=True, add_completion=False
)
token_app = typer.Typer(
    help="Bearer tokens of a policy server (stored hashed; shown once).", no_args_is_help=True
)
app.add_typer(token_app, name="token")

StoreDir = Annotated[
    Path | None, typer.Option(help="Bundle directory (and default SQLite database) of the server.")
]
DatabaseUrl = Annotated[
    str | None, typer.Option(help="SQLAlchemy URL of the version store (default: sqlite in --store-dir).")
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
