"""The seed's backend import paths: `Backend`, the base class every index implements.

These are the proxy's own index backends under the names the 2015 package gave them:
`mimicdb.backends.default.Redis`, `mimicdb.backends.sqlite.SQLite` and
`mimicdb.backends.memory.Memory`. A custom backend subclasses `Backend` and implements
each of its abstract (async) methods; `Memory` (`proxy/backends/memory.py`) is the
example to copy, and `tests/test_backends.py` is the contract it must pass.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from proxy.backends import backend_from_url
from proxy.backends.base import Backend, BucketRecord, ObjectRecord, SyncSession

__all__ = [
    "Backend",
    "BucketRecord",
    "NamespaceError",
    "ObjectRecord",
    "SyncSession",
    "from_url",
    "in_namespace",
]

REDIS_SCHEMES = frozenset({"redis", "rediss", "unix"})


class NamespaceError(ValueError):
    """A namespace was asked of a backend that keeps one index per store."""


def from_url(url: str, namespace: str | None = None) -> Backend:
    """The backend a URL names (`memory://`, `sqlite:///PATH`, `redis://HOST:PORT/DB`)."""
    if urlsplit(url).scheme in REDIS_SCHEMES:
        from .default import Redis

        return Redis.from_url(url, namespace=namespace or "mimicdb")
    backend = backend_from_url(url)
    return in_namespace(backend, namespace) if namespace is not None else backend


def in_namespace(backend: Backend, namespace: str) -> Backend:
    """The same store, holding the index called `namespace` (Redis only)."""
    from .default import Redis

    if isinstance(backend, Redis):
        return backend.in_namespace(namespace)
    # A SQLite file or a Memory instance is one index; two namespaces would share it.
    raise NamespaceError(
        f"namespace= keeps indexes apart in one Redis; {type(backend).__name__} holds one "
        "index per instance (use another SQLite file or another Memory())"
    )
