"""An in-process index: the simplest `Backend`, and the example to copy for a custom one.

Nothing survives the process. Each bucket keeps its keys in a sorted list of UTF-8
bytes (S3's order), so a scan is a bisection plus a slice.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from .base import (
    SYNC_LEASE,
    Backend,
    BucketRecord,
    ObjectRecord,
    SyncExpired,
    SyncSession,
    SyncStatus,
    VersionedChange,
    key_upper_bound,
)

__all__ = ["MemoryBackend"]


@dataclass
class _BucketState:
    record: BucketRecord
    keys: list[bytes] = field(default_factory=list)
    objects: dict[bytes, ObjectRecord] = field(default_factory=dict)
    # Keys written or deleted while a sync of this bucket runs, per sync session.
    touched: dict[str, set[bytes]] = field(default_factory=dict)

    def put(self, record: ObjectRecord) -> None:
        raw = record.key.encode("utf-8")
        if raw not in self.objects:
            bisect.insort(self.keys, raw)
        self.objects[raw] = record
        self._touch(raw)

    def delete(self, key: str) -> None:
        raw = key.encode("utf-8")
        if self.objects.pop(raw, None) is not None:
            del self.keys[bisect.bisect_left(self.keys, raw)]
        self._touch(raw)

    def _touch(self, raw: bytes) -> None:
        for keys in self.touched.values():
            keys.add(raw)


class _MemorySync(SyncSession):
    def __init__(self, backend: MemoryBackend, bucket: BucketRecord, session_id: str) -> None:
        self._backend = backend
        self._bucket = bucket
        self._id = session_id
        self._staged: dict[bytes, ObjectRecord] = {}
        state = backend._buckets.get(bucket.name)
        if state is not None:
            state.touched[session_id] = set()

    @property
    def id(self) -> str:
        return self._id

    def _check_open(self) -> None:
        if self._id not in self._backend._leases:
            raise SyncExpired(f"sync {self._id} of {self._bucket.name} is no longer open")

    async def add(self, records: Iterable[ObjectRecord]) -> None:
        for record in records:
            self._staged[record.key.encode("utf-8")] = record

    async def renew(self, deadline: float) -> None:
        self._check_open()
        self._backend._leases[self._id] = (self._bucket.name, deadline)

    async def patch(self, put: Iterable[ObjectRecord], delete: Iterable[str]) -> int:
        self._check_open()
        state = self._backend._buckets.get(self._bucket.name)
        self._backend._end(self._id)
        if state is None:
            return 0
        touched = state.touched.pop(self._id, set())
        applied = 0
        for record in put:
            if record.key.encode("utf-8") not in touched:
                state.put(record)
                applied += 1
        for key in delete:
            if key.encode("utf-8") not in touched:
                state.delete(key)
                applied += 1
        return applied

    async def commit(self, synced_at: float) -> None:
        self._check_open()
        self._backend._end(self._id)
        old = self._backend._buckets.get(self._bucket.name)
        touched = old.touched.pop(self._id, set()) if old is not None else set()
        staged = dict(self._staged)
        if old is not None:
            # A write that passed through during the sync is newer than the listing.
            for raw in touched:
                if raw in old.objects:
                    staged[raw] = old.objects[raw]
                else:
                    staged.pop(raw, None)
        record = replace(self._bucket, synced_at=synced_at)
        state = _BucketState(record=record, keys=sorted(staged), objects=staged)
        if old is not None:
            state.touched = old.touched
        self._backend._buckets[self._bucket.name] = state

    async def abort(self) -> None:
        self._backend._end(self._id)
        old = self._backend._buckets.get(self._bucket.name)
        if old is not None:
            old.touched.pop(self._id, None)


class MemoryBackend(Backend):
    """The index in a dict of sorted lists."""

    def __init__(self) -> None:
        self._buckets: dict[str, _BucketState] = {}
        self._next_sync = 0
        self._leases: dict[str, tuple[str, float]] = {}  # open sync id -> (bucket, deadline)
        self._statuses: dict[str, SyncStatus] = {}
        self._repairs: dict[str, str] = {}
        self._versions: dict[str, dict[str, int]] = {}

    def _end(self, session_id: str) -> None:
        self._leases.pop(session_id, None)

    async def list_buckets(self) -> list[BucketRecord]:
        return [self._buckets[name].record for name in sorted(self._buckets)]

    async def get_bucket(self, name: str) -> BucketRecord | None:
        state = self._buckets.get(name)
        return state.record if state is not None else None

    async def put_bucket(self, bucket: BucketRecord) -> None:
        state = self._buckets.get(bucket.name)
        if state is None:
            self._buckets[bucket.name] = _BucketState(record=bucket)
        else:
            state.record = bucket

    async def delete_bucket(self, name: str) -> None:
        self._buckets.pop(name, None)
        for session_id, (bucket, _) in list(self._leases.items()):
            if bucket == name:
                self._end(session_id)

    async def get_object(self, bucket: str, key: str) -> ObjectRecord | None:
        state = self._buckets.get(bucket)
        return state.objects.get(key.encode("utf-8")) if state is not None else None

    async def put_objects(self, bucket: str, records: Iterable[ObjectRecord]) -> None:
        state = self._buckets.get(bucket)
        if state is None:
            return
        for record in records:
            state.put(record)

    async def delete_objects(self, bucket: str, keys: Iterable[str]) -> None:
        state = self._buckets.get(bucket)
        if state is None:
            return
        for key in keys:
            state.delete(key)

    async def scan(
        self, bucket: str, prefix: bytes, after: bytes | None, limit: int
    ) -> list[ObjectRecord]:
        state = self._buckets.get(bucket)
        if state is None or limit <= 0:
            return []
        start = prefix if after is None or after < prefix else after
        index = (
            bisect.bisect_right(state.keys, start)
            if start == after
            else bisect.bisect_left(state.keys, start)
        )
        upper = key_upper_bound(prefix)
        out: list[ObjectRecord] = []
        for raw in state.keys[index : index + limit]:
            if upper is not None and raw >= upper:
                break
            out.append(state.objects[raw])
        return out

    async def count_objects(self, bucket: str) -> int:
        state = self._buckets.get(bucket)
        return len(state.keys) if state is not None else 0

    async def start_sync(self, bucket: BucketRecord, deadline: float | None = None) -> SyncSession:
        if bucket.name not in self._buckets:
            self._buckets[bucket.name] = _BucketState(record=bucket)
        self._next_sync += 1
        session_id = str(self._next_sync)
        self._leases[session_id] = (bucket.name, deadline or time.time() + SYNC_LEASE)
        return _MemorySync(self, bucket, session_id)

    async def expire_syncs(self, now: float) -> list[tuple[str, str]]:
        expired = [(b, i) for i, (b, deadline) in self._leases.items() if deadline < now]
        for bucket, session_id in expired:
            self._end(session_id)
            state = self._buckets.get(bucket)
            if state is not None:
                state.touched.pop(session_id, None)
        return sorted(expired)

    async def put_sync_status(self, status: SyncStatus) -> None:
        self._statuses[status.bucket] = status

    async def sync_statuses(self) -> list[SyncStatus]:
        return [self._statuses[name] for name in sorted(self._statuses)]

    async def clear_sync_status(self, bucket: str) -> None:
        self._statuses.pop(bucket, None)

    async def put_repair_mark(self, bucket: str, token: str) -> None:
        self._repairs[bucket] = token

    async def repair_marks(self) -> dict[str, str]:
        return dict(self._repairs)

    async def clear_repair_mark(self, bucket: str, token: str) -> bool:
        if self._repairs.get(bucket) != token:
            return False
        del self._repairs[bucket]
        return True

    async def object_versions(self, bucket: str, keys: Sequence[str]) -> list[int]:
        versions = self._versions.get(bucket, {})
        return [versions.get(key, 0) for key in keys]

    async def bump_versions(self, bucket: str, keys: Sequence[str]) -> list[int]:
        versions = self._versions.setdefault(bucket, {})
        out = []
        for key in keys:
            versions[key] = versions.get(key, 0) + 1
            out.append(versions[key])
        return out

    async def apply_versioned(self, bucket: str, changes: Sequence[VersionedChange]) -> list[bool]:
        state = self._buckets.get(bucket)
        versions = self._versions.get(bucket, {})
        applied = []
        for key, record, version in changes:
            ok = state is not None and versions.get(key, 0) == version
            if ok and state is not None:
                if record is None:
                    state.delete(key)
                else:
                    state.put(record)
            applied.append(ok)
        return applied
