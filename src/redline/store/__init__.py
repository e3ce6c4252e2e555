"""Database access. SQLite is the embedded default; PostgreSQL for scale-out, through the same code."""

from redline.store.db import connect, migrate

__all__ = ["connect", "migrate"]
