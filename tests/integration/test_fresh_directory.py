"""`redline serve` with no config in an empty directory: SQLite ./redline.db created and migrated, the
bundled operator policy in force and audited, model calls answered 503 without providers, the log verifies."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import openai
import pytest

from redline.config import Settings
from tests.gateway.conftest import free_port
from tests.integration.conftest import ROOT, redline_serve


def redline(cwd: Path, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "redline.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_serve_on_a_fresh_directory(tmp_path: Path) -> None:
    redline(tmp_path, "tenants", "create", "acme", "--class", "commercial")
    key = redline(tmp_path, "keys", "create", "--tenant", "acme").splitlines()[-1]
    proc, url = redline_serve(["-m", "redline.cli", "serve"], tmp_path, free_port())
    try:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
        with pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(model="any", messages=[{"role": "user", "content": "hello"}])
        assert info.value.status_code == 503 and "no upstream provider" in info.value.message
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert (tmp_path / "redline.db").exists()
    assert (tmp_path / ".redline" / "audit-signing-key.pem").stat().st_mode & 0o777 == 0o600
    assert redline(tmp_path, "audit", "verify").startswith("ok: ")
    kinds = [json.loads(line)["record"]["kind"] for line in redline(tmp_path, "audit", "export").splitlines()]
    assert kinds == ["tenant_change", "key_change", "policy_change"]  # the bundled policy, applied at startup


def test_serve_keeps_idle_connections_as_configured(tmp_path: Path) -> None:
    """`server.keep_alive_s` reaches uvicorn: an idle kept connection is closed by the gateway only after it
    (the default, 75 s, outlasts client pools and load balancers; uvicorn's own 5 s reset reused connections)."""
    assert Settings().server.keep_alive_s == 75
    (tmp_path / "redline.yaml").write_text("server:\n  keep_alive_s: 1\n")
    proc, url = redline_serve(["-m", "redline.cli", "serve"], tmp_path, free_port())
    try:
        connection = http.client.HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1]), timeout=10)
        try:
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            assert response.status == 200 and not response.will_close
            response.read()  # the whole response (uvicorn may write its head and body separately)
            sock = connection.sock
            assert sock is not None  # kept open for the next request
            time.sleep(2.5)  # idle longer than configured, and well short of uvicorn's own 5 s
            sock.settimeout(1)  # so a connection still open fails the test instead of waiting for 5 s
            assert sock.recv(65536) == b""  # closed by the gateway
        finally:
            connection.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
