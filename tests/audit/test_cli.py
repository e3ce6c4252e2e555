"""`redline audit` end to end: verify, prove, offline check-proof, export, public-key, and failures named."""

import json
from pathlib import Path

import pytest
from sqlalchemy import delete, update
from typer.testing import CliRunner

from redline.audit.log import AuditLog, open_log
from redline.audit.schema import checkpoints, entries
from redline.cli import app
from redline.config import load_settings
from tests.audit.helpers import record


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "redline.yaml"
    path.write_text(
        f"database:\n  url: sqlite:///{tmp_path / 'audit.db'}\n"
        f"audit:\n  signing_key_path: {tmp_path / 'key.pem'}\n  log_origin: cli.test/audit\n"
        "  checkpoint_every_entries: 8\n"
    )
    return path


@pytest.fixture
def log(config: Path) -> AuditLog:
    log = open_log(load_settings(config))
    for i in range(20):
        log.append_sync(record(i))
    log.append_sync({**record(5), "decision": "block"})  # a second record of decision dec_000005
    log.close()
    return log


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, ["audit", *args])
    assert result.exit_code == code, result.output
    return result.output


def test_verify_passes_then_names_the_altered_entry(config: Path, log: AuditLog, tmp_path: Path) -> None:
    assert run("verify", "--config", str(config)) == "ok: 21 entries, signed up to 21\n"
    keys_only = tmp_path / "keys-only.yaml"
    keys_only.write_text(f"audit:\n  signing_key_path: {tmp_path / 'key.pem'}\n  log_origin: cli.test/audit")
    assert run("verify", "--config", str(keys_only), "--db", str(log.engine.url)).startswith("ok: 21 entries")
    with log.engine.begin() as conn:
        conn.execute(update(entries).where(entries.c.idx == 7).values(record=b'{"forged":true}'))
    assert "entry 7" in run("verify", "--config", str(config), code=1)


def test_prove_then_check_offline_with_the_public_key(config: Path, log: AuditLog, tmp_path: Path) -> None:
    bundle, key = tmp_path / "bundle.json", tmp_path / "key.txt"
    run("prove", "dec_000005", "--config", str(config), "-o", str(bundle))
    key.write_text(run("public-key", "--config", str(config)))
    proven = json.loads(bundle.read_text())
    assert [e["index"] for e in proven["entries"]] == [5, 20]
    assert [e["record"]["decision"] for e in proven["entries"]] == ["allow", "block"]
    assert run("check-proof", str(bundle), "--public-key", str(key)) == (
        "ok: proven in cli.test/audit at tree size 21\n"
    )

    proven["entries"][1]["record"]["decision"] = "allow"
    bundle.write_text(json.dumps(proven))
    assert "entry 20 is not proven" in run("check-proof", str(bundle), "--public-key", str(key), code=1)


def test_check_proof_rejects_a_foreign_key_and_garbage(config: Path, log: AuditLog, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.json"
    run("prove", "dec_000001", "--config", str(config), "-o", str(bundle))
    other = tmp_path / "other.yaml"
    other.write_text(f"audit:\n  signing_key_path: {tmp_path / 'other.pem'}\n  log_origin: cli.test/audit\n")
    assert "no signature" in run("check-proof", str(bundle), "--config", str(other), code=1)
    bundle.write_text('{"checkpoint": 3}')
    assert "FAILED" in run("check-proof", str(bundle), "--config", str(config), code=1)


def test_prove_an_unknown_decision_fails(config: Path, log: AuditLog) -> None:
    assert "no record of decision 'dec_nope'" in run("prove", "dec_nope", "--config", str(config), code=1)


def test_export_since_as_json_lines(config: Path, log: AuditLog, tmp_path: Path) -> None:
    with log.engine.begin() as conn:
        conn.execute(update(entries).where(entries.c.idx >= 3).values(time="2030-01-01T00:00:00.000000Z"))
    out = tmp_path / "export.jsonl"
    run("export", "--config", str(config), "--since", "2029-12-31", "-o", str(out))
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["index"] for line in lines] == list(range(3, 21))
    assert lines[0]["record"]["decision_id"] == "dec_000003"
    assert "not an ISO 8601" in run("export", "--config", str(config), "--since", "yesterday", code=2)


def test_a_held_checkpoint_catches_a_rollback_that_deleted_checkpoints(
    config: Path, log: AuditLog, tmp_path: Path
) -> None:
    held = tmp_path / "held.txt"
    latest = log.latest_checkpoint()
    assert latest is not None
    held.write_text(latest.note)
    assert run("verify", "--config", str(config), "--held", str(held)).startswith("ok")

    with log.engine.begin() as conn:
        conn.execute(delete(entries).where(entries.c.idx >= 10))
        conn.execute(delete(checkpoints))
    with_held = ("verify", "--config", str(config), "--held", str(held))
    assert "fewer than a held checkpoint's 21" in run(*with_held, code=1)

    regrown = open_log(load_settings(config))
    for i in range(30):
        regrown.append_sync(record(100 + i))
    regrown.close()
    assert run("verify", "--config", str(config)).startswith("ok")  # self-consistent: only a witness can tell
    assert "differ from the held" in run(*with_held, code=1)
