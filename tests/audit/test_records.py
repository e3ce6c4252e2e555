"""Records: canonical bytes, digests instead of content, and content only when retention is on."""

import hashlib
import json
from datetime import UTC, datetime

import pytest

from redline.audit.records import (
    KEY_CHANGE,
    CanonicalBody,
    RecordError,
    body_sha256,
    canonical,
    change_record,
    decision_record,
)
from redline.policy.decision import Action, Decision

DECISION = Decision(
    id="dec_1", action=Action.BLOCK, categories=("autonomous_weapons",), scores={"autonomous_weapons": 0.97},
    stage="classifier", clauses=("red_line.autonomous_weapons",), policy_version="sha256:abc",
)
REQUEST = {"model": "m", "messages": [{"role": "user", "content": "secret prompt"}]}
AT = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


def make(retain: bool) -> dict[str, object]:
    return decision_record(
        DECISION, tenant="acme", key_id="key_9", endpoint="/v1/chat/completions", model="m", provider="p",
        direction="input", request=REQUEST, response=b'{"ok":true}', retain_content=retain, at=AT,
    )


def test_decision_record_holds_digests_not_content() -> None:
    record = make(retain=False)
    assert "content" not in record and b"secret prompt" not in canonical(record)
    assert record["time"] == "2026-11-22T06:00:00.000000Z"
    assert record["request_sha256"] == hashlib.sha256(json.dumps(REQUEST, separators=(",", ":"),
                                                                 sort_keys=True).encode()).hexdigest()
    assert record["response_sha256"] == hashlib.sha256(b'{"ok":true}').hexdigest()
    assert (record["decision"], record["stage"], record["key_id"]) == ("block", "classifier", "key_9")


def test_content_only_when_retained() -> None:
    record = make(retain=True)
    assert record["content"] == {"request": REQUEST, "response": '{"ok":true}'}


def test_a_body_canonicalised_once_hashes_and_is_retained_as_the_object() -> None:
    once = CanonicalBody.of(REQUEST)
    record = decision_record(
        DECISION, tenant="acme", key_id="key_9", endpoint="/v1/chat/completions", model="m", provider="p",
        direction="input", request=once, retain_content=True, at=AT,
    )  # fmt: skip
    assert record["request_sha256"] == make(retain=False)["request_sha256"] == body_sha256(REQUEST)
    assert record["content"] == {"request": REQUEST, "response": None}


def test_canonical_form_is_rfc8785() -> None:
    assert canonical({"time": "t", "kind": "decision", "b": 1.0, "a": "é"}) == (
        '{"a":"é","b":1,"kind":"decision","time":"t"}'.encode()
    )
    assert body_sha256(None) is None


def test_change_records_and_bad_kinds() -> None:
    record = change_record(KEY_CHANGE, actor="admin", subject="key_9", change={"revoked": True}, at=AT)
    assert canonical(record).startswith(b'{"actor":"admin","change":{"revoked":true},"kind":"key_change"')
    with pytest.raises(RecordError, match="change kind"):
        change_record("decision", actor="a", subject="s", change={})
    with pytest.raises(RecordError, match="time"):
        canonical({"kind": "decision"})


def test_decision_ids_are_short_strings() -> None:
    base = {"kind": "decision", "time": "t"}
    with pytest.raises(RecordError, match="decision_id"):
        canonical({**base, "decision_id": "d" * 65})
    with pytest.raises(RecordError, match="decision_id"):
        canonical({**base, "decision_id": 7})
    assert canonical({**base, "decision_id": None}) == b'{"decision_id":null,"kind":"decision","time":"t"}'
