"""The gateway's parts: startup applies the configured policy files (designations_dir as contracts_dir); the
contract cache."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import anyio
from cachetools import TTLCache

from redline.config import Settings
from redline.gateway import components
from redline.policy.model import LegalStatus
from redline.policy.service import PolicyService
from redline.policy.store import PolicyStore
from tests.gateway.support import SteppingClock
from tests.policy.support import EXAMPLES, Clock, ListSink


def _start(tmp_path: Path, designations: Path, sink: ListSink) -> components.Components:
    settings = Settings.model_validate(
        {
            "database": {"url": f"sqlite:///{tmp_path / 'redline.db'}"},
            "policy": {"designations_dir": str(designations)},
        }
    )
    parts = components.build(settings, audit=sink, clock=Clock(datetime(2026, 3, 2, tzinfo=UTC)))
    anyio.run(parts.start)
    return parts


def _designation_changes(sink: ListSink) -> list[tuple[str, str]]:
    return [(r["subject"], r["action"]) for r in sink.of_type("designation_change")]


def test_designations_dir_is_put_in_force_at_startup_and_a_restart_changes_nothing(tmp_path: Path) -> None:
    directory = tmp_path / "designations"
    shutil.copytree(EXAMPLES / "designations", directory)
    sink = ListSink()
    parts = _start(tmp_path, directory, sink)
    stored = {d.id: d.status for d in parts.policy.store.designations()}
    assert stored == {"scr-2026-civilian": LegalStatus.ACTIVE, "scr-2026-defense": LegalStatus.ACTIVE}
    assert _designation_changes(sink) == [("scr-2026-civilian", "add"), ("scr-2026-defense", "add")]
    assert parts.designations.designations  # the router sees them without waiting for the periodic reload
    parts.engine.dispose()

    again = ListSink()
    _start(tmp_path, directory, again).engine.dispose()
    assert _designation_changes(again) == []


def test_a_lift_survives_a_restart_and_an_edited_file_updates_the_rest(tmp_path: Path) -> None:
    directory = tmp_path / "designations"
    shutil.copytree(EXAMPLES / "designations", directory)
    parts = _start(tmp_path, directory, ListSink())
    anyio.run(parts.policy.set_status, "scr-2026-civilian", LegalStatus.ENJOINED, "court")
    parts.engine.dispose()

    path = next(directory.glob("*.yaml"))
    path.write_text(path.read_text().replace("2026-09-01T00:00:00Z", "2026-10-01T00:00:00Z"))
    sink = ListSink()
    parts = _start(tmp_path, directory, sink)
    defense, civilian = parts.policy.store.designation("scr-2026-defense"), parts.policy.store.designation(
        "scr-2026-civilian"
    )
    assert civilian is not None and civilian.status is LegalStatus.ENJOINED
    assert defense is not None and defense.phaseout_deadline == datetime(2026, 10, 1, tzinfo=UTC)
    assert _designation_changes(sink) == [("scr-2026-defense", "update")]
    parts.engine.dispose()


def test_a_cached_contract_expiring_during_the_lookup_is_looked_up_again(tmp_path: Path) -> None:
    parts = _start(tmp_path, EXAMPLES / "designations", ListSink())
    parts.contracts.cache = TTLCache(maxsize=16, ttl=1.0, timer=SteppingClock(0.4))  # alive at `in`, expired at `[]`

    async def scenario() -> None:
        for _ in range(6):
            assert await parts.contracts.of("nobody") is None  # no contract applied: None, cached too

    anyio.run(scenario)
    parts.engine.dispose()


def test_an_operator_policy_applied_by_another_process_is_adopted_at_the_next_reload(tmp_path: Path) -> None:
    parts = _start(tmp_path, EXAMPLES / "designations", ListSink())
    bundled = parts.policy.operator
    stricter = bundled.model_validate(
        bundled.model_dump()
        | {"version": "2026-12-stricter", "red_lines": {
            name: line.model_dump() | {"threshold": 0.3} for name, line in bundled.red_lines.items()
        }}
    )  # fmt: skip
    other_process = PolicyService(PolicyStore(parts.engine), ListSink(), operator=bundled)  # `redline policy apply`
    assert anyio.run(other_process.apply_operator_policy, stricter, "operator")
    assert parts.policy.operator.version_hash == bundled.version_hash  # not yet: this process has not looked

    assert anyio.run(parts.policy.reload_operator_policy)
    assert parts.policy.operator.version_hash == stricter.version_hash
    assert parts.policy.operator.red_lines["autonomous_weapons"].threshold == 0.3
    assert not anyio.run(parts.policy.reload_operator_policy)  # nothing new
    parts.engine.dispose()
