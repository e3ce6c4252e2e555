"""`redline audit`: verify the log, prove decisions, check proofs offline, export records, show the key."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from redline.commands import load_settings_option

if TYPE_CHECKING:
    from redline.audit.log import AuditLog

ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="YAML config file (default ./redline.yaml).")
]
DbOption = Annotated[str | None, typer.Option("--db", help="Database URL, overriding the config's.")]


def _log(config: Path | None, db: str | None) -> AuditLog:
    from redline.audit.log import open_log

    return open_log(load_settings_option(config), db)


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(1)


def _since(value: str | None) -> str | None:
    """An ISO 8601 date or time (UTC unless it says otherwise) as the log's timestamp format."""
    from redline.audit.records import timestamp

    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO 8601 date or time: {value!r}") from exc
    return timestamp(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def verify(
    config: ConfigOption = None,
    db: DbOption = None,
    held: Annotated[
        list[Path] | None,
        typer.Option("--held", help="A checkpoint kept outside the log (repeatable): catches rollbacks."),
    ] = None,
) -> None:
    """Recompute the tree from storage and check every checkpoint; exit 1 naming the first problem."""
    from redline.audit.checkpoint import CheckpointError

    log = _log(config, db)
    problem = log.verify()
    for path in held or []:
        if problem is not None:
            break
        try:
            checkpoint = log.signer.verifier.verify(path.read_text(encoding="utf-8"), log.settings.log_origin)
        except (OSError, CheckpointError) as exc:
            raise _fail(f"{path}: {exc}") from exc
        problem = log.check_held(checkpoint)
    if problem is not None:
        raise _fail(f"FAILED: {problem.message}")
    latest = log.latest_checkpoint()
    signed = f"signed up to {latest.checkpoint.size}" if latest else "no checkpoint yet"
    typer.echo(f"ok: {log.size()} entries, {signed}")


def prove(
    decision_id: str,
    config: ConfigOption = None,
    db: DbOption = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write here, not stdout.")] = None,
) -> None:
    """Print a decision's records with inclusion proofs against the latest signed checkpoint (JSON)."""
    from redline.audit.bundle import make_bundle

    log = _log(config, db)
    indexes = log.find(decision_id)
    if not indexes:
        raise _fail(f"no record of decision {decision_id!r}")
    text = json.dumps(make_bundle(log, indexes), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


def check_proof(
    bundle: Annotated[Path, typer.Argument(help="A bundle written by `redline audit prove`.")],
    public_key: Annotated[
        Path | None, typer.Option("--public-key", help="The log's verifier key (`redline audit public-key`).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Check a proof bundle offline: the checkpoint's signature and every record's inclusion proof."""
    from redline.audit.bundle import BundleError, check_bundle
    from redline.audit.checkpoint import CheckpointError, Signer, Verifier

    try:
        if public_key is not None:
            verifier = Verifier.from_vkey(public_key.read_text(encoding="utf-8"))
        else:
            audit = load_settings_option(config).audit
            verifier = Signer.load_or_create(audit.signing_key_path, audit.log_origin).verifier
        checkpoint = check_bundle(json.loads(bundle.read_text(encoding="utf-8")), verifier)
    except (OSError, json.JSONDecodeError, CheckpointError, BundleError) as exc:
        raise _fail(f"FAILED: {exc}") from exc
    typer.echo(f"ok: proven in {checkpoint.origin} at tree size {checkpoint.size}")


def export(
    config: ConfigOption = None,
    db: DbOption = None,
    since: Annotated[str | None, typer.Option("--since", help="Only records from this ISO time on.")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write here, not stdout.")] = None,
) -> None:
    """Write records as JSON lines, `{"index": N, "record": {...}}`, records in their canonical bytes."""
    log = _log(config, db)
    out = sys.stdout.buffer if output is None else output.open("wb")
    try:
        for entry in log.export(_since(since)):
            out.write(b'{"index":%d,"record":%s}\n' % (entry.index, entry.data))
    finally:
        if output is not None:
            out.close()
        else:
            out.flush()


def public_key(config: ConfigOption = None) -> None:
    """Print the log's verifier key (C2SP signed-note format), made with the signing key if needed."""
    from redline.audit.checkpoint import Signer

    audit = load_settings_option(config).audit
    typer.echo(Signer.load_or_create(audit.signing_key_path, audit.log_origin).verifier.vkey)


def register(app: typer.Typer) -> None:
    """Add this subsystem's commands to the root `redline` app."""
    audit = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
    audit.command()(verify)
    audit.command()(prove)
    audit.command("check-proof")(check_proof)
    audit.command()(export)
    audit.command("public-key")(public_key)
    app.add_typer(audit, name="audit")
