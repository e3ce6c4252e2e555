"""Time to verify the whole audit log: recompute every hash and check every checkpoint (target <= 60 s at 1M).

    python benchmarks/audit_verify.py [--entries 1000000] [--db URL]
"""

from __future__ import annotations

import time

from audit_common import arguments, bench_log, record

CHUNK = 20_000


def main() -> None:
    args = arguments(__doc__ or "", entries=1_000_000)
    with bench_log(args.db) as log:
        start = time.perf_counter()
        for first in range(0, args.entries, CHUNK):
            futures = [log.submit(record(n)) for n in range(first, min(first + CHUNK, args.entries))]
            futures[-1].result()
        log.close()
        filled = time.perf_counter() - start
        start = time.perf_counter()
        problem = log.verify()
        elapsed = time.perf_counter() - start
        size, latest = log.size(), log.latest_checkpoint()
    print(f"database     {log.engine.url.get_backend_name()}")
    print(f"entries      {size} (filled in {filled:.1f} s, {args.entries / filled:,.0f}/s)")
    print(f"checkpoints  signed up to {latest.checkpoint.size if latest else 0}")
    print(f"verify       {'ok' if problem is None else problem.message} in {elapsed:.1f} s")

if __name__ == "__main__":
    main()
