"""Audit records: what the log says about one decision or one governance change, as canonical JSON.

Records are canonicalised with RFC 8785 (JCS) so that anyone holding a record can recompute its leaf hash
byte for byte. They carry SHA-256 digests of the request and response, not their content, unless the operator
turns `audit.retain_content` on.
"""

from __future__ import annotations

import hashlib
import json
import json.encoder
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import rfc8785

from redline.policy.decision import Decision

DECISION = "decision"
POLICY_CHANGE = "policy_change"
TENANT_CHANGE = "tenant_change"
KEY_CHANGE = "key_change"
DESIGNATION_CHANGE = "designation_change"
WEAKENING_ATTEMPT = "weakening_attempt"
KINDS = frozenset({DECISION, POLICY_CHANGE, TENANT_CHANGE, KEY_CHANGE, DESIGNATION_CHANGE, WEAKENING_ATTEMPT})


class RecordError(ValueError):
    """A record the log cannot hold: unknown kind, or a value JSON cannot represent canonically."""


_JSON_STRING = json.encoder.encode_basestring  # the C encoder's: JCS's escapes (only ", \\ and U+0000-U+001F)
_SAFE_INT = 2**53 - 1


class _Unhandled(Exception):
    """A value the fast path leaves to the rfc8785 package."""


def jcs(value: Any) -> bytes:
    """RFC 8785 (JCS) bytes of `value`, exactly as `rfc8785.dumps` gives them (tests hold the two together)
    at a fraction of its cost: strings are escaped by the json module's C encoder, keys sorted directly when
    they are ASCII. Anything unusual (subclasses, integers beyond 2**53, strings UTF-8 cannot hold) goes to
    `rfc8785.dumps`, which also raises its errors; floats are always formatted by it."""
    out: list[str] = []
    try:
        _jcs(value, out)
        return "".join(out).encode("utf-8")
    except (_Unhandled, UnicodeEncodeError, rfc8785.CanonicalizationError):
        return rfc8785.dumps(value)


def _utf16(key: str) -> bytes:
    return key.encode("utf-16be")


def _jcs(value: Any, out: list[str]) -> None:
    kind = type(value)
    if kind is str:
        out.append(_JSON_STRING(value))
    elif kind is dict:
        if not value:
            out.append("{}")
            return
        keys = list(value)
        ascii_only = True
        for key in keys:
            if type(key) is not str:
                raise _Unhandled
            ascii_only = ascii_only and key.isascii()
        keys.sort(key=None if ascii_only else _utf16)  # JCS orders keys by their UTF-16 code units
        separator = "{"
        for key in keys:
            out.append(separator)
            out.append(_JSON_STRING(key))
            out.append(":")
            _jcs(value[key], out)
            separator = ","
        out.append("}")
    elif kind is list or kind is tuple:
        if not value:
            out.append("[]")
            return
        separator = "["
        for item in value:
            out.append(separator)
            _jcs(item, out)
            separator = ","
        out.append("]")
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif kind is int:
        if not -_SAFE_INT <= value <= _SAFE_INT:
            raise _Unhandled
        out.append(str(value))
    elif kind is float:
        out.append(rfc8785.dumps(value).decode())  # ECMAScript number formatting, NaN and infinities refused
    else:
        raise _Unhandled


def canonical(record: Mapping[str, Any]) -> bytes:
    """RFC 8785 bytes of `record`: the exact bytes its leaf hash is taken over."""
    if record.get("kind") not in KINDS:
        raise RecordError(f"record kind must be one of {sorted(KINDS)}, not {record.get('kind')!r}")
    if not isinstance(record.get("time"), str) or len(record["time"]) > 32:
        raise RecordError("record needs a 'time' (see `timestamp`)")
    decision_id = record.get("decision_id")
    if decision_id is not None and (not isinstance(decision_id, str) or len(decision_id) > 64):
        raise RecordError("a record's 'decision_id' is a string of at most 64 characters")
    try:
        return jcs(record)
    except rfc8785.CanonicalizationError as exc:
        raise RecordError(f"record is not canonical JSON: {exc}") from exc


def timestamp(moment: datetime | None = None) -> str:
    """RFC 3339 UTC with fixed microsecond width, so timestamps sort as strings."""
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class CanonicalBody:
    """A JSON body already in its RFC 8785 form, so a request canonicalised once (when the gateway admits it)
    is hashed by every record of its decisions without canonicalising it again."""

    data: bytes

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> CanonicalBody:
        """Raises `rfc8785.CanonicalizationError` for a body JSON cannot hold canonically (NaN, huge ints)."""
        return cls(jcs(body))


Body = bytes | CanonicalBody | Mapping[str, Any]


def body_sha256(body: Body | None) -> str | None:
    """Hex SHA-256 of a body: raw bytes as they are, a JSON object in its canonical form."""
    if body is None:
        return None
    if isinstance(body, CanonicalBody):
        return hashlib.sha256(body.data).hexdigest()
    return hashlib.sha256(body if isinstance(body, bytes) else jcs(body)).hexdigest()


def decision_record(
    decision: Decision,
    *,
    tenant: str | None,
    key_id: str | None,
    endpoint: str,
    model: str | None,
    provider: str | None,
    direction: str,
    request: Body | None,
    response: Body | None = None,
    retain_content: bool = False,
    at: datetime | None = None,
) -> dict[str, Any]:
    """The record of one decision on a request's `direction` ("input" or "output"). `key_id` is the key's
    public id, never the key itself."""
    record: dict[str, Any] = {
        "kind": DECISION,
        "time": timestamp(at),
        "decision_id": decision.id,
        "tenant": tenant,
        "key_id": key_id,
        "endpoint": endpoint,
        "model": model,
        "provider": provider,
        "direction": direction,
        "decision": decision.action.value,
        "categories": list(decision.categories),
        "scores": dict(decision.scores),
        "stage": decision.stage,
        "clauses": list(decision.clauses),
        "reasons": list(decision.reasons),
        "policy_version": decision.policy_version,
        "request_sha256": body_sha256(request),
        "response_sha256": body_sha256(response),
    }
    if retain_content:
        record["content"] = {"request": _content(request), "response": _content(response)}
    return record


def change_record(
    kind: str, *, actor: str, subject: str, change: Mapping[str, Any], at: datetime | None = None
) -> dict[str, Any]:
    """The record of a governance act: who (`actor`) changed what (`subject`) and how (`change`)."""
    if kind == DECISION or kind not in KINDS:
        raise RecordError(f"change kind must be one of {sorted(KINDS - {DECISION})}, not {kind!r}")
    return {"kind": kind, "time": timestamp(at), "actor": actor, "subject": subject, "change": dict(change)}


def _content(body: Body | None) -> Any:
    """What a record keeps of a body when content is retained: the JSON object itself, raw bytes as text."""
    if isinstance(body, CanonicalBody):
        return json.loads(body.data)
    return body.decode("utf-8", "replace") if isinstance(body, bytes) else body
