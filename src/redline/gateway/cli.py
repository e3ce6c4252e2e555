"""Commands of the gateway: `serve`, and managing tenants and their API keys."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from redline.audit.records import KEY_CHANGE, TENANT_CHANGE, change_record
from redline.commands import audit_sink, load_settings_option

if TYPE_CHECKING:
    from redline.config import Settings
    from redline.gateway.tenants import TenantStore

ConfigOption = typer.Option(None, "--config", "-c", help="Config file (default: ./redline.yaml if present).")
tenants_app = typer.Typer(help="Tenants: the organisations that hold API keys.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys: shown once at creation, stored only as hashes.", no_args_is_help=True)


def _store(settings: Settings) -> TenantStore:
    from redline.gateway.tenants import TenantStore
    from redline.store import connect, migrate

    engine = connect(settings.database.url)
    migrate(engine)
    return TenantStore(engine)


def _change(
    settings: Settings, action: Callable[[TenantStore], dict[str, Any]], kind: str, subject: str, what: str
) -> dict[str, Any]:
    """Run one tenant/key change (`what` was done to `subject`) and append it to the audit log."""
    import anyio

    from redline.gateway.tenants import TenantError

    try:
        details = action(_store(settings))
    except TenantError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    change = {"action": what} | {k: v for k, v in details.items() if k != "key"}
    with audit_sink(settings) as sink:
        anyio.run(sink.append, change_record(kind, actor=getpass.getuser(), subject=subject, change=change))
    return details


@tenants_app.command("create")
def tenants_create(
    name: str,
    tenant_class: str = typer.Option(..., "--class", help="e.g. commercial, federal_civilian, defense."),
    config: Path | None = ConfigOption,
) -> None:
    """Create a tenant."""
    settings = load_settings_option(config)
    _change(settings, lambda store: store.create_tenant(name, tenant_class), TENANT_CHANGE, name, "created")
    typer.echo(f"created tenant {name} ({tenant_class})")


@tenants_app.command("list")
def tenants_list(config: Path | None = ConfigOption) -> None:
    """List tenants."""
    for row in _store(load_settings_option(config)).list_tenants():
        typer.echo(f"{row['name']}\t{row['tenant_class']}\t{row['created_at']:%Y-%m-%dT%H:%M:%SZ}")


@keys_app.command("create")
def keys_create(
    tenant: str = typer.Option(..., "--tenant"),
    model: list[str] | None = typer.Option(
        None, "--model", help="Restrict the key to this model (repeatable)."
    ),
    config: Path | None = ConfigOption,
) -> None:
    """Create an API key; the key is printed once, alone on the last line."""

    def create(store: TenantStore) -> dict[str, Any]:
        key_id, key = store.create_key(tenant, model or None)
        return {"key_id": key_id, "tenant": tenant, "models": model or None, "key": key}

    details = _change(load_settings_option(config), create, KEY_CHANGE, tenant, "key created")
    typer.echo(f"created key {details['key_id']} for tenant {tenant}; store it now, it is not shown again:")
    typer.echo(details["key"])


@keys_app.command("list")
def keys_list(config: Path | None = ConfigOption) -> None:
    """List keys (ids only; keys are not stored)."""
    for row in _store(load_settings_option(config)).list_keys():
        state = "revoked" if row["revoked"] else "active"
        models = ",".join(row["models"] or ["*"])
        typer.echo(
            f"{row['key_id']}\t{row['tenant']}\t{state}\t{models}\t{row['created_at']:%Y-%m-%dT%H:%M:%SZ}"
        )


@keys_app.command("revoke")
def keys_revoke(key_id: str, config: Path | None = ConfigOption) -> None:
    """Revoke a key; gateways stop accepting it within seconds."""
    _change(load_settings_option(config), lambda store: store.revoke_key(key_id), KEY_CHANGE, key_id, "key revoked")
    typer.echo(f"revoked key {key_id}")


def serve(
    config: Path | None = ConfigOption,
    host: str | None = typer.Option(None, help="Default: server.host from the config (127.0.0.1)."),
    port: int | None = typer.Option(None, help="Default: server.port from the config (8080)."),
) -> None:
    """Serve the gateway."""
    import uvicorn

    from redline.gateway.app import create_app

    settings = load_settings_option(config)
    if not settings.providers:
        typer.echo("redline: no providers configured; model calls answer 503, screening is served", err=True)
    app = create_app(settings)  # with the configured audit log, closed when the server stops
    server = settings.server
    host, port = host or server.host, port or server.port
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_keep_alive=server.keep_alive_s)


def register(app: typer.Typer) -> None:
    """Add this subsystem's commands to the root `redline` app."""
    app.command()(serve)
    app.add_typer(tenants_app, name="tenants")
    app.add_typer(keys_app, name="keys")
