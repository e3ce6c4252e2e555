"""`jcs` is byte for byte `rfc8785.dumps`, errors included, on any JSON-like value."""

from __future__ import annotations

import enum
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from redline.audit.records import jcs

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()  # surrogates included: both refuse them
    | st.sampled_from([0.0, -0.0, 1.0, 1e21, 1e-7, 5e-324, 0.1, 2**53 + 0.0, 123456789.125])
)
keys = st.text(max_size=8) | st.sampled_from(["a", "é", "\U0001f600", "\ufb33", "\u20ac", "\r", "1", "10", ""])
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(keys, inner, max_size=6) | st.tuples(inner, inner),
    max_leaves=40,
)


def outcome(dump: Any, value: Any) -> tuple[str, Any]:
    try:
        return "ok", dump(value)
    except rfc8785.CanonicalizationError as exc:
        return "error", type(exc)
    except Exception as exc:  # whatever rfc8785 raises for what it cannot take, jcs raises too
        return "error", type(exc)


@settings(max_examples=1500, deadline=None)
@given(values)
def test_jcs_is_rfc8785(value: Any) -> None:
    assert outcome(jcs, value) == outcome(rfc8785.dumps, value)


class Flag(enum.IntEnum):
    ON = 1


class Name(enum.StrEnum):
    X = "x"


@pytest.mark.parametrize(
    "value",
    [
        {"b": [1, 2.5, None, True], "a": {"z": "\u2028\x7f\x00\x1f\"\\/"}, "\U0001f600": 1, "\ufb33": 2},
        {1: "non-string key"},
        {"n": 2**53},
        {"n": -(2**53) + 1},
        {"flag": Flag.ON, "name": Name.X},
        {"nan": float("nan")},
        {"lone": "\ud800"},
        {"set": {1, 2}},
    ],
)
def test_edge_cases(value: Any) -> None:
    assert outcome(jcs, value) == outcome(rfc8785.dumps, value)
