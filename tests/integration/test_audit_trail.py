"""Every decision and every governance change lands in the real audit log, which verifies and proves them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.integration.conftest import ADMIN_TOKEN, EXAMPLES, MODEL, Deployment

DECISION_HEADER = "x-redline-decision"


def records(deployment: Deployment) -> list[dict[str, Any]]:
    return [json.loads(line)["record"] for line in deployment.redline("audit", "export").splitlines()]


def openai_client(deployment: Deployment, tenant: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{deployment.url}/v1", api_key=deployment.keys[tenant], max_retries=0)


def test_allowed_blocked_and_cut_decisions_are_logged_verified_and_provable(
    deployment: Deployment, tmp_path: Path
) -> None:
    oa = openai_client(deployment, "northwind")
    chat = [{"role": "user", "content": "hello"}]
    allowed = oa.chat.completions.with_raw_response.create(model=MODEL, messages=chat)  # type: ignore[arg-type]
    assert allowed.parse().choices[0].message.content == "You said: hello"
    an = anthropic.Anthropic(base_url=deployment.url, api_key=deployment.keys["northwind"], max_retries=0)
    allowed_anthropic = an.messages.with_raw_response.create(model=MODEL, max_tokens=50, messages=chat)  # type: ignore[arg-type]
    with pytest.raises(openai.PermissionDeniedError) as blocked:
        oa.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "REDLINE-TEST-SURVEIL"}])
    stream = oa.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "ANSWER-REDLINE"}], stream=True
    )
    chunks = list(stream.parse())
    assert chunks[-1].choices[0].finish_reason == "content_filter"
    ids = {
        "allowed": allowed.headers[DECISION_HEADER],
        "allowed_anthropic": allowed_anthropic.headers[DECISION_HEADER],
        "blocked": blocked.value.response.headers[DECISION_HEADER],
        "cut": stream.headers[DECISION_HEADER],
    }
    assert blocked.value.body["decision_id"] == ids["blocked"]  # type: ignore[index]

    log = records(deployment)
    by_id = {r["decision_id"]: r for r in log if r["kind"] == "decision"}
    assert by_id[ids["allowed"]]["decision"] == by_id[ids["allowed_anthropic"]]["decision"] == "allow"
    assert by_id[ids["blocked"]]["decision"] == "block"
    assert by_id[ids["blocked"]]["categories"] == ["mass_domestic_surveillance"]
    # The cut stream: its input was allowed; the output decision on the same request blocked it.
    cut = by_id[ids["cut"]]
    output = [r for r in log if r.get("request_sha256") == cut["request_sha256"] and r["direction"] == "output"]
    assert (cut["decision"], [r["decision"] for r in output]) == ("allow", ["block"])
    assert all(r["tenant"] == "northwind" and "hello" not in json.dumps(r) for r in by_id.values())

    assert deployment.parts.owned_log is not None
    deployment.parts.owned_log.checkpoint()  # sign the tree head now rather than in up to 10 s
    assert deployment.redline("audit", "verify").startswith("ok: ")
    key = tmp_path / "log.pub"
    key.write_text(deployment.redline("audit", "public-key"))
    for decision_id in ids.values():
        bundle = tmp_path / f"{decision_id}.json"
        deployment.redline("audit", "prove", decision_id, "--output", str(bundle))
        assert deployment.redline("audit", "check-proof", str(bundle), "--public-key", str(key)).startswith("ok:")


def test_tenant_key_policy_and_designation_changes_are_logged(deployment: Deployment) -> None:
    deployment.redline("tenants", "create", "acme", "--class", "commercial")
    key_id = deployment.redline("keys", "create", "--tenant", "acme").splitlines()[-1].split("_")[1]
    deployment.redline("keys", "revoke", key_id)
    admin = httpx.Client(base_url=deployment.url, headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
    tighter = (EXAMPLES / "contracts" / "northwind.yaml").read_text() + "allowed_models: [frontier-large]\n"
    assert admin.post("/admin/contracts", content=tighter).status_code == 201
    designations = (EXAMPLES / "designations" / "provider-a-supply-chain-risk.yaml").read_text()
    assert admin.post("/admin/designations", content=designations).status_code == 201
    assert admin.post("/admin/designations/scr-2026-civilian/lift?status=rescinded").status_code == 200

    changes = [
        (r["kind"], r["subject"], r["change"].get("action")) for r in records(deployment) if r["kind"] != "decision"
    ]
    assert changes == [
        ("policy_change", "operator", "apply"),  # at startup: the operator policy, then contracts_dir
        ("policy_change", "army-logistics", "apply"),
        ("policy_change", "interior-records", "apply"),
        ("policy_change", "northwind", "apply"),
        ("tenant_change", "acme", "created"),
        ("key_change", "acme", "key created"),
        ("key_change", key_id, "key revoked"),
        ("policy_change", "northwind", "apply"),
        ("designation_change", "scr-2026-civilian", "add"),
        ("designation_change", "scr-2026-defense", "add"),
        ("designation_change", "scr-2026-civilian", "rescinded"),
    ]
    assert deployment.redline("audit", "verify").startswith("ok: ")
