"""A real gateway and a real fake upstream, each served by uvicorn on a free port, for the whole session."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from redline.config import ProviderSettings, ScreeningSettings, ServerSettings, Settings
from redline.gateway.app import create_app
from redline.gateway.tenants import TenantStore
from redline.store import connect, migrate
from tests.gateway.screener import RELEASE_HANGS, marker_screener
from tests.gateway.upstream import FakeUpstream

WINDOW = 100
UPSTREAM_KEY_ENV = "REDLINE_TEST_UPSTREAM_KEY"
UPSTREAM_KEY = "upstream-secret"
MAX_BODY = 64 * 1024


class ServerThread:
    """uvicorn serving `app` on 127.0.0.1 and a free port, in a background thread."""

    def __init__(self, app: Any) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("server failed to start")
            threading.Event().wait(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


class RecordingSink:
    """An audit sink that keeps records in memory; `fails` picks records whose append fails (a broken log)."""

    def __init__(self) -> None:
        self.records: list[Mapping[str, Any]] = []
        self.fails: Callable[[Mapping[str, Any]], bool] | None = None

    async def append(self, record: Mapping[str, Any]) -> int:
        if self.fails is not None and self.fails(record):
            raise OSError("injected audit failure")
        self.records.append(dict(record))
        return len(self.records) - 1


@dataclass
class Gateway:
    url: str
    key: str
    scoped_key: str
    revoked_key: str
    audit: RecordingSink
    upstream: FakeUpstream
    store: TenantStore


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def provider(name: str, kind: str, base: str, models: list[str], **extra: Any) -> ProviderSettings:
    return ProviderSettings(name=name, kind=kind, base_url=base, models=models, **extra)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def upstream_server() -> Iterator[tuple[str, FakeUpstream]]:
    fake = FakeUpstream()
    with ServerThread(fake.app()) as url:
        yield url, fake


@pytest.fixture(scope="session")
def gateway_server(
    tmp_path_factory: pytest.TempPathFactory, upstream_server: tuple[str, FakeUpstream]
) -> Iterator[Gateway]:
    up, fake = upstream_server
    db = f"sqlite:///{Path(tmp_path_factory.mktemp('gw')) / 'redline.db'}"
    dead = f"http://127.0.0.1:{free_port()}/v1"
    settings = Settings(
        server=ServerSettings(max_body_bytes=MAX_BODY, max_messages=50),
        database={"url": db},  # type: ignore[arg-type]
        screening=ScreeningSettings(timeout_s=1.0, output_window_chars=WINDOW),
        providers=[
            provider("oa", "openai", f"{up}/oa/v1", ["gpt-test"], api_key_env=UPSTREAM_KEY_ENV),
            provider(
                "an",
                "anthropic",
                f"{up}/an/v1",
                ["claude-test"],
                rename={"claude-test": "claude-upstream"},
                api_key_env=UPSTREAM_KEY_ENV,
            ),
            provider("dead", "openai", dead, ["fallback-model"], retries=1, connect_timeout_s=1.0),
            provider("flaky", "openai", f"{up}/flaky/v1", ["fallback-model"], retries=1),
            provider("backup", "anthropic", f"{up}/backup/v1", ["fallback-model"]),
        ],
    )
    engine = connect(db)
    migrate(engine)
    store = TenantStore(engine)
    store.create_tenant("acme", "commercial")
    key = store.create_key("acme")[1]
    scoped = store.create_key("acme", ["gpt-test"])[1]
    revoked_id, revoked = store.create_key("acme")
    store.revoke_key(revoked_id)
    audit = RecordingSink()
    os.environ[UPSTREAM_KEY_ENV] = UPSTREAM_KEY
    app = create_app(settings, screener=marker_screener, audit=audit)
    with ServerThread(app) as url:
        yield Gateway(url, key, scoped, revoked, audit, fake, store)
    RELEASE_HANGS.set()


@pytest.fixture
def gateway(gateway_server: Gateway) -> Gateway:
    """The session gateway, with the upstream's record and failure plan and the audit records cleared."""
    gateway_server.upstream.reset()
    gateway_server.audit.records.clear()
    gateway_server.audit.fails = None
    return gateway_server
