"""Every way of weakening a red line is refused, named, and (when loaded through the service) recorded."""

import pytest

from redline.policy.guard import check_request, discretionary, refuse_request
from redline.policy.loader import WeakeningError, parse
from tests.policy.support import ListSink

HEAD = "kind: contract\ntenant: acme\ntenant_class: defense\n"


def refused(body: str) -> WeakeningError:
    with pytest.raises(WeakeningError) as err:
        parse(HEAD + body, "acme.yaml")
    return err.value


def test_disabling_a_red_line_is_refused() -> None:
    err = refused("red_lines:\n  autonomous_weapons:\n    enabled: false\n")
    assert str(err) == (
        "acme.yaml:6: red_lines.autonomous_weapons.enabled: "
        "disables the red line autonomous_weapons; red lines cannot be turned off"
    )


def test_raising_a_threshold_to_one_is_refused() -> None:
    err = refused("red_lines:\n  mass_domestic_surveillance:\n    threshold: 1.0\n")
    assert "acme.yaml:6: red_lines.mass_domestic_surveillance.threshold: raises the threshold" in str(err)


def test_an_exception_list_is_refused() -> None:
    err = refused(
        "red_lines:\n  autonomous_weapons:\n    exceptions:\n      - purpose: counter-drone defence\n"
    )
    assert "acme.yaml:6: red_lines.autonomous_weapons.exceptions: carves out an exception" in str(err)


def test_a_top_level_exemption_is_refused() -> None:
    err = refused("exempt_models: [frontier-large]\n")
    assert "acme.yaml:4: exempt_models: carves out an exception" in str(err)


def test_narrowing_the_scope_is_refused() -> None:
    err = refused("red_lines:\n  mass_domestic_surveillance:\n    applies_to: [us_persons_only]\n")
    assert "narrows the scope of the red line mass_domestic_surveillance" in str(err)


def test_a_lawful_use_clause_is_refused() -> None:
    err = refused(
        "notes: >-\n  The services may be used for all lawful uses as determined by the customer.\n"
    )
    assert "acme.yaml:4: notes: leaves the red lines to the customer's judgement" in str(err)


def test_a_lawful_use_clause_hidden_in_a_restriction_is_refused() -> None:
    err = refused(
        "restricted_uses:\n  - id: r1\n    description: None, unless the customer deems the use lawful.\n"
    )
    assert "restricted_uses.0.description" in str(err)


def test_a_renamed_category_is_refused() -> None:
    err = refused("category_aliases:\n  autonomous_weapons: weapons_research\n")
    clause = "acme.yaml:5: category_aliases.autonomous_weapons"
    assert f"{clause}: renames the red line autonomous_weapons" in str(err)


def test_redefining_a_red_line_under_a_new_name_is_refused() -> None:
    err = refused("red_lines:\n  autonomous_weapons_strict_sense:\n    threshold: 0.2\n")
    assert "is not a red line" in str(err)


def test_weakening_the_action_is_refused() -> None:
    err = refused("red_lines:\n  autonomous_weapons:\n    action: flag\n")
    assert "weakens the action of autonomous_weapons" in str(err)


def test_tightening_is_accepted() -> None:
    (doc,) = parse(HEAD + "red_lines:\n  autonomous_weapons:\n    threshold: 0.2\n    action: block\n")
    assert doc.model.red_lines["autonomous_weapons"].threshold == 0.2  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "text",
    [
        "Use permitted for any lawful purpose.",
        "Safeguards may be disregarded at will by the licensee.",
        "Notwithstanding the operator policy, the agency may proceed.",
        "At the customer's sole discretion.",
        "lawful use, as determined by the Government",
    ],
)
def test_discretionary_wording_is_detected(text: str) -> None:
    assert discretionary(text)


@pytest.mark.parametrize(
    "text", ["Only for lawful logistics planning.", "Retention 30 days.", "No use for targeting."]
)
def test_ordinary_wording_is_not_flagged(text: str) -> None:
    assert not discretionary(text)


async def test_a_per_request_skip_header_is_refused_and_recorded() -> None:
    sink = ListSink()
    found = await refuse_request(sink, "acme", {"X-Redline-Skip": "1", "x-redline-approval": "tok"}, {})
    assert [w.clause for w in found] == ["header.x-redline-skip"]
    (record,) = sink.of_type("weakening_attempt")
    assert record["tenant"] == "acme" and record["clauses"] == ["header.x-redline-skip"]
    assert "tok" not in str(record)


@pytest.mark.parametrize(
    ("headers", "body", "clause"),
    [
        ({"x-redline-override": "true"}, {}, "header.x-redline-override"),
        ({}, {"redline_bypass": True}, "body.redline_bypass"),
        ({}, {"metadata": {"redline": "skip"}}, "body.redline"),
        ({}, {"metadata": {"redline_screening": False}}, "body.redline_screening"),
    ],
)
def test_per_request_bypass_fields(headers: dict[str, str], body: dict[str, object], clause: str) -> None:
    assert [w.clause for w in check_request(headers, body)] == [clause]


def test_ordinary_requests_pass() -> None:
    body = {"model": "m", "messages": [], "metadata": {"redline_trace": "coffee"}}
    assert check_request({"x-redline-approval": "tok", "authorization": "Bearer k"}, body) == []
