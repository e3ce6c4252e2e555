"""Commands of the policy subsystem: `policy`, `designations` and `contracts`.

Heavy modules are imported inside the commands so that `redline --help` stays fast.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from redline.commands import audit_sink, load_settings_option

if TYPE_CHECKING:
    from redline.audit.sink import AuditSink
    from redline.config import Settings
    from redline.policy.loader import Loaded
    from redline.policy.model import Designation
    from redline.policy.service import PolicyService

T = TypeVar("T")
ConfigOption = typer.Option(None, "--config", "-c", help="Config file (default: ./redline.yaml if present).")
FileArgument = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="A policy YAML file.")
policy_app = typer.Typer(
    help="Policy files: validate them, apply the operator policy, show a tenant's effective policy.",
    no_args_is_help=True,
)
designations_app = typer.Typer(help="Supply-chain designations against providers.", no_args_is_help=True)
contracts_app = typer.Typer(
    help="Tenant contracts: overlays that may only add restrictions.", no_args_is_help=True
)


@contextmanager
def _refusals() -> Iterator[None]:
    """Policy errors and unknown names end the command with their message and status 1, not a trace."""
    from redline.policy.loader import PolicyError
    from redline.policy.service import NotFound

    try:
        yield
    except (PolicyError, NotFound) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc


def _service(settings: Settings, sink: AuditSink | None = None) -> PolicyService:
    """The policy service; commands that change policy use `_acting`, so their changes are audited."""
    from redline.gateway.tenants import TenantStore
    from redline.policy.loader import operator_policy
    from redline.policy.service import PolicyService
    from redline.policy.store import PolicyStore
    from redline.store.db import connect, migrate

    engine = connect(settings.database.url)
    migrate(engine)
    with _refusals():
        operator = operator_policy(settings.policy.operator_policy)
    return PolicyService(PolicyStore(engine), sink, operator=operator, tenant_classes=TenantStore(engine).classes)


@contextmanager
def _acting(settings: Settings) -> Iterator[PolicyService]:
    """The policy service for a command that changes policy, recording into the audit log."""
    with audit_sink(settings) as sink:
        yield _service(settings, sink)


def _run(act: Callable[[], Coroutine[Any, Any, T]]) -> T:
    import anyio

    with _refusals():
        return anyio.run(act)


def _load(path: Path, settings: Settings) -> list[Loaded]:
    from redline.policy.loader import load, operator_policy

    with _refusals():
        return load(path, operator_policy(settings.policy.operator_policy))


def _yaml(data: Any) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


@policy_app.command("validate")
def policy_validate(files: list[Path], config: Path | None = ConfigOption) -> None:
    """Validate policy files; each error names file, line and field. Exit status 1 if any fails."""
    from redline.policy.loader import PolicyError, load, operator_policy

    settings = load_settings_option(config)
    with _refusals():
        operator = operator_policy(settings.policy.operator_policy)
    failed = False
    for path in files:
        try:
            docs = load(path, operator)
        except PolicyError as exc:
            typer.echo(str(exc), err=True)
            failed = True
            continue
        typer.echo(f"{path}: ok ({', '.join(d.kind for d in docs)})")
    if failed:
        raise typer.Exit(1)


@policy_app.command("apply")
def policy_apply(file: Path = FileArgument, config: Path | None = ConfigOption) -> None:
    """Make FILE the operator policy: an operator act, stored as a new version and audited. Running gateways
    adopt it within 5 s; point `policy.operator_policy` in the config at the same file, or the next start
    applies the config's operator policy again (another audited change)."""
    from redline.policy.loader import load_operator_policy
    from redline.policy.model import OperatorPolicy

    with _refusals():
        policy = load_operator_policy(file).model
    assert isinstance(policy, OperatorPolicy)
    with _acting(load_settings_option(config)) as service:
        changed = _run(lambda: service.apply_operator_policy(policy, getpass.getuser()))
    state = "applied" if changed else "already in force:"
    typer.echo(f"{state} operator policy {policy.version}, version {policy.version_hash[:12]}")


@policy_app.command("show")
def policy_show(
    tenant: str = typer.Option(..., "--tenant", help="The tenant whose effective policy to show."),
    config: Path | None = ConfigOption,
) -> None:
    """The effective policy of a tenant: every clause, with the file and line it came from."""
    from redline.policy.show import effective_report

    settings = load_settings_option(config)
    with _refusals():
        typer.echo(effective_report(settings, tenant), nl=False)


@designations_app.command("add")
def designations_add(file: Path = FileArgument, config: Path | None = ConfigOption) -> None:
    """Add (or replace) the designations in FILE."""
    from redline.policy.model import Designation

    settings = load_settings_option(config)
    docs = [d.model for d in _load(file, settings) if isinstance(d.model, Designation)]
    with _acting(settings) as service:

        async def add() -> None:
            for d in docs:
                await service.add_designation(d, getpass.getuser())

        _run(add)
    for d in docs:
        typer.echo(f"added {d.id} ({d.status.value}), version {d.version_hash[:12]}")


def _summary(d: Designation) -> str:
    deadline = d.phaseout_deadline.isoformat() if d.phaseout_deadline else "-"
    scope = ",".join(d.scope.tenant_classes + d.scope.tenants + d.scope.systems)
    return "\t".join(
        [d.id, d.status.value, ",".join(d.subject_providers), scope, d.effective_at.isoformat(), deadline]
    )


@designations_app.command("list")
def designations_list(config: Path | None = ConfigOption) -> None:
    """List designations: id, status, providers, scope, effective time, phase-out deadline."""
    for d in _service(load_settings_option(config)).store.designations():
        typer.echo(_summary(d))


@designations_app.command("show")
def designations_show(designation_id: str, config: Path | None = ConfigOption) -> None:
    """Show one designation as YAML."""
    service = _service(load_settings_option(config))
    d = _run(lambda: service.designation(designation_id))
    typer.echo(_yaml({"kind": "designation", **d.model_dump(mode="json")}), nl=False)


@designations_app.command("lift")
def designations_lift(
    designation_id: str,
    status: str = typer.Option("enjoined", "--status", help="enjoined or rescinded."),
    config: Path | None = ConfigOption,
) -> None:
    """Lift a designation (an injunction or a rescission): it stops having any effect."""
    from redline.policy.model import LegalStatus

    if status not in (LegalStatus.ENJOINED, LegalStatus.RESCINDED):
        raise typer.BadParameter("must be enjoined or rescinded", param_hint="--status")
    with _acting(load_settings_option(config)) as service:
        d = _run(lambda: service.set_status(designation_id, LegalStatus(status), getpass.getuser()))
    typer.echo(f"{d.id} is now {d.status.value}")


@designations_app.command("impact")
def designations_impact(
    designation_id: str,
    days: int = typer.Option(30, help="How many days of traffic to report."),
    config: Path | None = ConfigOption,
) -> None:
    """Who a designation affects: tenants and keys, recent traffic by model, days left, successors."""
    service = _service(load_settings_option(config))
    impact = _run(lambda: service.impact(designation_id, days))
    typer.echo(_summary(impact.designation))
    if not impact.tenants:
        typer.echo("no tenant in scope")
    for t in impact.tenants:
        left = "-" if t.days_left is None else f"{t.days_left} days left"
        typer.echo(f"{t.tenant} ({t.tenant_class}) on {t.provider}: {t.state}, {left}")
        for row in t.traffic:
            successor = t.successors.get(row.model) or "no successor"
            typer.echo(f"  key {row.key_id}\t{row.model}\t{row.requests} requests\t-> {successor}")


@contracts_app.command("apply")
def contracts_apply(file: Path = FileArgument, config: Path | None = ConfigOption) -> None:
    """Apply a tenant contract. A contract that weakens a red line is refused and the attempt recorded."""
    text = file.read_text(encoding="utf-8")
    with _acting(load_settings_option(config)) as service:
        contract = _run(lambda: service.apply_contract(text, str(file), getpass.getuser()))
    typer.echo(f"applied contract of {contract.tenant}, version {contract.version_hash[:12]}")


@contracts_app.command("show")
def contracts_show(tenant: str, config: Path | None = ConfigOption) -> None:
    """Show the contract applied for TENANT, with its version hash."""
    service = _service(load_settings_option(config))
    contract = _run(lambda: service.contract(tenant))
    typer.echo(f"# version {contract.version_hash}")
    typer.echo(
        _yaml({"kind": "contract", **contract.model_dump(mode="json", exclude_defaults=True)}), nl=False
    )


@contracts_app.command("diff")
def contracts_diff(file: Path = FileArgument, config: Path | None = ConfigOption) -> None:
    """What applying FILE would change, as a unified diff against the applied contract."""
    import difflib

    from redline.policy.model import TenantContract

    settings = load_settings_option(config)
    store = _service(settings).store
    for new in (d.model for d in _load(file, settings) if isinstance(d.model, TenantContract)):
        old = store.contract(new.tenant)
        before = _yaml(old.model_dump(mode="json", exclude_defaults=True)) if old else ""
        after = _yaml(new.model_dump(mode="json", exclude_defaults=True))
        diff = difflib.unified_diff(
            before.splitlines(keepends=True), after.splitlines(keepends=True), "applied", str(file)
        )
        typer.echo("".join(diff) or f"{new.tenant}: no change\n", nl=False)


def register(app: typer.Typer) -> None:
    """Add this subsystem's commands to the root `redline` app."""
    app.add_typer(policy_app, name="policy")
    app.add_typer(designations_app, name="designations")
    app.add_typer(contracts_app, name="contracts")
