"""`GuardedBackend`: any backend, with its failures turned into S3's `ServiceUnavailable`.

This is the boundary between the index and the S3 handlers: a Redis that stopped, a
SQLite file that is locked or on a full disk raise their own exceptions, which would
otherwise become a 500 `InternalError`. S3 clients retry a 503 by themselves, and
redis-py reconnects on the next command, so nothing else is needed to ride out an
outage. A client's own bad input never reaches the index, so nothing is hidden here.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Iterable, Sequence
from typing import TypeVar

import redis.exceptions

from ..errors import ServiceUnavailable
from .base import Backend, BucketRecord, ObjectRecord, SyncSession, SyncStatus, VersionedChange

__all__ = ["INDEX_ERRORS", "GuardedBackend", "IndexUnavailable"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# What a backend raises when its store cannot answer (as opposed to a bug).
INDEX_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.RedisError,
    sqlite3.OperationalError,
    ConnectionError,
    TimeoutError,
    OSError,
)


class IndexUnavailable(ServiceUnavailable):
    """The index could not answer; S3 clients retry the 503."""

    message = "The index is unavailable. Please try again."


async def _guard(call: Awaitable[T]) -> T:
    try:
        return await call
    except INDEX_ERRORS as exc:
        log.warning("index unavailable: %r", exc)
        raise IndexUnavailable() from exc


class _GuardedSync(SyncSession):
    def __init__(self, inner: SyncSession) -> None:
        self._inner = inner

    @property
    def id(self) -> str:
        return self._inner.id

    async def add(self, records: Iterable[ObjectRecord]) -> None:
        await _guard(self._inner.add(records))

    async def commit(self, synced_at: float) -> None:
        await _guard(self._inner.commit(synced_at))

    async def abort(self) -> None:
        await _guard(self._inner.abort())

    async def renew(self, deadline: float) -> None:
        await _guard(self._inner.renew(deadline))

    async def patch(self, put: Iterable[ObjectRecord], delete: Iterable[str]) -> int:
        return await _guard(self._inner.patch(put, delete))


class GuardedBackend(Backend):
    """Delegates every call to `inner`; store failures become `IndexUnavailable`."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner

    async def _guard(self, call: Awaitable[T]) -> T:
        """`_guard`, and 503 when the index was found emptied during the call: what the
        call read may be the emptied index's (the request is then answered by no one)."""
        losses = self.inner.losses
        result = await _guard(call)
        if self.inner.losses != losses:
            raise IndexUnavailable()
        return result

    @property
    def detects_loss(self) -> bool:
        return self.inner.detects_loss

    @property
    def losses(self) -> int:
        return self.inner.losses

    def index_lost(self) -> bool:
        return self.inner.index_lost()

    async def rebuilt(self) -> None:
        await _guard(self.inner.rebuilt())

    async def open(self) -> None:
        await _guard(self.inner.open())

    async def close(self) -> None:
        await self.inner.close()

    async def ping(self) -> bool:
        # No data is read: the reconnect that finds the index emptied does not fail it.
        return await _guard(self.inner.ping())

    async def list_buckets(self) -> list[BucketRecord]:
        return await self._guard(self.inner.list_buckets())

    async def get_bucket(self, name: str) -> BucketRecord | None:
        return await self._guard(self.inner.get_bucket(name))

    async def put_bucket(self, bucket: BucketRecord) -> None:
        await self._guard(self.inner.put_bucket(bucket))

    async def delete_bucket(self, name: str) -> None:
        await self._guard(self.inner.delete_bucket(name))

    async def get_object(self, bucket: str, key: str) -> ObjectRecord | None:
        return await self._guard(self.inner.get_object(bucket, key))

    async def put_objects(self, bucket: str, records: Iterable[ObjectRecord]) -> None:
        await self._guard(self.inner.put_objects(bucket, records))

    async def delete_objects(self, bucket: str, keys: Iterable[str]) -> None:
        await self._guard(self.inner.delete_objects(bucket, keys))

    async def scan(
        self, bucket: str, prefix: bytes, after: bytes | None, limit: int
    ) -> list[ObjectRecord]:
        return await self._guard(self.inner.scan(bucket, prefix, after, limit))

    async def count_objects(self, bucket: str) -> int:
        return await self._guard(self.inner.count_objects(bucket))

    async def start_sync(self, bucket: BucketRecord, deadline: float | None = None) -> SyncSession:
        return _GuardedSync(await self._guard(self.inner.start_sync(bucket, deadline)))

    async def expire_syncs(self, now: float) -> list[tuple[str, str]]:
        return await self._guard(self.inner.expire_syncs(now))

    async def put_sync_status(self, status: SyncStatus) -> None:
        await self._guard(self.inner.put_sync_status(status))

    async def sync_statuses(self) -> list[SyncStatus]:
        return await self._guard(self.inner.sync_statuses())

    async def clear_sync_status(self, bucket: str) -> None:
        await self._guard(self.inner.clear_sync_status(bucket))

    async def put_repair_mark(self, bucket: str, token: str) -> None:
        await self._guard(self.inner.put_repair_mark(bucket, token))

    async def repair_marks(self) -> dict[str, str]:
        return await self._guard(self.inner.repair_marks())

    async def clear_repair_mark(self, bucket: str, token: str) -> bool:
        return await self._guard(self.inner.clear_repair_mark(bucket, token))

    async def object_versions(self, bucket: str, keys: Sequence[str]) -> list[int]:
        return await self._guard(self.inner.object_versions(bucket, keys))

    async def bump_versions(self, bucket: str, keys: Sequence[str]) -> list[int]:
        return await self._guard(self.inner.bump_versions(bucket, keys))

    async def apply_versioned(self, bucket: str, changes: Sequence[VersionedChange]) -> list[bool]:
        return await self._guard(self.inner.apply_versioned(bucket, changes))
