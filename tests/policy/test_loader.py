from pathlib import Path

import pytest

from redline.policy.loader import PolicyError, bundled_operator_policy, load, load_dir, parse
from redline.policy.model import Designation, OperatorPolicy, TenantContract
from tests.policy.support import EXAMPLES


def test_examples_validate() -> None:
    docs = load_dir(EXAMPLES)
    kinds = sorted(d.kind for d in docs)
    assert kinds == ["contract"] * 3 + ["designation"] * 2 + ["provider_policy"]


def test_bundled_operator_policy_has_both_red_lines_and_a_stable_hash() -> None:
    policy = bundled_operator_policy()
    assert set(policy.red_lines) == {"mass_domestic_surveillance", "autonomous_weapons"}
    again = OperatorPolicy.model_validate(policy.model_dump())
    assert again.version_hash == policy.version_hash
    tighter = policy.model_copy(update={"version": "next"})
    assert tighter.version_hash != policy.version_hash


def test_schema_error_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "kind: designation\n"
        "id: d1\n"
        "authority: x\n"
        "subject_providers: [provider-a]\n"
        "effects: [no_new_use, stop_everything]\n"
        "scope: {tenant_classes: [defense]}\n"
        "effective_at: 2026-03-01T00:00:00Z\n"
    )
    with pytest.raises(PolicyError) as err:
        load(path)
    assert str(err.value).startswith(f"{path}:5: effects.1: Input should be")


def test_unknown_field_in_a_nested_list_is_located(tmp_path: Path) -> None:
    path = tmp_path / "contract.yaml"
    path.write_text(
        "kind: contract\n"
        "tenant: t\n"
        "tenant_class: commercial\n"
        "restricted_uses:\n"
        "  - id: r1\n"
        "    category: c\n"
        "    treshold: 0.3\n"
    )
    with pytest.raises(PolicyError, match=r"contract.yaml:7: restricted_uses.0.treshold: Extra inputs"):
        load(path)


def test_naive_timestamp_is_refused_at_its_line() -> None:
    text = (
        "kind: designation\nid: d1\nauthority: x\nsubject_providers: [a]\neffects: [no_new_use]\n"
        "scope: {tenant_classes: [defense]}\neffective_at: 2026-03-01 00:00:00\n"
    )
    with pytest.raises(PolicyError, match=r"d.yaml:7: effective_at: .*timezone"):
        parse(text, "d.yaml")


def test_invalid_yaml_names_the_line() -> None:
    with pytest.raises(PolicyError, match=r"x.yaml:3: : invalid YAML|x.yaml:3: <document>: invalid YAML"):
        parse("kind: contract\ntenant: t\n  bad: [\n", "x.yaml")


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(PolicyError, match=r"x.yaml:1: kind: must be one of"):
        parse("kind: manifesto\n", "x.yaml")


def test_several_documents_per_file_and_their_sources() -> None:
    docs = load(EXAMPLES / "designations" / "provider-a-supply-chain-risk.yaml")
    assert [d.model.id for d in docs if isinstance(d.model, Designation)] == [
        "scr-2026-civilian",
        "scr-2026-defense",
    ]
    assert docs[1].source("phaseout_deadline").endswith("provider-a-supply-chain-risk.yaml:23")


def test_operator_policy_cannot_drop_a_red_line() -> None:
    text = "kind: operator_policy\nversion: x\nred_lines:\n  autonomous_weapons: {threshold: 0.5}\n"
    with pytest.raises(PolicyError, match=r"red lines missing: mass_domestic_surveillance"):
        parse(text)


def test_contract_model_round_trip() -> None:
    (doc,) = load(EXAMPLES / "contracts" / "interior-records.yaml")
    assert isinstance(doc.model, TenantContract)
    assert doc.model.red_lines["mass_domestic_surveillance"].threshold == 0.4


def test_unreadable_characters_are_a_policy_error_not_a_crash() -> None:
    with pytest.raises(PolicyError, match=r"x.yaml:1: <document>: invalid YAML: unacceptable character"):
        parse("kind: contract\ntenant: \x07\n", "x.yaml")
