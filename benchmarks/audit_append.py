"""Durable audit appends per second: many concurrent appenders, group-committed (target >= 5,000/s).

    python benchmarks/audit_append.py [--count 20000] [--concurrency 256] [--db URL]
"""

from __future__ import annotations

import asyncio
import time

from audit_common import arguments, bench_log, record


async def main() -> None:
    args = arguments(__doc__ or "", count=20_000, concurrency=256)
    with bench_log(args.db) as log:
        numbers = iter(range(args.count))

        async def appender() -> None:
            for n in numbers:
                await log.append(record(n))

        start = time.perf_counter()
        await asyncio.gather(*(appender() for _ in range(args.concurrency)))
        elapsed = time.perf_counter() - start
        log.close()
    print(f"database     {log.engine.url.get_backend_name()}")
    print(f"appends      {args.count} from {args.concurrency} concurrent appenders")
    print(f"elapsed      {elapsed:.2f} s")
    print(f"throughput   {args.count / elapsed:,.0f} durable appends/s")
    print(f"commits      {log.commits} (mean batch {args.count / max(log.commits, 1):.0f})")

if __name__ == "__main__":
    asyncio.run(main())
