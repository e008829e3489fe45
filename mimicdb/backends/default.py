"""`Redis`, the seed's default backend: the proxy's Redis index, built from StrictRedis arguments.

`Redis(host='localhost', port=6379, db=0, ...)` takes what `redis.StrictRedis` takes;
`MimicDB()` uses `Redis()`, that is Redis on localhost:6379.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from proxy.backends.redis import RedisBackend

__all__ = ["Redis"]


class Redis(RedisBackend):
    """The index in Redis; arguments are `redis.StrictRedis`'s, plus `namespace`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Kept so that `in_namespace` can open the same server under another prefix.
        self._arguments = (args, dict(kwargs))
        super().__init__(*args, **kwargs)

    @property
    def client(self) -> aioredis.Redis:
        """The `redis.asyncio` client the index talks through."""
        return self._redis

    @property
    def namespace(self) -> str:
        """The prefix of every Redis key this index writes."""
        return self._ns

    def in_namespace(self, namespace: str) -> Redis:
        """The same server and options, holding the index called `namespace`."""
        args, kwargs = self._arguments
        return type(self)(*args, **{**kwargs, "namespace": namespace})
