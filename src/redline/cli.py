"""The `redline` command. A thin layer: each subsystem registers its own commands."""

from __future__ import annotations

import typer

from redline.audit.cli import register as register_audit
from redline.gateway.cli import register as register_gateway
from redline.policy.cli import register as register_policy
from redline.screening.cli import register as register_screening

app = typer.Typer(
    name="redline",
    help="A policy gateway for AI model APIs: no mass domestic surveillance, no fully autonomous weapons.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def main() -> None:
    """redline: screen, serve, audit and govern AI model traffic."""



@app.command()
def version() -> None:
    """Print redline's version."""
    from redline import __version__

    typer.echo(__version__)


register_screening(app)
register_gateway(app)
register_audit(app)
register_policy(app)

if __name__ == "__main__":
    app()
