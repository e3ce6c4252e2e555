"""`redline tenants` and `redline keys` against a SQLite file, through the real command line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from redline.cli import app
from redline.gateway import cli as gateway_cli
from redline.gateway.tenants import TenantStore
from redline.store import connect
from tests.gateway.conftest import RecordingSink, free_port


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "redline.yaml"
    path.write_text(
        f"database:\n  url: sqlite:///{tmp_path / 'redline.db'}\n"
        f"audit:\n  signing_key_path: {tmp_path / 'audit-key.pem'}\n"
    )
    return path


def run(*args: str | Path) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_tenants_and_keys_lifecycle(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sink = RecordingSink()
    monkeypatch.setattr(gateway_cli, "audit_sink", lambda settings: nullcontext(sink))
    run("tenants", "create", "acme", "--class", "defense", "--config", config)
    assert run("tenants", "list", "--config", config).startswith("acme\tdefense\t")

    out = run("keys", "create", "--tenant", "acme", "--model", "gpt-test", "--config", config)
    key = out.strip().splitlines()[-1]
    assert key.startswith("rl_")
    store = TenantStore(connect(f"sqlite:///{config.parent / 'redline.db'}"))
    principal = store.principal(key)
    assert principal is not None and (principal.tenant, principal.tenant_class, principal.models) == (
        "acme", "defense", ("gpt-test",),
    )  # fmt: skip
    [listed] = run("keys", "list", "--config", config).splitlines()
    assert listed.startswith(f"{principal.key_id}\tacme\tactive\tgpt-test")
    assert key not in listed

    run("keys", "revoke", principal.key_id, "--config", config)
    assert store.principal(key) is None
    assert "\trevoked\t" in run("keys", "list", "--config", config)

    events = [(r["kind"], r["subject"], r["change"]["action"]) for r in sink.records]
    assert events == [
        ("tenant_change", "acme", "created"),
        ("key_change", "acme", "key created"),
        ("key_change", principal.key_id, "key revoked"),
    ]
    assert all(key not in str(r) for r in sink.records)
    assert sink.records[1]["change"]["key_id"] == principal.key_id


def test_errors_are_reported_not_raised(config: Path) -> None:
    result = CliRunner().invoke(app, ["keys", "create", "--tenant", "ghost", "--config", str(config)])
    assert result.exit_code == 1 and "no tenant 'ghost'" in result.stderr
    run("tenants", "create", "acme", "--class", "commercial", "--config", config)
    again = CliRunner().invoke(
        app, ["tenants", "create", "acme", "--class", "commercial", "--config", str(config)]
    )
    assert again.exit_code == 1 and "already exists" in again.stderr


def test_serve_creates_the_database_and_answers(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-m", "redline.cli", "serve", "--port", str(port)]
    with subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.PIPE) as server:
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    health = httpx.get(f"http://127.0.0.1:{port}/healthz")
                    break
                except httpx.ConnectError:
                    assert server.poll() is None and time.monotonic() < deadline, "server did not start"
                    time.sleep(0.1)
            assert health.json() == {"status": "ok"}
            assert httpx.get(f"http://127.0.0.1:{port}/readyz").json()["status"] == "ready"
            assert (tmp_path / "redline.db").exists()
        finally:
            server.terminate()
