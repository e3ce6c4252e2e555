"""Crash test through the gateway: `redline serve` on SQLite under concurrent load is killed with SIGKILL and
restarted; every decision id any client received is in the audit log, and the log verifies."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx

from redline.audit.log import open_log
from redline.config import load_settings
from tests.gateway.conftest import free_port
from tests.gateway.upstream import FakeUpstream
from tests.integration.conftest import MODEL, make_tenants, redline_serve, write_config

CLIENTS = 16
BEFORE_KILL = 300  # decisions received before the kill


def serve(config: Path, port: int) -> tuple[subprocess.Popen[bytes], str]:
    command = ["-m", "tests.integration.marker_serve", "serve", "--config", str(config)]
    return redline_serve(command, config.parent, port)


def load(url: str, key: str, received: list[str], stop: threading.Event, n: int) -> None:
    """Allowed and refused requests until stopped or the server is gone; notes every decision id received."""
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {key}"}, timeout=30) as client:
        i = 0
        while not stop.is_set():
            text = "REDLINE-TEST-SURVEIL" if i % 3 == 0 else f"hello from {n}, request {i}"
            try:
                response = client.post(
                    "/v1/chat/completions", json={"model": MODEL, "messages": [{"role": "user", "content": text}]}
                )
            except httpx.TransportError:
                return
            assert response.status_code in (200, 403), response.text
            received.append(response.headers["x-redline-decision"])
            i += 1


def test_every_received_decision_survives_kill_9(tmp_path: Path, upstream: tuple[str, FakeUpstream]) -> None:
    config = write_config(tmp_path, upstream[0])
    key = make_tenants(config)["northwind"]
    port = free_port()
    received: list[str] = []
    stop = threading.Event()

    proc, url = serve(config, port)
    clients = [threading.Thread(target=load, args=(url, key, received, stop, n)) for n in range(CLIENTS)]
    for thread in clients:
        thread.start()
    deadline = time.monotonic() + 120
    while len(received) < BEFORE_KILL and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stop.set()
    for thread in clients:
        thread.join()
    assert len(received) >= BEFORE_KILL

    proc, url = serve(config, port)  # restarted on the same database and log
    stop.clear()
    load_after = threading.Thread(target=load, args=(url, key, received, stop, CLIENTS))
    load_after.start()
    time.sleep(0.5)
    stop.set()
    load_after.join()
    proc.send_signal(signal.SIGTERM)  # a clean stop: pending records committed, a final checkpoint signed
    assert proc.wait(30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once shut down

    log = open_log(load_settings(config))
    missing = [decision for decision in received if not log.find(decision)]
    assert missing == [] and len(set(received)) == len(received)
    assert log.verify() is None
    latest = log.latest_checkpoint()
    assert latest is not None and latest.checkpoint.size == log.size()
