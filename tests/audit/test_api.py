"""The admin audit API on a real uvicorn server, through httpx: auth, checkpoint, entries, proofs, errors."""

import base64
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from redline.audit.api import audit_routes, bearer_guard
from redline.audit.bundle import check_bundle
from redline.audit.checkpoint import Verifier
from redline.audit.merkle import verify_consistency
from tests.audit.helpers import database, open_log, record

TOKEN = "s3cret-admin-token"


@pytest.fixture
def base_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("TEST_REDLINE_ADMIN", TOKEN)
    with database("sqlite", tmp_path) as url:
        log = open_log(url, tmp_path / "key.pem", checkpoint_every_entries=10)
        for i in range(25):
            log.append_sync(record(i))
        routes = audit_routes(log, bearer_guard("TEST_REDLINE_ADMIN"))
        app = Starlette(routes=[Mount("/admin/audit", routes=routes)])
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            thread.join(0.01)
        yield f"http://127.0.0.1:{port}/admin/audit"
        server.should_exit = True
        thread.join()
        log.close()


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client


def test_admin_token_is_required(base_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        response = httpx.get(f"{base_url}/checkpoint", headers=headers)
        assert response.status_code == 401 and response.json()["error"]["type"] == "unauthorized"
    monkeypatch.delenv("TEST_REDLINE_ADMIN")
    response = httpx.get(f"{base_url}/checkpoint", headers={"Authorization": "Bearer x"})
    assert response.status_code == 401 and "TEST_REDLINE_ADMIN is not set" in response.text


def test_checkpoint_and_entry(client: httpx.Client) -> None:
    checkpoint = client.get("/checkpoint").json()
    verified = Verifier.from_vkey(checkpoint["public_key"]).verify(checkpoint["note"])
    assert checkpoint["size"] == verified.size == 21
    assert base64.b64decode(checkpoint["root_hash"]) == verified.root_hash
    entry = client.get("/entries/3").json()
    assert (entry["index"], entry["record"]["decision_id"]) == (3, "dec_000003")
    missing = client.get("/entries/99")
    assert missing.status_code == 404 and "no entry 99" in missing.json()["error"]["message"]


def test_inclusion_bundles_check_offline(client: httpx.Client) -> None:
    key = Verifier.from_vkey(client.get("/checkpoint").json()["public_key"])
    by_index = client.get("/proof/inclusion", params={"index": 7}).json()
    assert check_bundle(by_index, key).size == 21
    newest = client.get("/proof/inclusion", params={"decision_id": "dec_000024"}).json()
    assert [e["index"] for e in newest["entries"]] == [24]
    assert check_bundle(newest, key).size == 25  # newer than the last checkpoint: a fresh one was signed
    unknown = client.get("/proof/inclusion", params={"decision_id": "dec_nope"})
    assert unknown.status_code == 404
    bad = client.get("/proof/inclusion", params={"index": "-1"})
    assert bad.status_code == 400 and "'index'" in bad.json()["error"]["message"]


def test_consistency_proof(client: httpx.Client) -> None:
    checkpoint = client.get("/checkpoint").json()
    old = Verifier.from_vkey(checkpoint["public_key"]).verify(checkpoint["note"])
    client.get("/proof/inclusion", params={"index": 24})  # signs a checkpoint at 25
    new = Verifier.from_vkey(checkpoint["public_key"]).verify(client.get("/checkpoint").json()["note"])
    proof = client.get("/proof/consistency", params={"old": old.size, "new": new.size}).json()
    hashes = [base64.b64decode(h) for h in proof["consistency_proof"]]
    assert verify_consistency(old.size, new.size, old.root_hash, new.root_hash, hashes)
    assert client.get("/proof/consistency", params={"old": 9, "new": 3}).status_code == 400
    assert client.get("/proof/consistency", params={"old": 3, "new": 900}).status_code == 404
