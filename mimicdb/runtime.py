"""`MimicDB`: the index the seed's classes answer from, served by a proxy inside this process.

`MimicDB(...)` picks the index and becomes the current one; each `S3Connection` made
afterwards is bound to the MimicDB that was current when it was made, and points boto
at that MimicDB's proxy.

Why the embedded proxy starts lazily, from the first `S3Connection`: in the seed's API
the connection, made after `MimicDB()`, is what names the upstream (its host, port and
is_secure) and the credentials used there. So `MimicDB()` only chooses the backend; the
first connection starts an `EmbeddedProxy` (a daemon thread on a free loopback port)
configured with exactly that upstream and those credentials, and later connections
naming the same pair share it. A connection naming another upstream or other
credentials is refused rather than silently re-pointing the first: the index answers
listings without asking S3, so one index shared by two principals would show each the
other's keys. One MimicDB per principal (`MimicDB(namespace=...)` keeps them apart in
one Redis) is the supported way.

`MimicDB(url=...)`, or `MIMICDB_URL` in the environment, attaches to a proxy already
running instead; that proxy's own upstream configuration applies.

The current MimicDB is class-level state because the seed's API has no other channel:
`S3Connection(KEY, SECRET)` receives nothing that names an index.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import ClassVar

from proxy.backends.base import Backend
from proxy.config import Config, Credentials
from proxy.embedded import EmbeddedProxy

from .backends import from_url, in_namespace
from .backends.default import Redis

__all__ = ["MimicDB", "NoMimicDB", "Target", "TargetMismatch"]


class NoMimicDB(RuntimeError):
    """An S3Connection was made before any MimicDB()."""


class TargetMismatch(ValueError):
    """An S3Connection named another upstream or credentials than its MimicDB serves."""


@dataclass(frozen=True)
class Target:
    """Where a connection's requests go on from the proxy, and as whom."""

    upstream: str  # URL, e.g. https://s3.amazonaws.com
    region: str
    credentials: Credentials | None  # None: anonymous

    def describe(self) -> str:
        """For error messages: never the secret."""
        who = self.credentials.access_key if self.credentials else "anonymous"
        return f"{self.upstream} as {who}"


def _close_unstarted(backend: Backend) -> None:
    """Close a backend no proxy ever opened (a SQLite connection is open from the start)."""
    # A thread of its own: the caller may be inside a running event loop.
    closer = threading.Thread(target=asyncio.run, args=(backend.close(),), name="mimicdb-close")
    closer.start()
    closer.join()


class MimicDB:
    """The local index of S3 metadata, and the proxy in this process that serves it."""

    _current: ClassVar[MimicDB | None] = None
    _current_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        backend: Backend | None = None,
        namespace: str | None = None,
        url: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """Choose the index: `backend` (Redis on localhost:6379 by default), or `url`.

        `namespace` keeps several indexes apart in one Redis. Without arguments the
        environment decides: `MIMICDB_URL` attaches to a running proxy, and
        `MIMICDB_BACKEND` (`memory://`, `sqlite:///PATH`, `redis://HOST:PORT/DB`) names
        the backend.
        """
        environ = os.environ if env is None else env
        if url is None and backend is None:
            url = environ.get("MIMICDB_URL") or None
        self.url: str | None = url.rstrip("/") if url is not None else None
        self.backend: Backend | None = None
        if self.url is not None:
            if backend is not None or namespace is not None:
                raise ValueError(
                    "MimicDB(url=...) attaches to a running proxy, which has its own index:"
                    " give no backend or namespace"
                )
        elif backend is not None:
            self.backend = in_namespace(backend, namespace) if namespace is not None else backend
        elif environ.get("MIMICDB_BACKEND"):
            self.backend = from_url(environ["MIMICDB_BACKEND"], namespace)
        else:
            self.backend = Redis(namespace=namespace or "mimicdb")
        self._lock = threading.Lock()
        self._proxy: EmbeddedProxy | None = None
        self._target: Target | None = None
        self._stopped = False
        with MimicDB._current_lock:
            MimicDB._current = self

    @classmethod
    def current(cls) -> MimicDB:
        """The MimicDB new connections bind to: the last one made and not stopped."""
        with cls._current_lock:
            current = cls._current
        if current is None:
            raise NoMimicDB(
                "call MimicDB() (from mimicdb import MimicDB) before making an S3Connection"
            )
        return current

    @property
    def attached(self) -> bool:
        """True when this MimicDB uses a proxy running elsewhere (`url=`)."""
        return self.backend is None

    @property
    def proxy(self) -> EmbeddedProxy | None:
        """The embedded proxy, once a connection has started it."""
        return self._proxy

    @property
    def target(self) -> Target | None:
        """The upstream and credentials the embedded proxy serves, once started."""
        return self._target

    def endpoint(self, target: Target) -> str:
        """The proxy URL for a connection to `target`; starts the embedded proxy once."""
        if self.url is not None:
            return self.url
        assert self.backend is not None
        with self._lock:
            if self._stopped:
                raise NoMimicDB("this MimicDB was stopped; call MimicDB() again")
            if self._proxy is None:
                config = Config(
                    host="127.0.0.1",
                    port=0,
                    upstream=target.upstream,
                    region=target.region,
                    # The backend instance is handed over below; the URL is not used.
                    backend="memory://",
                    credentials=target.credentials,
                    upstream_anonymous=target.credentials is None,
                    # Clients sign with the connection's own pair; an anonymous connection
                    # has none, and the proxy listens on loopback inside this process.
                    anonymous=target.credentials is None,
                )
                self._proxy = EmbeddedProxy(config, self.backend).start()
                self._target = target
            elif target != self._target:
                assert self._target is not None
                raise TargetMismatch(
                    f"this MimicDB serves {self._target.describe()}, not {target.describe()};"
                    " make another MimicDB() (a namespace= in Redis) for it"
                )
            return self._proxy.url

    def stop(self) -> None:
        """Stop the embedded proxy and close the index; safe to call twice."""
        with self._lock:
            first, self._stopped = not self._stopped, True
            proxy, self._proxy = self._proxy, None
        if proxy is not None:
            proxy.stop()  # closes the backend on the proxy's loop
        elif first and self.backend is not None:
            _close_unstarted(self.backend)
        with MimicDB._current_lock:
            if MimicDB._current is self:
                MimicDB._current = None

    def __enter__(self) -> MimicDB:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self.url is not None else type(self.backend).__name__
        return f"<MimicDB {where}>"
