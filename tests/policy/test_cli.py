from contextlib import nullcontext
from pathlib import Path

import pytest
from typer.testing import CliRunner

import redline.policy
from redline.cli import app
from tests.policy.support import EXAMPLES, ListSink

runner = CliRunner()


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, ListSink]:
    cfg = tmp_path / "redline.yaml"
    cfg.write_text(
        f"database:\n  url: sqlite:///{tmp_path / 'r.db'}\n"
        f"policy:\n  contracts_dir: {EXAMPLES / 'contracts'}\n"
        f"  designations_dir: {EXAMPLES / 'designations'}\n"
    )
    sink = ListSink()
    monkeypatch.setattr("redline.policy.cli.audit_sink", lambda settings: nullcontext(sink))
    return cfg, sink


def invoke(cfg: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--config", str(cfg)])
    return result.exit_code, result.output


def test_validate_reports_file_line_and_field(config: tuple[Path, ListSink], tmp_path: Path) -> None:
    cfg, _ = config
    good = str(EXAMPLES / "contracts" / "northwind.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: contract\ntenant: x\ntenant_class: commercial\nretain_content: sometimes\n")
    code, out = invoke(cfg, "policy", "validate", good, str(bad))
    assert code == 1
    assert f"{good}: ok (contract)" in out
    assert f"{bad}:4: retain_content: Input should be a valid boolean" in out


def test_show_names_the_source_of_each_clause(config: tuple[Path, ListSink]) -> None:
    cfg, _ = config
    code, out = invoke(cfg, "policy", "show", "--tenant", "army-logistics")
    assert code == 0, out
    assert "red_line.autonomous_weapons: autonomous_weapons >= 0.35 -> block" in out
    assert "from redline/policy/operator.yaml:12, " in out and "army-logistics.yaml:6" in out
    assert "scr-2026-defense (active" in out and "scr-2026-civilian" not in out


def test_designation_lifecycle_and_impact(config: tuple[Path, ListSink]) -> None:
    cfg, sink = config
    assert invoke(cfg, "contracts", "apply", str(EXAMPLES / "contracts" / "army-logistics.yaml"))[0] == 0
    code, out = invoke(
        cfg, "designations", "add", str(EXAMPLES / "designations" / "provider-a-supply-chain-risk.yaml")
    )
    assert code == 0 and "added scr-2026-defense (active)" in out
    code, out = invoke(cfg, "designations", "list")
    assert out.splitlines()[1].startswith(
        "scr-2026-defense\tactive\tprovider-a\tdefense,defense-contract-work"
    )
    code, out = invoke(cfg, "designations", "impact", "scr-2026-defense")
    assert code == 0 and "army-logistics (defense) on provider-a:" in out
    code, out = invoke(cfg, "designations", "lift", "scr-2026-defense", "--status", "rescinded")
    assert code == 0 and "scr-2026-defense is now rescinded" in out
    code, out = invoke(cfg, "designations", "show", "scr-2026-defense")
    assert "status: rescinded" in out
    changes = sink.of_type("policy_change", "designation_change")
    assert [r["action"] for r in changes] == ["apply", "add", "add", "rescinded"]


def test_lifting_an_unknown_designation_is_a_clear_error(config: tuple[Path, ListSink]) -> None:
    code, out = invoke(config[0], "designations", "lift", "nope")
    assert (code, out.strip()) == (1, "no designation nope")


def test_apply_refuses_weakening_and_records_it(config: tuple[Path, ListSink], tmp_path: Path) -> None:
    cfg, sink = config
    bad = tmp_path / "lawful.yaml"
    bad.write_text(
        "kind: contract\ntenant: acme\ntenant_class: defense\n"
        "notes: Any lawful use as determined by the customer is permitted.\n"
    )
    code, out = invoke(cfg, "contracts", "apply", str(bad))
    assert code == 1 and f"{bad}:4: notes: leaves the red lines to the customer's judgement" in out
    (attempt,) = sink.of_type("weakening_attempt")
    assert attempt["tenant"] == "acme" and attempt["clauses"] == ["notes"] and attempt["file"] == str(bad)
    assert sink.of_type("policy_change", "designation_change") == []
    assert invoke(cfg, "contracts", "show", "acme")[0] == 1


def test_contracts_show_and_diff(config: tuple[Path, ListSink], tmp_path: Path) -> None:
    cfg, sink = config
    source = EXAMPLES / "contracts" / "army-logistics.yaml"
    invoke(cfg, "contracts", "apply", str(source))
    invoke(cfg, "contracts", "apply", str(source))
    assert len(sink.of_type("policy_change")) == 1
    code, out = invoke(cfg, "contracts", "show", "army-logistics")
    assert code == 0 and out.startswith("# version ") and "threshold: 0.35" in out
    assert invoke(cfg, "contracts", "diff", str(source))[1] == "army-logistics: no change\n"
    tighter = tmp_path / "tighter.yaml"
    tighter.write_text(source.read_text().replace("0.35", "0.3"))
    code, out = invoke(cfg, "contracts", "diff", str(tighter))
    assert "-    threshold: 0.35\n+    threshold: 0.3\n" in out


def test_operator_policy_change_is_versioned_and_audited(
    config: tuple[Path, ListSink], tmp_path: Path
) -> None:
    cfg, sink = config
    bundled = Path(redline.policy.__file__).parent / "operator.yaml"
    assert invoke(cfg, "policy", "apply", str(bundled))[1].startswith("applied operator policy 2026-11-1")
    assert "already in force" in invoke(cfg, "policy", "apply", str(bundled))[1]
    stricter = tmp_path / "operator.yaml"
    stricter.write_text(bundled.read_text().replace("threshold: 0.5", "threshold: 0.4", 1))
    assert invoke(cfg, "policy", "apply", str(stricter))[0] == 0
    first, second = sink.of_type("policy_change")
    assert first["previous_version_hash"] is None
    assert second["previous_version_hash"] == first["version_hash"] != second["version_hash"]
    disabled = tmp_path / "disabled.yaml"
    disabled.write_text(bundled.read_text().replace("action: block", "enabled: false", 1))
    code, out = invoke(cfg, "policy", "apply", str(disabled))
    assert code == 1 and "a red line cannot be disabled" in out and len(sink.records) == 2
