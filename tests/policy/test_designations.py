from datetime import UTC, datetime, timedelta

import pytest

from redline.policy.designations import PHASEOUT_HEADER, Outcome, RouteContext, Target, route
from redline.policy.model import Designation

T0 = datetime(2026, 3, 1, tzinfo=UTC)
EARLIER = {"provider-a": T0 - timedelta(days=30)}


def designation(**changes: object) -> Designation:
    base: dict[str, object] = {
        "id": "d1",
        "authority": "test authority",
        "subject_providers": ["provider-a"],
        "effects": ["no_new_use", "remove_existing_use"],
        "scope": {"tenant_classes": ["defense"]},
        "effective_at": T0,
        "phaseout_deadline": T0 + timedelta(days=180),
    }
    return Designation.model_validate(base | changes)


DEFENSE = RouteContext("army", "defense", "frontier-large")
CANDIDATES = ["provider-a", "provider-c"]


def test_before_the_effective_time_nothing_changes() -> None:
    result = route(DEFENSE, CANDIDATES, [designation()], {}, T0 - timedelta(seconds=1))
    assert result.providers == ("provider-a", "provider-c") and result.headers == {} and result.events == ()


def test_new_use_cannot_start() -> None:
    result = route(DEFENSE, ["provider-a"], [designation()], {}, T0)
    assert result.targets == ()
    assert result.refusal is not None and "designation d1 (test authority)" in result.refusal
    assert [e.outcome for e in result.events] == [Outcome.REMOVED]


def test_use_that_began_after_the_effective_time_is_new_use() -> None:
    result = route(DEFENSE, ["provider-a"], [designation()], {"provider-a": T0 + timedelta(hours=1)}, T0)
    assert result.refusal is not None


def test_existing_use_goes_on_with_a_warning_until_the_deadline() -> None:
    d = designation()
    result = route(DEFENSE, ["provider-a"], [d], EARLIER, T0 + timedelta(days=179))
    assert result.providers == ("provider-a",)
    assert result.headers == {PHASEOUT_HEADER: "provider=provider-a; deadline=2026-08-28T00:00:00+00:00"}
    assert [e.outcome for e in result.events] == [Outcome.PHASEOUT]
    after = route(DEFENSE, ["provider-a"], [d], EARLIER, T0 + timedelta(days=180))
    assert after.targets == () and after.refusal is not None


def test_no_new_use_alone_leaves_existing_use_alone() -> None:
    d = designation(effects=["no_new_use"], phaseout_deadline=None)
    assert route(DEFENSE, ["provider-a"], [d], EARLIER, T0 + timedelta(days=999)).providers == ("provider-a",)


def test_removal_without_deadline_stops_existing_use_at_once() -> None:
    d = designation(phaseout_deadline=None)
    assert route(DEFENSE, ["provider-a"], [d], EARLIER, T0).refusal is not None


def test_after_the_deadline_the_successor_serves_the_model() -> None:
    d = designation(
        successor={"provider": "provider-b"},
        successors={"frontier-large": {"provider": "provider-b", "model": "b-large"}},
    )
    result = route(DEFENSE, ["provider-a"], [d], EARLIER, T0 + timedelta(days=200))
    assert result.targets == (Target("provider-b", "b-large"),)
    assert [e.outcome for e in result.events] == [Outcome.MIGRATED]
    small = RouteContext("army", "defense", "frontier-small")
    other = route(small, ["provider-a"], [d], EARLIER, T0 + timedelta(days=200))
    assert other.targets == (Target("provider-b", "frontier-small"),)


def test_a_designated_successor_is_not_used() -> None:
    d = designation(successor={"provider": "provider-b"})
    both = designation(id="d2", subject_providers=["provider-b"], successor=None)
    result = route(DEFENSE, ["provider-a"], [d, both], {}, T0)
    assert result.targets == () and "d1" in (result.refusal or "")


def test_other_candidates_remain() -> None:
    result = route(DEFENSE, CANDIDATES, [designation()], {}, T0)
    assert result.providers == ("provider-c",) and result.refusal is None


@pytest.mark.parametrize("status", ["enjoined", "rescinded"])
def test_enjoined_or_rescinded_designations_have_no_effect(status: str) -> None:
    result = route(DEFENSE, ["provider-a"], [designation(status=status)], {}, T0 + timedelta(days=400))
    assert result.providers == ("provider-a",) and result.events == ()


def test_a_waiver_exempts_until_it_expires() -> None:
    d = designation(waivers=[{"tenant": "army", "expires_at": T0 + timedelta(days=10)}])
    assert route(DEFENSE, ["provider-a"], [d], {}, T0 + timedelta(days=9)).providers == ("provider-a",)
    assert route(DEFENSE, ["provider-a"], [d], {}, T0 + timedelta(days=10)).targets == ()


def test_tenants_outside_the_scope_are_untouched() -> None:
    commercial = RouteContext("northwind", "commercial", "frontier-large")
    assert route(commercial, ["provider-a"], [designation()], {}, T0).providers == ("provider-a",)


def test_named_systems_and_tenants_extend_the_scope() -> None:
    d = designation(scope={"tenant_classes": [], "tenants": ["acme"], "systems": ["defense-contract-work"]})
    work = RouteContext("northwind", "commercial", "m", system="defense-contract-work")
    assert route(work, ["provider-a"], [d], {}, T0).targets == ()
    assert route(RouteContext("acme", "commercial", "m"), ["provider-a"], [d], {}, T0).targets == ()
    assert route(RouteContext("northwind", "commercial", "m"), ["provider-a"], [d], {}, T0).targets
