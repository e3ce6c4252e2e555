"""Non-weakening: red lines can be tightened by a contract, never loosened, and no request can skip them.

The checks run on the raw document before schema validation, so that an attempt is named as what it is
(a disabled red line, a carve-out, a "lawful as the customer determines" clause) rather than as a mere
unknown field, and so that every attempt can be recorded in the audit log.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redline.audit.records import WEAKENING_ATTEMPT, change_record
from redline.audit.sink import AuditSink
from redline.policy.decision import Action
from redline.policy.model import (
    STRICTNESS,
    OperatorPolicy,
    RedLineOverlay,
    Restriction,
    TenantContract,
)

Path_ = tuple[str | int, ...]

_KNOWN_KEYS = frozenset(TenantContract.model_fields) | frozenset(Restriction.model_fields)
_OVERLAY_KEYS = frozenset(RedLineOverlay.model_fields)

_EXCEPTION = re.compile(r"except|exempt|carve|bypass|skip|override|waive|disable|unless|permit|allow", re.I)
_SCOPE = re.compile(r"scope|applies|apply|only|tenant|class|model|purpose|where|when|condition", re.I)
_RENAME = re.compile(r"name|alias|label|category|map", re.I)
_SKIP = re.compile(
    r"(?<![a-z])(?:skip|bypass|override|disabled?|exempt|no[-_]?screen(?:ing)?|unscreened|off)(?![a-z])", re.I
)
_SKIP_HEADER = re.compile(r"^x-redline-", re.I)
_REDLINE_KEY = re.compile(r"^(x[-_])?redline", re.I)

_PARTY = r"(?:customer|client|tenant|licensee|user|government|agency|department)"
_DISCRETIONARY = [
    re.compile(p, re.I)
    for p in (
        rf"lawful\W+(?:\w+\W+){{0,3}}(?:as|where|when)\W+(?:\w+\W+){{0,2}}(?:determined|defined|deemed|judged)"
        rf"\W+by\W+(?:the\W+)?{_PARTY}",
        rf"{_PARTY}\W+(?:\w+\W+){{0,2}}(?:deems|determines|considers|judges|believes)\W+(?:\w+\W+){{0,4}}"
        r"(?:lawful|legal|appropriate|permissible|necessary)",
        r"\b(?:any|all)\W+lawful\W+(?:uses?|purposes?)\b",
        rf"(?:sole\W+)?discretion\W+of\W+(?:the\W+)?{_PARTY}|{_PARTY}'s\W+(?:sole\W+)?discretion",
        r"notwithstanding\W+(?:\w+\W+){0,3}(?:red\W+lines?|operator\W+policy|usage\W+polic|restrictions?)",
        r"(?:red\W+lines?|safeguards?|restrictions?)\W+(?:\w+\W+){0,2}(?:may|can|shall|will)\W+(?:\w+\W+){0,2}"
        r"(?:disregarded|waived|overridden|set\W+aside|suspended|disabled|ignored)",
    )
]
"""Clauses that hand the red lines over to the customer's judgement, "framed as compromise"."""


@dataclass(frozen=True)
class Weakening:
    """One clause that would weaken a red line, and why it is refused."""

    path: Path_
    reason: str

    @property
    def clause(self) -> str:
        return ".".join(str(p) for p in self.path)


def discretionary(text: str) -> bool:
    """Whether `text` leaves the red lines to the customer's judgement ("lawful use as determined by ...")."""
    return any(p.search(text) for p in _DISCRETIONARY)


def _walk(value: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    yield path, value
    if isinstance(value, Mapping):
        for key, sub in value.items():
            yield from _walk(sub, (*path, str(key)))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            yield from _walk(sub, (*path, i))


def _overlay(name: str, overlay: Any, operator: OperatorPolicy, path: Path_) -> Iterator[Weakening]:
    red_line = operator.red_lines.get(name)
    if red_line is None:
        yield Weakening(path, f"{name!r} is not a red line; a contract cannot rename or redefine red lines")
        return
    if not isinstance(overlay, Mapping):
        return
    for key, value in overlay.items():
        at = (*path, str(key))
        if key == "enabled":
            if value is not True:
                yield Weakening(at, f"disables the red line {name}; red lines cannot be turned off")
        elif key == "threshold":
            if isinstance(value, int | float) and value > red_line.threshold:
                yield Weakening(
                    at,
                    f"raises the threshold of {name} from {red_line.threshold} to {value}; "
                    "a contract may only lower it",
                )
        elif key == "action":
            if (
                value in Action.__members__.values()
                and STRICTNESS[Action(value)] < STRICTNESS[red_line.action]
            ):
                yield Weakening(at, f"weakens the action of {name} from {red_line.action} to {value}")
        elif key in _OVERLAY_KEYS:
            continue
        elif _EXCEPTION.search(key):
            yield Weakening(at, f"carves out an exception to the red line {name}")
        elif _RENAME.search(key):
            yield Weakening(at, f"renames the red line {name}")
        elif _SCOPE.search(key):
            yield Weakening(at, f"narrows the scope of the red line {name}; red lines apply to everyone")


def check_contract(document: Mapping[str, Any], operator: OperatorPolicy) -> list[Weakening]:
    """Every clause of a raw contract (or overlay) that would weaken a red line of `operator`."""
    found: list[Weakening] = []
    red_lines = document.get("red_lines")
    if isinstance(red_lines, Mapping):
        for name, overlay in red_lines.items():
            found.extend(_overlay(str(name), overlay, operator, ("red_lines", str(name))))
    for path, value in _walk(document):
        if path[:1] == ("red_lines",):
            continue
        key = path[-1] if path else ""
        if isinstance(key, str) and key not in _KNOWN_KEYS and _EXCEPTION.search(key):
            found.append(Weakening(path, "carves out an exception; a contract may only add restrictions"))
        elif isinstance(key, str) and key in operator.red_lines and isinstance(value, str) and value != key:
            found.append(Weakening(path, f"renames the red line {key} to {value!r}"))
        elif isinstance(value, str) and discretionary(value):
            found.append(
                Weakening(
                    path, "leaves the red lines to the customer's judgement; they apply unconditionally"
                )
            )
    return found


def _skip_value(value: Any) -> bool:
    return isinstance(value, str) and _SKIP.search(value) is not None


def check_request(headers: Mapping[str, str], body: Mapping[str, Any]) -> list[Weakening]:
    """Every header or body field of one request that asks to skip or override screening."""
    found = [
        Weakening(("header", name.lower()), "asks to skip screening; red lines apply to every request")
        for name in headers
        if _SKIP_HEADER.match(name) and _SKIP.search(name[len("x-redline-") :])
    ]
    metadata = body.get("metadata")
    fields = [*body.items(), *(metadata.items() if isinstance(metadata, Mapping) else ())]
    found.extend(
        Weakening(("body", str(key)), "asks to skip screening; red lines apply to every request")
        for key, value in fields
        if _REDLINE_KEY.match(str(key)) and (_SKIP.search(str(key)) or value is False or _skip_value(value))
    )
    return found


def weakening_record(
    weakenings: list[Weakening],
    *,
    source: str,
    actor: str,
    tenant: str | None,
    file: str | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """The audit record of a refused attempt: the clauses and reasons, never the request's content."""
    change = {
        "source": source,
        "tenant": tenant,
        "file": file,
        "clauses": [w.clause for w in weakenings],
        "reasons": [w.reason for w in weakenings],
    }
    return change_record(WEAKENING_ATTEMPT, actor=actor, subject=tenant or file or source, change=change, at=at)


async def refuse_request(
    sink: AuditSink,
    tenant: str | None,
    headers: Mapping[str, str],
    body: Mapping[str, Any],
    *,
    actor: str = "client",
    at: datetime | None = None,
) -> list[Weakening]:
    """Check one request and record any attempt to skip screening; the gateway answers 400 if any.
    `actor` is who sent it (the gateway passes the key id)."""
    found = check_request(headers, body)
    if found:
        await sink.append(weakening_record(found, source="request", actor=actor, tenant=tenant, at=at))
    return found
