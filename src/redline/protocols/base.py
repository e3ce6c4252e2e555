"""What every wire protocol provides, and the error type shared by all of them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal, Protocol

from pydantic import ValidationError

from redline.exchange import Delta, Exchange, FinishReason, Reply, StreamEvent, Usage

ErrorKind = Literal[
    "invalid_request", "authentication", "permission", "not_found", "too_large", "rate_limit",
    "upstream", "unavailable", "policy_violation",
]  # fmt: skip


@dataclass(eq=False)
class ApiError(Exception):
    """An error a client receives, rendered by its own protocol. `decision_id` names the refusing decision."""

    status: int
    kind: ErrorKind
    message: str
    param: str | None = None
    code: str | None = None
    decision_id: str | None = None
    retryable: bool = False  # worth another attempt or another provider: connection errors, 429, 5xx
    retry_after: float | None = None  # seconds the upstream asked us to wait (its Retry-After header)

    def __str__(self) -> str:
        return f"{self.status} {self.kind}: {self.message}"


def kind_for_status(status: int) -> ErrorKind:
    """The error kind an upstream status stands for, so it can be rendered in the other protocol."""
    kinds: dict[int, ErrorKind] = {
        401: "authentication", 403: "permission", 404: "not_found", 413: "too_large", 429: "rate_limit",
    }  # fmt: skip
    if status in kinds:
        return kinds[status]
    return "invalid_request" if status < 500 else "upstream"


def upstream_error(status: int, body: Any, retry_after: str | None = None) -> ApiError:
    """An upstream's error response (either protocol's shape) as an error for the client: 5xx become 502.
    `retry_after` is the response's Retry-After header, if any."""
    err = body.get("error") if isinstance(body, dict) else None
    message = str(
        (err.get("message") if isinstance(err, dict) else None) or f"upstream returned HTTP {status}"
    )
    retryable = status == 429 or status >= 500
    return ApiError(
        status if status < 500 else 502, kind_for_status(status), message, retryable=retryable,
        retry_after=parse_retry_after(retry_after),
    )  # fmt: skip


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP date (RFC 9110 10.2.3); None when
    absent or unreadable. A date in the past means now (0)."""
    if value is None or not (value := value.strip()):
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP date is always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


_UNION_TAG = re.compile(r"^(str|int|float|bool|none|(list|dict|literal)\[.*|_\w+|function-.*)$", re.I)


def invalid_request(exc: ValidationError) -> ApiError:
    """A pydantic error on a request body as a 400 naming the most specific offending field.

    For a field that may take several shapes pydantic reports one error per shape; the deepest is the one
    that says what is wrong (an image part where only text parts are accepted, say), and the names of the
    shapes it tried are left out of the field path.
    """
    error = max(exc.errors(), key=lambda e: len(e["loc"]))
    param = ".".join(str(p) for p in error["loc"] if not _UNION_TAG.match(str(p))) or None
    return ApiError(400, "invalid_request", f"{param}: {error['msg']}" if param else error["msg"], param)


def sse(data: Any, event: str | None = None) -> bytes:
    """One server-sent event carrying compact JSON."""
    payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return (f"event: {event}\n" if event else "").encode() + f"data: {payload}\n\n".encode()


class StreamDecoder(Protocol):
    """Turns an upstream's server-sent events into neutral stream events; may keep state across events."""

    def decode(self, event: str, data: str) -> list[StreamEvent]: ...


class StreamEncoder(Protocol):
    """Renders one neutral stream in a protocol's event sequence."""

    def start(self) -> bytes: ...
    def delta(self, delta: Delta) -> bytes: ...
    def end(self, finish: FinishReason, usage: Usage) -> bytes: ...
    def error(self, error: ApiError) -> bytes: ...


class WireProtocol(Protocol):
    """A model API's wire format, both as the server clients talk to and as the client of an upstream."""

    name: str
    upstream_path: str

    def parse_request(self, body: Any) -> Exchange: ...
    def encode_request(self, exchange: Exchange, model: str) -> dict[str, Any]: ...
    def upstream_headers(self, api_key: str | None) -> dict[str, str]: ...
    def parse_reply(self, body: Any) -> Reply: ...
    def encode_reply(self, reply: Reply, *, reply_id: str, model: str) -> dict[str, Any]: ...
    def stream_decoder(self) -> StreamDecoder: ...
    def stream_encoder(self, *, reply_id: str, model: str, include_usage: bool) -> StreamEncoder: ...
    def error_body(self, error: ApiError) -> dict[str, Any]: ...
    def new_id(self) -> str: ...
