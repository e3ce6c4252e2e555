"""The usage recorder: requests only note their use; one thread writes what gathered, summed."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime

from redline.gateway.usage import UsageRecorder
from redline.policy.store import Use

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_uses_are_written_in_batches_and_flush_waits_for_them() -> None:
    written: list[Sequence[Use]] = []
    recorder = UsageRecorder(written.append, interval_s=60)  # only flush or close may write
    for n in range(100):
        recorder("acme", f"k{n % 2}", "oa", "gpt", AT)
    recorder.flush()
    assert sum(len(batch) for batch in written) == 100 and len(written) == 1
    recorder("acme", "k0", "oa", "gpt", AT)
    recorder.close()
    assert [len(batch) for batch in written] == [100, 1]


def test_a_failing_write_does_not_stop_the_writer() -> None:
    calls: list[int] = []
    done = threading.Event()

    def record(batch: Sequence[Use]) -> None:
        calls.append(len(batch))
        if len(calls) == 1:
            raise RuntimeError("database down")
        done.set()

    recorder = UsageRecorder(record, interval_s=0.01)
    recorder("acme", "k", "oa", "gpt", AT)
    recorder.flush()
    recorder("acme", "k", "oa", "gpt", AT)
    assert done.wait(5)
    recorder.close()
    assert calls == [1, 1]
