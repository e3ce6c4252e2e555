"""Durability and multi-process appends, with real processes: SIGKILL mid-load, and two writers at once."""

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.audit.helpers import database, open_log, record

ROOT = Path(__file__).parents[2]


def appender(url: str, key: Path, prefix: str, count: int, concurrency: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    args = [url, str(key), prefix, str(count), str(concurrency)]
    return subprocess.Popen(
        [sys.executable, "-m", "tests.audit.appender", *args], stdout=subprocess.PIPE, text=True, env=env
    )


def acknowledged(lines: Iterator[str] | list[str]) -> list[tuple[int, str]]:
    """Complete `index decision_id` lines (a line cut by the kill was never fully acknowledged)."""
    return [(int(parts[0]), parts[1]) for parts in (line.split() for line in lines) if len(parts) == 2]


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as url:
        yield url


def test_every_acknowledged_append_survives_sigkill(url: str, tmp_path: Path) -> None:
    key = tmp_path / "audit.pem"
    proc = appender(url, key, "crash", 1_000_000, 64)
    assert proc.stdout is not None
    seen: list[str] = []
    for line in proc.stdout:
        seen.append(line)
        if len(seen) >= 3000:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    seen += proc.stdout.read().splitlines()
    acks = acknowledged(seen)
    assert len(acks) >= 3000

    log = open_log(url, key)
    for index, decision_id in acks:
        assert log.entry(index).record["decision_id"] == decision_id
    assert log.verify() is None
    size = log.size()
    assert log.append_sync(record(0, "after")) == size
    log.close()
    assert log.verify() is None
    latest = log.latest_checkpoint()
    assert latest is not None and latest.checkpoint.size == size + 1


def test_two_processes_append_to_one_log(url: str, tmp_path: Path) -> None:
    key = tmp_path / "audit.pem"
    procs = [appender(url, key, prefix, 400, 16) for prefix in ("left", "right")]
    outputs = [proc.communicate(timeout=120)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0]
    acks = [ack for output in outputs for ack in acknowledged(output.splitlines())]
    assert sorted(index for index, _ in acks) == list(range(800))
    log = open_log(url, key)
    assert {log.entry(index).record["decision_id"] for index, _ in acks} == {d for _, d in acks}
    assert log.verify() is None
