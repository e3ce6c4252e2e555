"""Per-request cost of the policy layer: the decision, the designation filter, the bypass check.

    python benchmarks/policy_hot_path.py [--number 50000]

Prints microseconds per call (best of five runs) for each piece the gateway calls on every request.
"""

from __future__ import annotations

import argparse
import tempfile
import timeit
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from redline.policy.designations import RouteContext, route
from redline.policy.engine import decide
from redline.policy.guard import check_request
from redline.policy.hook import DesignationFilter
from redline.policy.loader import load, only
from redline.policy.model import Designation, TenantContract
from redline.policy.store import PolicyStore
from redline.screening.verdict import Verdict
from redline.store.db import connect, migrate

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "policy"


@dataclass(frozen=True)
class Provider:
    name: str


@dataclass(frozen=True)
class Context:
    tenant: str
    tenant_class: str
    model: str
    now: datetime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--number", type=int, default=50_000)
    args = parser.parse_args()

    (contract,) = only(load(EXAMPLES / "contracts" / "army-logistics.yaml"), TenantContract)
    designations = only(load(EXAMPLES / "designations" / "provider-a-supply-chain-risk.yaml"), Designation)
    verdict = Verdict(False, (), {"autonomous_weapons": 0.1, "mass_domestic_surveillance": 0.2}, "bench")
    now = datetime(2026, 6, 1, tzinfo=UTC)
    usage = {"provider-a": datetime(2026, 1, 1, tzinfo=UTC)}
    context = RouteContext("army-logistics", "defense", "frontier-large")
    headers = {"authorization": "Bearer k", "content-type": "application/json", "x-redline-approval": "t"}
    body = {"model": "frontier-large", "messages": [], "metadata": {"trace": "abc"}}

    with tempfile.TemporaryDirectory() as tmp:
        engine = connect(f"sqlite:///{tmp}/bench.db")
        migrate(engine)
        store = PolicyStore(engine)
        for d in designations:
            store.put_designation(d, now)
        store.record_use("army-logistics", "k1", "provider-a", "frontier-large", usage["provider-a"])
        hook = DesignationFilter(store, [Provider("provider-a"), Provider("provider-b")])
        hook_context = Context("army-logistics", "defense", "frontier-large", now)
        cases = {
            "decide (operator policy only)": lambda: decide(verdict),
            "decide (with contract)": lambda: decide(verdict, tenant="army-logistics", contract=contract),
            "route (phase-out)": lambda: route(context, ["provider-a"], designations, usage, now),
            "DesignationFilter hook (+metrics)": lambda: hook(hook_context, [Provider("provider-a")]),
            "guard.check_request": lambda: check_request(headers, body),
        }
        print(f"{'piece':36} {'us/call':>8}")
        for name, fn in cases.items():
            best = min(timeit.repeat(fn, number=args.number, repeat=5)) / args.number
            print(f"{name:36} {best * 1e6:8.2f}")


if __name__ == "__main__":
    main()
