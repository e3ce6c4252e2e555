"""Crash-test driver: many concurrent appenders, printing `index decision_id` once each append returns.

usage: python -m tests.audit.appender DB_URL KEY_PATH PREFIX COUNT CONCURRENCY
"""

import asyncio
import sys
from pathlib import Path

from tests.audit.helpers import open_log, record


async def main(url: str, key: str, prefix: str, count: int, concurrency: int) -> None:
    log = open_log(url, Path(key), checkpoint_every_entries=500)
    numbers = iter(range(count))

    async def appender() -> None:
        for n in numbers:
            entry = record(n, prefix)
            index = await log.append(entry)
            print(index, entry["decision_id"], flush=True)

    await asyncio.gather(*(appender() for _ in range(concurrency)))
    log.close()


if __name__ == "__main__":
    url, key, prefix, count, concurrency = sys.argv[1:]
    asyncio.run(main(url, key, prefix, int(count), int(concurrency)))
