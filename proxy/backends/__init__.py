"""Index backends, opened by URL: `memory://`, `sqlite:///path`, `redis://host:port/db`."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from .base import Backend, BucketRecord, ObjectRecord, SyncSession
from .memory import MemoryBackend

__all__ = [
    "Backend",
    "BucketRecord",
    "MemoryBackend",
    "ObjectRecord",
    "SyncSession",
    "backend_from_url",
]


class BackendURLError(ValueError):
    """A backend URL that names no known backend."""


def backend_from_url(url: str) -> Backend:
    """Build (not open) the backend a URL names."""
    parts = urlsplit(url)
    if parts.scheme == "memory":
        return MemoryBackend()
    if parts.scheme == "sqlite":
        from .sqlite import SQLiteBackend

        # SQLAlchemy's convention: sqlite:///relative.db, sqlite:////absolute.db
        path = unquote(url[len("sqlite://") :])
        path = path[1:] if path.startswith("/") else path
        return SQLiteBackend(path or ":memory:")
    if parts.scheme in ("redis", "rediss", "unix"):
        from .redis import RedisBackend

        return RedisBackend.from_url(url)
    raise BackendURLError(
        f"unknown backend URL {url!r}: use memory://, sqlite:///PATH or redis://HOST:PORT/DB"
    )
