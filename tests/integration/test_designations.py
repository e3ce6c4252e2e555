"""The supply-chain designation timeline over HTTP, with the gateway's clock moved by hand: provider A is
designated; the civilian agency is cut off at once, defense keeps working with a phase-out warning until the
deadline and is then served by successor B under B's model name, commercial is untouched, an injunction
restores everyone. Attempts to weaken the red lines are refused and audited."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import httpx
import openai
import pytest

from redline.policy.designations import PHASEOUT_HEADER
from tests.integration.conftest import ADMIN_TOKEN, EXAMPLES, MODEL, TENANTS, Deployment
from tests.integration.test_audit_trail import openai_client, records

ORDERS = EXAMPLES / "designations" / "provider-a-supply-chain-risk.yaml"


def ask(deployment: Deployment, tenant: str) -> tuple[openai.types.chat.ChatCompletion, httpx.Headers]:
    """One request as `tenant`; the answer and the response headers."""
    raw = openai_client(deployment, tenant).chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": f"status report for {tenant}"}]
    )
    return raw.parse(), raw.headers


def served_by(deployment: Deployment, tenant: str) -> tuple[str, str, str | None]:
    """Which upstream served `tenant`'s request, under which model name, and the phase-out warning."""
    deployment.upstream.reset()
    completion, headers = ask(deployment, tenant)
    [call] = deployment.upstream.calls
    assert completion.model == MODEL and completion.choices[0].message.content.startswith("You said")  # type: ignore[union-attr]
    return call.tag, call.body["model"], headers.get(PHASEOUT_HEADER)


def test_designation_timeline(deployment: Deployment) -> None:
    admin = httpx.Client(base_url=deployment.url, headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
    for tenant in TENANTS:  # everyone uses provider A before any designation
        assert served_by(deployment, tenant) == ("pa", MODEL, None)
    deployment.parts.usage.flush()

    deployment.clock.now = datetime(2026, 2, 27, tzinfo=UTC)
    assert admin.post("/admin/designations", content=ORDERS.read_text()).status_code == 201
    for tenant in TENANTS:  # issued, not yet in force
        assert served_by(deployment, tenant) == ("pa", MODEL, None)

    deployment.clock.now = datetime(2026, 3, 1, 9, tzinfo=UTC)
    deployment.upstream.reset()
    with pytest.raises(openai.PermissionDeniedError) as cut_off:
        ask(deployment, "interior-records")
    assert deployment.upstream.calls == [] and "scr-2026-civilian" in cut_off.value.message
    assert cut_off.value.code == "routing.refused"
    warning = "provider=provider-a; deadline=2026-09-01T00:00:00+00:00"
    assert served_by(deployment, "army-logistics") == ("pa", MODEL, warning)
    assert served_by(deployment, "northwind") == ("pa", MODEL, None)
    impact = admin.get("/admin/designations/scr-2026-defense/impact").json()
    assert [(t["tenant"], t["tenant_class"], t["state"]) for t in impact["tenants"]] == [
        ("army-logistics", "defense", "phasing_out")
    ]

    deployment.clock.now = datetime(2026, 8, 31, 23, tzinfo=UTC)
    assert served_by(deployment, "army-logistics") == ("pa", MODEL, warning)

    deployment.clock.now = datetime(2026, 9, 1, tzinfo=UTC)  # the deadline: successor B, under its own name
    assert served_by(deployment, "army-logistics") == ("pb", "b-frontier-large", None)
    assert served_by(deployment, "northwind") == ("pa", MODEL, None)
    with pytest.raises(openai.PermissionDeniedError):
        ask(deployment, "interior-records")

    deployment.clock.now = datetime(2026, 9, 15, tzinfo=UTC)
    for order in ("scr-2026-civilian", "scr-2026-defense"):
        assert admin.post(f"/admin/designations/{order}/lift?status=enjoined").status_code == 200
    for tenant in TENANTS:
        assert served_by(deployment, tenant) == ("pa", MODEL, None)

    log = records(deployment)
    changes = [(r["subject"], r["change"]["action"]) for r in log if r["kind"] == "designation_change"]
    assert changes == [
        ("scr-2026-civilian", "add"),
        ("scr-2026-defense", "add"),
        ("scr-2026-civilian", "enjoined"),
        ("scr-2026-defense", "enjoined"),
    ]
    [refused] = [r for r in log if r.get("clauses") == ["routing"] and r["time"].startswith("2026-03-01")]
    assert (refused["tenant"], refused["decision"]) == ("interior-records", "block")


def test_a_request_asking_to_skip_screening_is_refused_and_audited(deployment: Deployment) -> None:
    client = openai_client(deployment, "army-logistics")
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "REDLINE-TEST-WEAPON"}],
            extra_headers={"x-redline-skip-screening": "true"},
        )
    assert refused.value.code == "weakening_attempt" and deployment.upstream.calls == []
    [attempt] = [r for r in records(deployment) if r["kind"] == "weakening_attempt"]
    assert attempt["subject"] == "army-logistics" and attempt["change"]["source"] == "request"
    assert attempt["change"]["clauses"] == ["header.x-redline-skip-screening"]
    assert "REDLINE-TEST-WEAPON" not in json.dumps(attempt)


def test_a_contract_weakening_a_red_line_is_refused_and_audited(deployment: Deployment) -> None:
    admin = httpx.Client(base_url=deployment.url, headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
    weakening = (EXAMPLES / "contracts" / "northwind.yaml").read_text() + (
        "red_lines:\n  mass_domestic_surveillance:\n    enabled: false\n"
    )
    response = admin.post("/admin/contracts", content=weakening)
    assert response.status_code == 422 and response.json()["error"]["type"] == "weakening_attempt"
    [attempt] = [r for r in records(deployment) if r["kind"] == "weakening_attempt"]
    assert (attempt["actor"], attempt["subject"], attempt["change"]["source"]) == ("admin-api", "northwind", "contract")
    with pytest.raises(openai.PermissionDeniedError):  # the red line still holds for that tenant
        openai_client(deployment, "northwind").chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "REDLINE-TEST-SURVEIL"}]
        )


def test_a_contract_bounds_the_providers_a_tenant_is_routed_to(deployment: Deployment) -> None:
    admin = httpx.Client(base_url=deployment.url, headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
    only_b = (EXAMPLES / "contracts" / "northwind.yaml").read_text().replace("[provider-a, provider-b]", "[provider-b]")
    assert admin.post("/admin/contracts", content=only_b).status_code == 201
    with pytest.raises(openai.PermissionDeniedError) as refused:  # the model is served by provider A only
        ask(deployment, "northwind")
    assert refused.value.code == "routing.refused" and "provider-b" in refused.value.message
    assert deployment.upstream.calls == []
    assert served_by(deployment, "army-logistics") == ("pa", MODEL, None)  # other tenants unaffected


def test_a_designation_added_by_the_cli_reaches_the_running_gateway(deployment: Deployment) -> None:
    deployment.clock.now = datetime(2026, 3, 1, 9, tzinfo=UTC)
    deployment.redline("designations", "add", str(ORDERS))  # another process, the same database
    deadline = time.monotonic() + 30
    while True:
        try:
            ask(deployment, "interior-records")
        except openai.PermissionDeniedError as refused:
            assert "scr-2026-civilian" in refused.message
            break
        assert time.monotonic() < deadline, "the gateway never saw the designation"
        time.sleep(0.2)
    log = records(deployment)
    assert [r["subject"] for r in log if r["kind"] == "designation_change"] == ["scr-2026-civilian", "scr-2026-defense"]
    assert (log[-1]["tenant"], log[-1]["clauses"]) == ("interior-records", ["routing"])
