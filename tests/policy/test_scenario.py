"""The supply-chain designation timeline, end to end: operator acts through the service, routing through the
router hook, every change in the audit log, time moved by hand."""

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import REGISTRY

from redline.policy.designations import PHASEOUT_HEADER
from redline.policy.hook import DesignationFilter
from redline.policy.loader import load
from redline.policy.model import Designation, LegalStatus
from redline.policy.service import PolicyService
from redline.routing.router import RouteResult
from tests.policy.support import EXAMPLES, Clock, ListSink, policy_store


@dataclass(frozen=True)
class Provider:
    name: str


@dataclass(frozen=True)
class Ctx:
    tenant: str
    tenant_class: str
    model: str
    now: datetime


A, B = Provider("provider-a"), Provider("provider-b")
MODEL = "frontier-large"
TENANTS = {"interior-records": "federal_civilian", "army-logistics": "defense", "northwind": "commercial"}


async def test_provider_a_designated_then_enjoined(tmp_path: Path) -> None:
    clock = Clock(datetime(2026, 1, 15, tzinfo=UTC))
    sink = ListSink()
    store = policy_store(tmp_path)
    service = PolicyService(store, sink, clock=clock)
    for name in ("interior-records", "army-logistics", "northwind"):
        path = EXAMPLES / "contracts" / f"{name}.yaml"
        await service.apply_contract(path.read_text(), str(path), actor="operator")
    hook: DesignationFilter[Provider] = DesignationFilter(store, [A, B])

    def request(tenant: str, model: str = MODEL) -> RouteResult[Provider]:
        """Route as the gateway does (model served by A only), and record the use."""
        routed = hook(Ctx(tenant, TENANTS[tenant], model, clock.now), [A])
        if routed.providers:
            hook.record_use(tenant, f"key-{tenant}", routed.providers[0].name, model, clock.now)
        return routed

    # Everyone uses provider A before any designation.
    for tenant in TENANTS:
        assert request(tenant).providers == (A,)

    # The designations are issued before they take effect: nothing changes yet.
    clock.now = datetime(2026, 2, 27, tzinfo=UTC)
    orders = load(EXAMPLES / "designations" / "provider-a-supply-chain-risk.yaml")
    for doc in orders:
        assert isinstance(doc.model, Designation)
        await service.add_designation(doc.model, actor="operator")
    hook.refresh()
    for tenant in TENANTS:
        routed = request(tenant)
        assert routed.providers == (A,) and routed.headers == {}

    # In force: the civilian agency is cut off at once, naming the designation; defense works with a warning.
    clock.now = datetime(2026, 3, 1, 9, tzinfo=UTC)
    civilian = request("interior-records")
    assert civilian.providers == ()
    assert civilian.refusal is not None and "scr-2026-civilian" in civilian.refusal
    defense = request("army-logistics")
    assert defense.providers == (A,)
    assert defense.headers == {PHASEOUT_HEADER: "provider=provider-a; deadline=2026-09-01T00:00:00+00:00"}
    commercial = request("northwind")
    assert commercial.providers == (A,) and commercial.headers == {}

    impact = await service.impact("scr-2026-defense")
    (army,) = impact.tenants
    assert (army.tenant, army.state, army.days_left) == ("army-logistics", "phasing_out", 183)
    assert army.successors == {MODEL: "provider-b/b-frontier-large"}
    assert [(t.key_id, t.model) for t in army.traffic] == [("key-army-logistics", MODEL)]
    (agency,) = (await service.impact("scr-2026-civilian")).tenants
    assert (agency.tenant, agency.state, agency.days_left) == ("interior-records", "cut_off", None)

    warned = {"designation": "scr-2026-defense", "provider": "provider-a", "outcome": "phaseout"}
    assert (REGISTRY.get_sample_value("redline_designation_routing_total", warned) or 0) >= 1

    # A day before the deadline defense still runs on A, warned.
    clock.now = datetime(2026, 8, 31, 23, tzinfo=UTC)
    assert request("army-logistics").headers[PHASEOUT_HEADER].startswith("provider=provider-a")

    # After the deadline defense traffic moves to successor B (under B's model name); others unchanged.
    clock.now = datetime(2026, 9, 1, tzinfo=UTC)
    migrated = request("army-logistics")
    assert migrated.providers == (B,) and migrated.models == {"provider-b": "b-frontier-large"}
    assert migrated.headers == {}
    assert request("interior-records").providers == ()
    assert request("northwind").providers == (A,)

    # An injunction restores everyone's access.
    clock.now = datetime(2026, 9, 15, tzinfo=UTC)
    for doc in orders:
        await service.set_status(doc.model.id, LegalStatus.ENJOINED, actor="court-order-2026-cv-1")  # type: ignore[attr-defined]
    hook.refresh()
    for tenant in TENANTS:
        routed = request(tenant)
        assert routed.providers == (A,) and routed.headers == {} and routed.refusal is None
    assert [t.state for t in (await service.impact("scr-2026-defense")).tenants] == ["enjoined"]

    # Every change is on record: three contracts, two designations, two injunctions.
    changes = [
        (r["document"], r["subject"], r["action"])
        for r in sink.of_type("policy_change", "designation_change")
    ]
    assert changes == [
        ("contract", "interior-records", "apply"),
        ("contract", "army-logistics", "apply"),
        ("contract", "northwind", "apply"),
        ("designation", "scr-2026-civilian", "add"),
        ("designation", "scr-2026-defense", "add"),
        ("designation", "scr-2026-civilian", "enjoined"),
        ("designation", "scr-2026-defense", "enjoined"),
    ]
    assert all(len(r["change"]["version_hash"]) == 64 for r in sink.records)
    enjoined = sink.of_type("designation_change")[-1]
    assert enjoined["previous_version_hash"] != enjoined["version_hash"]
    assert enjoined["time"] == "2026-09-15T00:00:00.000000Z"
