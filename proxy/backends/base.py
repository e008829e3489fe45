"""The index contract: an abstract async `Backend` and the records it stores.

Keys are ordered by their UTF-8 bytes, as S3 orders them. Every scan is bounded by a
limit, so a listing page costs O(page), never O(bucket).
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["Backend", "BucketRecord", "ObjectRecord", "SyncSession", "key_upper_bound"]


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


def key_upper_bound(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every key starting with `prefix`.

    UTF-8 never contains the byte 0xFF, so `prefix + b"\\xff"` is greater than every
    valid key under `prefix`. None means no bound (empty prefix).
    """
    return prefix + b"\xff" if prefix else None


class SyncSession(abc.ABC):
    """The new state of one bucket, built aside and swapped in by `commit`."""

    @abc.abstractmethod
    async def add(self, records: Iterable[ObjectRecord]) -> None:
        """Stage a batch of objects for the new state."""

    @abc.abstractmethod
    async def commit(self, synced_at: float) -> None:
        """Swap the staged state in atomically; writes made during the sync are kept."""

    @abc.abstractmethod
    async def abort(self) -> None:
        """Drop the staged state; the old state stays as it was."""


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
    async def start_sync(self, bucket: BucketRecord) -> SyncSession:
        """Begin building a bucket's new state aside."""

    # Convenience wrappers over the abstract methods.

    async def put_object(self, bucket: str, record: ObjectRecord) -> None:
        """Insert or replace one object."""
        await self.put_objects(bucket, [record])

    async def delete_object(self, bucket: str, key: str) -> None:
        """Remove one object."""
        await self.delete_objects(bucket, [key])
