"""The index contract: an abstract async `Backend` and the records it stores.

Keys are ordered by their UTF-8 bytes, as S3 orders them. Every scan is bounded by a
limit, so a listing page costs O(page), never O(bucket).
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "SYNC_LEASE",
    "Backend",
    "BucketRecord",
    "ObjectRecord",
    "SyncExpired",
    "SyncSession",
    "SyncStatus",
    "VersionedChange",
    "key_upper_bound",
]

# Seconds a sync session lives without a `renew`: a process that dies mid-sync loses its
# session this long after its last heartbeat, and the bucket's status turns to failed.
SYNC_LEASE = 60.0


@dataclass(frozen=True)
class BucketRecord:
    """A bucket as the index knows it."""

    name: str
    created: str  # ISO 8601, e.g. "2026-12-04T15:00:00.000Z"
    region: str = "us-east-1"
    synced_at: float | None = None  # unix time of the last completed sync
    owner_id: str = ""  # the bucket owner, as ListBuckets names it
    owner_name: str = ""

    def to_json(self) -> dict[str, object]:
        """A JSON-able dict; the inverse of `from_json`."""
        return {
            "n": self.name,
            "c": self.created,
            "r": self.region,
            "s": self.synced_at,
            "o": self.owner_id,
            "d": self.owner_name,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> BucketRecord:
        """Rebuild a record from `to_json` output."""
        synced = data.get("s")
        return cls(
            name=str(data["n"]),
            created=str(data["c"]),
            region=str(data.get("r") or "us-east-1"),
            synced_at=float(synced) if isinstance(synced, int | float) else None,
            owner_id=str(data.get("o") or ""),
            owner_name=str(data.get("d") or ""),
        )


@dataclass(frozen=True)
class ObjectRecord:
    """An object's metadata. `headers` is None when only a listing has been seen."""

    key: str
    size: int
    etag: str  # with its quotes, as S3 sends it
    last_modified: str  # ISO 8601 with milliseconds, "2026-12-04T15:00:00.000Z"
    storage_class: str = "STANDARD"
    headers: Mapping[str, str] | None = field(default=None, compare=True)
    confirmed_at: float | None = None  # unix time the entry was last seen upstream
    checksum_algorithm: str | None = None  # as listings report it: CRC32, SHA256, ...
    checksum_type: str | None = None  # FULL_OBJECT or COMPOSITE, when the upstream says
    owner_id: str | None = None  # the object owner, when a listing named it
    owner_name: str | None = None

    def to_json(self) -> dict[str, object]:
        """A JSON-able dict; the inverse of `from_json`."""
        return {
            "k": self.key,
            "s": self.size,
            "e": self.etag,
            "m": self.last_modified,
            "c": self.storage_class,
            "h": dict(self.headers) if self.headers is not None else None,
            "t": self.confirmed_at,
            "a": self.checksum_algorithm,
            "y": self.checksum_type,
            "o": self.owner_id,
            "d": self.owner_name,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> ObjectRecord:
        """Rebuild a record from `to_json` output."""
        headers = data.get("h")
        confirmed = data.get("t")
        return cls(
            key=str(data["k"]),
            size=int(data["s"]),  # type: ignore[call-overload]
            etag=str(data["e"]),
            last_modified=str(data["m"]),
            storage_class=str(data.get("c") or "STANDARD"),
            headers=dict(headers) if isinstance(headers, dict) else None,
            confirmed_at=float(confirmed) if isinstance(confirmed, int | float) else None,
            checksum_algorithm=_opt_str(data.get("a")),
            checksum_type=_opt_str(data.get("y")),
            owner_id=_opt_str(data.get("o")),
            owner_name=_opt_str(data.get("d")),
        )


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class SyncStatus:
    """How the last sync of a bucket went, kept by the index so that it outlives the process.

    `state` is "running" (with the session's id), "ok" or "failed" (with `error`).
    """

    bucket: str
    state: str
    session: str = ""
    started_at: float = 0.0
    finished_at: float | None = None
    keys: int = 0
    error: str = ""

    def to_json(self) -> dict[str, object]:
        """A JSON-able dict; the inverse of `from_json`."""
        return {
            "b": self.bucket,
            "s": self.state,
            "i": self.session,
            "t": self.started_at,
            "f": self.finished_at,
            "k": self.keys,
            "e": self.error,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> SyncStatus:
        """Rebuild a status from `to_json` output."""
        finished = data.get("f")
        started = data.get("t")
        keys = data.get("k")
        return cls(
            bucket=str(data["b"]),
            state=str(data["s"]),
            session=str(data.get("i") or ""),
            started_at=float(started) if isinstance(started, int | float) else 0.0,
            finished_at=float(finished) if isinstance(finished, int | float) else None,
            keys=int(keys) if isinstance(keys, int) else 0,
            error=str(data.get("e") or ""),
        )


# (key, the record to store or None to delete, the write version it was observed at)
VersionedChange = tuple[str, "ObjectRecord | None", int]


class SyncExpired(Exception):
    """A sync session that is no longer open: its lease ran out or its bucket was deleted."""


def key_upper_bound(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every key starting with `prefix`.

    UTF-8 never contains the byte 0xFF, so `prefix + b"\\xff"` is greater than every
    valid key under `prefix`. None means no bound (empty prefix).
    """
    return prefix + b"\xff" if prefix else None


class SyncSession(abc.ABC):
    """The new state of one bucket, built aside and swapped in by `commit`.

    While the session is open, every key written to its bucket is recorded, so that
    `commit` and `patch` keep what passed through during the sync. A session that is
    not renewed before its deadline is dropped by `Backend.expire_syncs`; after that its
    `renew`, `commit` and `patch` raise `SyncExpired`.
    """

    @property
    @abc.abstractmethod
    def id(self) -> str:
        """The session's id, unique within the index."""

    @abc.abstractmethod
    async def add(self, records: Iterable[ObjectRecord]) -> None:
        """Stage a batch of objects for the new state."""

    @abc.abstractmethod
    async def commit(self, synced_at: float) -> None:
        """Swap the staged state in atomically; writes made during the sync are kept."""

    @abc.abstractmethod
    async def abort(self) -> None:
        """Drop the staged state; the old state stays as it was."""

    @abc.abstractmethod
    async def renew(self, deadline: float) -> None:
        """Move the session's deadline (unix time); SyncExpired when it is gone."""

    @abc.abstractmethod
    async def patch(self, put: Iterable[ObjectRecord], delete: Iterable[str]) -> int:
        """Apply changes to the live state, except to keys written since the session began.

        Ends the session (nothing staged is swapped in); returns how many changes applied.
        """


class Backend(abc.ABC):
    """An index of buckets and object metadata. A custom backend implements every method."""

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Open connections; called once before use."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    async def ping(self) -> bool:
        """True when the index answers."""
        await self.list_buckets()
        return True

    # An index found emptied under a running proxy (a Redis restarted without its data)
    # says that nothing exists, which is not the upstream's truth: reads go upstream
    # until it is rebuilt. Only a shared, separately run store can be emptied so.

    @property
    def detects_loss(self) -> bool:
        """Whether this backend notices being emptied (`losses`)."""
        return False

    @property
    def losses(self) -> int:
        """How many times the index was found emptied under this backend."""
        return 0

    def index_lost(self) -> bool:
        """Whether the index was found emptied and is not rebuilt yet."""
        return False

    async def rebuilt(self) -> None:  # noqa: B027 - optional hook
        """The index holds the upstream's state again (synced): trust it."""

    # Buckets

    @abc.abstractmethod
    async def list_buckets(self) -> list[BucketRecord]:
        """All buckets, ordered by name."""

    @abc.abstractmethod
    async def get_bucket(self, name: str) -> BucketRecord | None:
        """One bucket, or None."""

    @abc.abstractmethod
    async def put_bucket(self, bucket: BucketRecord) -> None:
        """Create or replace a bucket record; its objects are kept."""

    @abc.abstractmethod
    async def delete_bucket(self, name: str) -> None:
        """Forget a bucket and all its objects."""

    # Objects

    @abc.abstractmethod
    async def get_object(self, bucket: str, key: str) -> ObjectRecord | None:
        """One object, or None."""

    @abc.abstractmethod
    async def put_objects(self, bucket: str, records: Iterable[ObjectRecord]) -> None:
        """Insert or replace objects."""

    @abc.abstractmethod
    async def delete_objects(self, bucket: str, keys: Iterable[str]) -> None:
        """Remove objects; unknown keys are ignored."""

    @abc.abstractmethod
    async def scan(
        self, bucket: str, prefix: bytes, after: bytes | None, limit: int
    ) -> list[ObjectRecord]:
        """Up to `limit` objects whose key starts with `prefix` and is > `after`, in byte order."""

    @abc.abstractmethod
    async def count_objects(self, bucket: str) -> int:
        """How many objects the index holds for a bucket."""

    @abc.abstractmethod
    async def start_sync(self, bucket: BucketRecord, deadline: float | None = None) -> SyncSession:
        """Begin building a bucket's new state aside; it lives until `deadline` unless renewed.

        The default deadline is `SYNC_LEASE` seconds from now.
        """

    @abc.abstractmethod
    async def expire_syncs(self, now: float) -> list[tuple[str, str]]:
        """Drop the sessions whose deadline is before `now`: (bucket, session id) of each."""

    # How syncs went, kept across restarts.

    @abc.abstractmethod
    async def put_sync_status(self, status: SyncStatus) -> None:
        """Record how the last sync of `status.bucket` went (replacing the previous one)."""

    @abc.abstractmethod
    async def sync_statuses(self) -> list[SyncStatus]:
        """Every recorded status, ordered by bucket."""

    @abc.abstractmethod
    async def clear_sync_status(self, bucket: str) -> None:
        """Forget a bucket's status."""

    # Repair marks: buckets whose index missed a write, published by the proxy that
    # forwarded it (keeper.py), so that every proxy on this index reads them upstream
    # and any of them may repair them.

    @abc.abstractmethod
    async def put_repair_mark(self, bucket: str, token: str) -> None:
        """Mark `bucket` owed a repair; `token` names this mark (replacing any other)."""

    @abc.abstractmethod
    async def repair_marks(self) -> dict[str, str]:
        """Every bucket owed a repair, with its mark's token."""

    @abc.abstractmethod
    async def clear_repair_mark(self, bucket: str, token: str) -> bool:
        """Forget the mark if it is still `token` (not marked again since); whether it was."""

    # Write versions: a counter per key, bumped after each write that passed through, so
    # that of two concurrent writers only the later one's view of the upstream is stored.
    # Versions outlive their bucket (a deleted and re-created bucket never reuses one).

    @abc.abstractmethod
    async def object_versions(self, bucket: str, keys: Sequence[str]) -> list[int]:
        """The current write version of each key (0 when never written)."""

    @abc.abstractmethod
    async def bump_versions(self, bucket: str, keys: Sequence[str]) -> list[int]:
        """Increment each key's write version; the new values."""

    @abc.abstractmethod
    async def apply_versioned(self, bucket: str, changes: Sequence[VersionedChange]) -> list[bool]:
        """Store or delete each key whose version still equals the given one, atomically.

        Which changes applied; nothing applies to a bucket the index does not hold.
        """

    # Convenience wrappers over the abstract methods.

    async def put_object(self, bucket: str, record: ObjectRecord) -> None:
        """Insert or replace one object."""
        await self.put_objects(bucket, [record])

    async def delete_object(self, bucket: str, key: str) -> None:
        """Remove one object."""
        await self.delete_objects(bucket, [key])
