"""The admin routes, served by a real uvicorn server and called with httpx."""

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from redline.policy.admin import admin_routes
from redline.policy.service import PolicyService
from tests.policy.support import EXAMPLES, ListSink, policy_store

TOKEN = "admin-test-token-0123456789"


@pytest.fixture
def admin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[httpx.Client, ListSink, list[int]]]:
    monkeypatch.setenv("REDLINE_TEST_ADMIN", TOKEN)
    sink, changes = ListSink(), []
    service = PolicyService(policy_store(tmp_path), sink)
    app = Starlette(routes=admin_routes(service, "REDLINE_TEST_ADMIN", lambda: changes.append(1)))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.01)
    headers = {"authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as client:
        yield client, sink, changes
    server.should_exit = True
    thread.join()


def test_token_is_required(admin: tuple[httpx.Client, ListSink, list[int]]) -> None:
    client, _, _ = admin
    response = client.get("/admin/designations", headers={"authorization": "Bearer wrong"})
    assert response.status_code == 401 and response.json()["error"]["type"] == "unauthorized"


def test_designations_round_trip(admin: tuple[httpx.Client, ListSink, list[int]]) -> None:
    client, sink, changes = admin
    text = (EXAMPLES / "designations" / "provider-a-supply-chain-risk.yaml").read_text()
    response = client.post("/admin/designations", content=text)
    assert response.status_code == 201 and [d["id"] for d in response.json()] == [
        "scr-2026-civilian",
        "scr-2026-defense",
    ]
    assert [d["status"] for d in client.get("/admin/designations").json()] == ["active", "active"]
    lifted = client.post("/admin/designations/scr-2026-defense/lift", params={"status": "enjoined"})
    assert lifted.json()["status"] == "enjoined"
    assert client.get("/admin/designations/scr-2026-defense").json()["status"] == "enjoined"
    impact = client.get("/admin/designations/scr-2026-defense/impact").json()
    assert impact == {"designation": "scr-2026-defense", "tenants": []}
    assert len(changes) == 2 and len(sink.of_type("policy_change", "designation_change")) == 3


def test_errors_are_4xx_with_lines(admin: tuple[httpx.Client, ListSink, list[int]]) -> None:
    client, _, _ = admin
    missing = client.get("/admin/designations/nope")
    assert missing.status_code == 404 and missing.json()["error"]["message"] == "no designation nope"
    bad = client.post("/admin/designations", content="kind: designation\nid: d\n")
    assert bad.status_code == 422
    assert any(
        p.startswith("<request>:1: authority: Field required") for p in bad.json()["error"]["problems"]
    )
    assert client.post("/admin/designations", content=b"\xff").status_code == 422
    assert client.get("/admin/designations/x/impact", params={"days": "a"}).status_code == 400


def test_contract_weakening_refused_and_recorded(admin: tuple[httpx.Client, ListSink, list[int]]) -> None:
    client, sink, _ = admin
    response = client.post(
        "/admin/contracts",
        content="kind: contract\ntenant: acme\ntenant_class: defense\nred_lines:\n"
        "  autonomous_weapons: {threshold: 1.0}\n",
    )
    assert response.status_code == 422 and response.json()["error"]["type"] == "weakening_attempt"
    assert sink.of_type("weakening_attempt")[0]["actor"] == "admin-api"
    good = client.post("/admin/contracts", content=(EXAMPLES / "contracts" / "northwind.yaml").read_text())
    assert good.status_code == 201
    assert client.get("/admin/contracts/northwind").json()["tenant_class"] == "commercial"
