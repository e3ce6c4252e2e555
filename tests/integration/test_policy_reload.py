"""`redline policy apply` from another process reaches a running gateway without a restart."""

from __future__ import annotations

import time
from pathlib import Path

import openai

from tests.integration.conftest import MODEL, Deployment
from tests.integration.test_audit_trail import openai_client, records

STRICTER = """\
kind: operator_policy
version: "2026-12-stricter"
red_lines:
  mass_domestic_surveillance: {threshold: 0.3, action: block}
  autonomous_weapons: {threshold: 0.3, action: block}
"""


def decided_under(deployment: Deployment, client: openai.OpenAI) -> str:
    """The policy version the decision on one allowed request names."""
    response = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "Summarise the convoy schedule"}]
    )
    decision_id = response.headers["x-redline-decision"]
    return next(r["policy_version"] for r in records(deployment) if r.get("decision_id") == decision_id)


def test_an_operator_policy_applied_with_the_cli_is_used_by_the_running_gateway(
    deployment: Deployment, tmp_path: Path
) -> None:
    client = openai_client(deployment, "northwind")
    before = decided_under(deployment, client)
    policy = tmp_path / "stricter.yaml"
    policy.write_text(STRICTER)
    assert deployment.redline("policy", "apply", str(policy)).startswith("applied")
    deadline = time.monotonic() + 15  # reloaded every 5 s
    while (now := decided_under(deployment, client)) == before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert now != before
