import pytest

from redline.policy.decision import Action
from redline.policy.engine import decide
from redline.policy.loader import bundled_operator_policy, load, load_operator_policy
from redline.policy.model import ProviderUsagePolicy, TenantContract
from redline.screening.verdict import Verdict
from tests.policy.support import EXAMPLES


def verdict(**scores: float) -> Verdict:
    return Verdict(flagged=False, categories=(), scores=scores, stage="test")


def contract(name: str) -> TenantContract:
    (doc,) = load(EXAMPLES / "contracts" / f"{name}.yaml")
    assert isinstance(doc.model, TenantContract)
    return doc.model


def test_backward_compatible_call_blocks_a_flagged_verdict() -> None:
    v = Verdict(True, ("autonomous_weapons",), {"autonomous_weapons": 0.2}, "test")
    d = decide(v)
    assert d.action is Action.BLOCK
    assert d.clauses == ("red_line.autonomous_weapons",)
    assert d.policy_version == bundled_operator_policy().version_hash


def test_clean_verdict_is_allowed_with_the_version_hash() -> None:
    d = decide(verdict(autonomous_weapons=0.1, mass_domestic_surveillance=0.1))
    assert d.action is Action.ALLOW and d.clauses == () and len(d.policy_version) == 64


def test_score_at_the_operator_threshold_blocks() -> None:
    d = decide(verdict(mass_domestic_surveillance=0.5))
    assert d.action is Action.BLOCK and d.categories == ("mass_domestic_surveillance",)


def test_contract_tightens_the_threshold() -> None:
    v = verdict(mass_domestic_surveillance=0.45)
    assert decide(v).action is Action.ALLOW
    d = decide(v, tenant="interior-records", contract=contract("interior-records"))
    assert d.action is Action.BLOCK and d.clauses == ("red_line.mass_domestic_surveillance",)
    assert d.policy_version != bundled_operator_policy().version_hash


def test_forbid_wins_over_milder_restrictions() -> None:
    v = verdict(autonomous_weapons=0.9, weapons_targeting=0.9)
    d = decide(v, contract=contract("army-logistics"))
    assert d.action is Action.BLOCK
    restriction = "contract.army-logistics.restriction.targeting-support"
    assert d.clauses == ("red_line.autonomous_weapons", restriction)


def test_a_restriction_can_require_approval() -> None:
    d = decide(verdict(weapons_targeting=0.7), contract=contract("army-logistics"))
    assert d.action is Action.REQUIRE_APPROVAL
    assert d.clauses == ("contract.army-logistics.restriction.targeting-support",)


def test_described_restriction_is_scored_under_its_id() -> None:
    d = decide(verdict(**{"biometric-identification": 0.7}), contract=contract("interior-records"))
    assert d.action is Action.BLOCK and d.categories == ("biometric-identification",)


def test_model_outside_the_contract_is_blocked() -> None:
    d = decide(verdict(), contract=contract("interior-records"), model="other-model")
    assert d.action is Action.BLOCK and d.clauses == ("contract.allowed_models",)


def test_provider_policy_adds_restrictions() -> None:
    (doc,) = load(EXAMPLES / "providers" / "provider-b.yaml")
    assert isinstance(doc.model, ProviderUsagePolicy)
    d = decide(verdict(**{"predictive-policing": 0.8}), provider_policy=doc.model)
    assert d.clauses == ("provider.provider-b.restriction.predictive-policing",)


@pytest.mark.parametrize("bad", [float("nan"), 7.0, "high"])
def test_an_error_evaluating_a_red_line_fails_closed(bad: object) -> None:
    d = decide(Verdict(False, (), {"autonomous_weapons": bad}, "test"))  # type: ignore[dict-item]
    assert d.action is Action.BLOCK
    assert d.clauses == ("red_line.autonomous_weapons",)
    assert "failing closed" in d.reasons[0]


def test_a_contract_for_another_tenant_fails_closed() -> None:
    d = decide(verdict(), tenant="northwind", contract=contract("interior-records"))
    assert d.action is Action.BLOCK and d.clauses == ("policy.error",)


def test_operator_policy_from_a_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "op.yaml"
    path.write_text(
        "kind: operator_policy\nversion: strict\nred_lines:\n"
        "  autonomous_weapons: {threshold: 0.2, action: require_approval}\n"
        "  mass_domestic_surveillance: {threshold: 0.3}\n"
    )
    policy = load_operator_policy(path).model
    d = decide(verdict(autonomous_weapons=0.25), policy=policy)  # type: ignore[arg-type]
    assert d.action is Action.REQUIRE_APPROVAL


def test_a_flagged_category_no_clause_knows_still_blocks() -> None:
    d = decide(Verdict(True, ("aggregate_profiling",), {}, "aggregate"))
    assert d.action is Action.BLOCK and d.clauses == ("screening.aggregate_profiling",)
