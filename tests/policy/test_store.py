"""The policy store on SQLite and (when reachable) PostgreSQL, each run in its own throwaway schema."""

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from redline.policy.loader import load, only
from redline.policy.model import Designation, LegalStatus, TenantContract
from redline.policy.store import PolicyStore, Traffic
from redline.store.db import connect, migrate
from tests.policy.support import EXAMPLES

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
T = datetime(2026, 2, 1, 12, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PolicyStore]:
    if request.param == "sqlite":
        engine = connect(f"sqlite:///{tmp_path / 'r.db'}")
        migrate(engine)
        yield PolicyStore(engine)
        return
    schema = f"policy_test_{uuid.uuid4().hex[:12]}"
    admin = connect(POSTGRES)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    except sa.exc.OperationalError:
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
    engine = connect(f"{POSTGRES}?options=-csearch_path%3D{schema}")
    try:
        migrate(engine)
        yield PolicyStore(engine)
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def test_usage_counts_first_use_and_traffic(store: PolicyStore) -> None:
    for at in (T, T + timedelta(hours=1), T + timedelta(days=1)):
        store.record_use("army", "k1", "provider-a", "frontier-large", at)
    store.record_use("army", "k2", "provider-b", "b-large", T + timedelta(days=2))
    store.record_use("navy", "k3", "provider-a", "frontier-small", T)
    assert store.first_uses("army") == {"provider-a": T, "provider-b": T + timedelta(days=2)}
    assert store.users("provider-a") == {"army": T, "navy": T}
    assert store.traffic("provider-a", date(2026, 2, 1)) == [
        Traffic("army", "k1", "frontier-large", 3),
        Traffic("navy", "k3", "frontier-small", 1),
    ]
    assert store.traffic("provider-a", date(2026, 2, 2)) == [Traffic("army", "k1", "frontier-large", 1)]


def test_designations_upsert_and_status(store: PolicyStore) -> None:
    civilian, defense = only(
        load(EXAMPLES / "designations" / "provider-a-supply-chain-risk.yaml"), Designation
    )
    store.put_designation(defense, T)
    store.put_designation(civilian, T)
    store.put_designation(civilian, T)
    assert [d.id for d in store.designations()] == ["scr-2026-civilian", "scr-2026-defense"]
    changed = store.set_status("scr-2026-defense", LegalStatus.RESCINDED, T)
    assert store.designation("scr-2026-defense") == changed and changed.status is LegalStatus.RESCINDED
    with pytest.raises(KeyError):
        store.set_status("nope", LegalStatus.ENJOINED, T)


def test_contract_history_keeps_every_version(store: PolicyStore) -> None:
    (first,) = only(load(EXAMPLES / "contracts" / "army-logistics.yaml"), TenantContract)
    tighter = TenantContract.model_validate(first.model_dump() | {"retain_content": False})
    (other,) = only(load(EXAMPLES / "contracts" / "northwind.yaml"), TenantContract)
    for contract in (first, other, tighter):
        store.record_document("contract", contract.tenant, contract, T)
    assert store.contract("army-logistics") == tighter
    assert store.contracts() == [tighter, other]
    assert store.contract("nobody") is None


def test_a_batch_of_uses_is_summed_before_it_is_written(store: PolicyStore) -> None:
    later = T + timedelta(hours=3)
    store.record_uses([("army", "k1", "provider-a", "m", at) for at in (later, T, later)] * 2)
    store.record_uses([("army", "k1", "provider-a", "m", T + timedelta(hours=5))])
    assert store.first_uses("army") == {"provider-a": T}
    assert store.traffic("provider-a", date(2026, 2, 1)) == [Traffic("army", "k1", "m", 7)]
