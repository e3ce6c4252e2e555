"""`redline policy show`: a tenant's effective policy, each clause with the file and line it came from."""

from __future__ import annotations

from redline.config import Settings
from redline.policy.effective import Clause, Origin, effective
from redline.policy.loader import Loaded, contract_for, load_dir, load_operator_policy, only
from redline.policy.model import Designation, OperatorPolicy, TenantContract
from redline.policy.store import PolicyStore
from redline.store.db import connect, migrate


def _where(origin: Origin, operator: Loaded, contract: Loaded | None, applied: TenantContract | None) -> str:
    if origin.document == "operator":
        return operator.source(*origin.path)
    if contract is not None:
        return contract.source(*origin.path)
    return f"applied contract {applied.version_hash[:12]}" if applied else "?"


def _clause(c: Clause, where: list[str]) -> str:
    text = f"  {c.id}: {c.category} >= {c.threshold} -> {c.action.value}"
    if c.description:
        text += f" ({c.description.strip()})"
    return f"{text}\n      from {', '.join(where)}"


def effective_report(settings: Settings, tenant: str) -> str:
    """The contract comes from `policy.contracts_dir`, else from the contracts applied to the store;
    designations from both."""
    operator = load_operator_policy(settings.policy.operator_policy)
    assert isinstance(operator.model, OperatorPolicy)
    files = load_dir(settings.policy.contracts_dir, operator.model)
    engine = connect(settings.database.url)
    migrate(engine)
    store = PolicyStore(engine)
    loaded = contract_for(files, tenant)
    applied = None if loaded else store.contract(tenant)
    contract = loaded.model if loaded else applied
    assert contract is None or isinstance(contract, TenantContract)
    policy = effective(operator.model, contract)
    tenant_class = contract.tenant_class if contract else "unknown"
    lines = [f"tenant {tenant} ({tenant_class}), policy version {policy.version}"]
    if contract is None:
        lines.append("  no contract: the operator policy applies alone")
    lines.append("clauses (any that applies denies):")
    lines += [_clause(c, [_where(o, operator, loaded, applied) for o in c.origins]) for c in policy.clauses]
    if contract is not None:
        lines.append(f"allowed providers: {', '.join(contract.allowed_providers or ['any'])}")
        lines.append(f"allowed models: {', '.join(contract.allowed_models or ['any'])}")
        lines.append(f"content retention: {'on' if contract.retain_content else 'off'}")
    designations = {d.id: d for d in only(load_dir(settings.policy.designations_dir), Designation)}
    designations |= {d.id: d for d in store.designations()}
    covering = [d for d in designations.values() if d.scope.covers(tenant, tenant_class, None)]
    lines.append(
        "designations covering this tenant:" if covering else "designations covering this tenant: none"
    )
    for d in covering:
        deadline = d.phaseout_deadline.isoformat() if d.phaseout_deadline else "none"
        lines.append(
            f"  {d.id} ({d.status.value}, {d.authority}): {', '.join(d.subject_providers)}; "
            f"effective {d.effective_at.isoformat()}, phase-out deadline {deadline}"
        )
    return "\n".join(lines) + "\n"
