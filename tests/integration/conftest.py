"""The whole system, as deployed: the gateway app with its real audit log, policy service and designation
routing on one SQLite database, served by uvicorn, in front of the fake upstream (two providers, A and B).
Only the classifier is the marker-based test screener, so the mechanics are exact."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from redline.cli import app as cli
from redline.config import load_settings
from redline.gateway.app import create_app
from redline.gateway.components import Components
from redline.gateway.screening import Screener, ScreenFunction
from redline.gateway.tenants import TenantStore
from redline.store import connect, migrate
from tests.gateway.conftest import ServerThread
from tests.gateway.screener import marker_screener
from tests.gateway.upstream import FakeUpstream
from tests.policy.support import EXAMPLES, Clock

ROOT = Path(__file__).parents[2]
ADMIN_TOKEN_ENV = "REDLINE_TEST_ADMIN_TOKEN"
ADMIN_TOKEN = "integration-admin-token"
MODEL = "frontier-large"  # served by provider A; provider B serves it as b-frontier-large
TENANTS = {"interior-records": "federal_civilian", "army-logistics": "defense", "northwind": "commercial"}


@pytest.fixture(scope="session")
def upstream() -> Iterator[tuple[str, FakeUpstream]]:
    fake = FakeUpstream()
    with ServerThread(fake.app()) as url:
        yield url, fake


def redline_serve(args: list[str], cwd: Path, port: int) -> tuple[subprocess.Popen[bytes], str]:
    """`python ARGS --port PORT` (a `redline serve` command line) in its own process; returns once it answers."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    command = [sys.executable, *args, "--port", str(port)]
    proc = subprocess.Popen(command, env=env, cwd=cwd, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{url}/healthz")
            return proc, url
        except httpx.TransportError:
            assert proc.poll() is None and time.monotonic() < deadline, "redline serve did not start"
            time.sleep(0.1)


def write_config(directory: Path, upstream_url: str) -> Path:
    """A redline.yaml for a deployment in `directory`: SQLite, providers A and B, the example contracts."""
    path = directory / "redline.yaml"
    path.write_text(
        f"""\
server:
  admin_token_env: {ADMIN_TOKEN_ENV}
database:
  url: sqlite:///{directory / "redline.db"}
providers:
  - {{name: provider-a, kind: openai, base_url: "{upstream_url}/pa/v1", models: [{MODEL}, gpt-test]}}
  - {{name: provider-b, kind: anthropic, base_url: "{upstream_url}/pb/v1", models: [b-frontier-large]}}
screening:
  output_window_chars: 100
audit:
  signing_key_path: {directory / "audit-key.pem"}
  log_origin: integration.redline/audit
  checkpoint_every_entries: 50
policy:
  contracts_dir: {EXAMPLES / "contracts"}
"""
    )
    return path


def make_tenants(config: Path) -> dict[str, str]:
    """The example tenants, each with one key: tenant -> key."""
    engine = connect(load_settings(config).database.url)
    migrate(engine)
    store = TenantStore(engine)
    keys = {}
    for tenant, tenant_class in TENANTS.items():
        store.create_tenant(tenant, tenant_class)
        keys[tenant] = store.create_key(tenant)[1]
    engine.dispose()
    return keys


@dataclass
class Deployment:
    url: str
    config: Path
    keys: dict[str, str]
    clock: Clock
    upstream: FakeUpstream
    parts: Components

    def redline(self, *args: str) -> str:
        """Run a `redline` command against this deployment; it must succeed."""
        result = CliRunner().invoke(cli, [*args, "--config", str(self.config)])
        assert result.exit_code == 0, result.output
        return result.stdout


@contextmanager
def deploy(
    tmp_path: Path, upstream: tuple[str, FakeUpstream], screener: Screener | ScreenFunction | None
) -> Iterator[Deployment]:
    """The gateway of `write_config(tmp_path)` in a server thread; `screener` None: redline's classifier."""
    url, fake = upstream
    fake.reset()
    config = write_config(tmp_path, url)
    keys = make_tenants(config)
    clock = Clock(datetime(2026, 1, 15, tzinfo=UTC))
    app = create_app(load_settings(config), screener=screener, clock=clock)
    with ServerThread(app) as gateway:
        yield Deployment(gateway, config, keys, clock, fake, app.state.components)


@pytest.fixture
def deployment(
    tmp_path: Path, upstream: tuple[str, FakeUpstream], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Deployment]:
    """The whole system with the marker screener."""
    monkeypatch.setenv(ADMIN_TOKEN_ENV, ADMIN_TOKEN)
    with deploy(tmp_path, upstream, marker_screener) as deployed:
        yield deployed
