"""Read-through lookups in a TTL cache, shared by the key and contract caches of the hot path."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from anyio import to_thread
from cachetools import TTLCache

K = TypeVar("K")
V = TypeVar("V")


async def read_through(cache: TTLCache[K, V], key: K, load: Callable[[], V]) -> V:
    """The cached value of `key`, or `load()` run in a worker thread and cached. One lookup: a membership test
    followed by a read could see the entry expire in between (a KeyError: a 500 under load)."""
    try:
        return cache[key]
    except KeyError:
        value = await to_thread.run_sync(load)
        cache[key] = value
        return value
