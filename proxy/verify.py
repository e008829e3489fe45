"""Verify: the index compared with the upstream, bucket by bucket; repair applies the differences.

The upstream is walked as a sync walks it (`walk.walk_keys`), and each listed interval
is compared with the index's keys in the same interval, so a bucket of any size is
checked in O(page) memory per reader. Differences found while clients keep writing may
be transient: each one is checked again with one upstream HEAD and one index read, and
kept only if it still holds.

A repair opens a sync session before the walk, so that a key written through the proxy
meanwhile is newer than what was compared and is left alone (`SyncSession.patch`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from .backends.base import Backend, ObjectRecord
from .errors import NoSuchBucket
from .mirror import record_from_head
from .sync import (
    PAGE,
    SyncOptions,
    list_page_fetcher,
    run_with_lease,
    sync_bucket,
    upstream_buckets,
)
from .upstream import Upstream
from .walk import Chunk, walk_keys

__all__ = [
    "CONFIRM_LIMIT",
    "Difference",
    "VerifyReport",
    "compare",
    "same_object",
    "verify_bucket",
    "verify_buckets",
]

# Up to this many differences are checked again one by one; beyond, the listing decides.
CONFIRM_LIMIT = 1000


@dataclass(frozen=True)
class Difference:
    """One key where the index and the upstream disagree."""

    kind: str  # "missing" (only upstream), "extra" (only in the index) or "changed"
    key: str
    index: ObjectRecord | None
    upstream: ObjectRecord | None

    def describe(self) -> str:
        """One line for people."""
        if self.kind != "changed" or self.index is None or self.upstream is None:
            return f"{self.kind:<8} {self.key}"
        changes = [
            f"{name} {old} -> {new}"
            for name, old, new in (
                ("etag", self.index.etag, self.upstream.etag),
                ("size", self.index.size, self.upstream.size),
                ("modified", self.index.last_modified[:19], self.upstream.last_modified[:19]),
                ("class", self.index.storage_class, self.upstream.storage_class),
            )
            if old != new
        ]
        return f"{self.kind:<8} {self.key} ({', '.join(changes)})"


@dataclass(frozen=True)
class VerifyReport:
    """How one bucket's index compares with the upstream."""

    bucket: str
    keys: int  # keys the upstream holds
    differences: tuple[Difference, ...] = ()
    bucket_state: str = "ok"  # "ok", "not-in-index" or "not-upstream"
    repaired: int = 0
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def equal(self) -> bool:
        """No difference at all."""
        return self.bucket_state == "ok" and not self.differences

    def lines(self) -> list[str]:
        """What `mimicdb-proxy verify` prints for this bucket."""
        if self.bucket_state == "not-in-index":
            head = f"{self.bucket}: not in the index ({self.keys} keys upstream)"
        elif self.bucket_state == "not-upstream":
            head = f"{self.bucket}: in the index but gone upstream"
        elif self.equal:
            head = f"{self.bucket}: index equals upstream ({self.keys} keys)"
        else:
            kinds = ", ".join(
                f"{self.counts.get(k, 0)} {k}" for k in ("missing", "extra", "changed")
            )
            head = f"{self.bucket}: {kinds} (of {self.keys} keys upstream)"
        if self.repaired:
            head += f"; repaired {self.repaired}"
        return [head] + ["  " + d.describe() for d in self.differences]

    def to_json(self) -> dict[str, object]:
        """A JSON-able summary."""
        return {
            "bucket": self.bucket,
            "equal": self.equal,
            "bucket_state": self.bucket_state,
            "keys": self.keys,
            "missing": self.counts.get("missing", 0),
            "extra": self.counts.get("extra", 0),
            "changed": self.counts.get("changed", 0),
            "repaired": self.repaired,
            "seconds": round(self.seconds, 3),
            "differences": [{"kind": d.kind, "key": d.key} for d in self.differences],
        }


def same_object(a: ObjectRecord, b: ObjectRecord) -> bool:
    """Whether two records describe the same object version.

    Last-Modified is compared to the second: a listing says milliseconds, a HEAD (whose
    answer the index keeps after a write) only seconds.
    """
    return (
        a.etag == b.etag
        and a.size == b.size
        and a.last_modified[:19] == b.last_modified[:19]
        and a.storage_class == b.storage_class
    )


def compare(index: Sequence[ObjectRecord], upstream: Sequence[ObjectRecord]) -> list[Difference]:
    """The differences between two key-ordered lists of the same interval."""
    out: list[Difference] = []
    i = j = 0
    while i < len(index) or j < len(upstream):
        mine = index[i] if i < len(index) else None
        theirs = upstream[j] if j < len(upstream) else None
        if theirs is None or (mine is not None and mine.key < theirs.key):
            assert mine is not None
            out.append(Difference("extra", mine.key, mine, None))
            i += 1
        elif mine is None or theirs.key < mine.key:
            out.append(Difference("missing", theirs.key, None, theirs))
            j += 1
        else:
            if not same_object(mine, theirs):
                out.append(Difference("changed", mine.key, mine, theirs))
            i += 1
            j += 1
    return out


async def verify_buckets(
    backend: Backend,
    upstream: Upstream,
    names: Sequence[str] = (),
    repair: bool = False,
    options: SyncOptions | None = None,
) -> list[VerifyReport]:
    """Verify the named buckets, or every bucket the index holds."""
    listed = {b.name for b in await upstream_buckets(upstream)}
    targets = list(names) or [b.name for b in await backend.list_buckets()]
    reports = []
    for name in targets:
        reports.append(
            await verify_bucket(backend, upstream, name, name in listed, repair, options)
        )
    return reports


async def verify_bucket(
    backend: Backend,
    upstream: Upstream,
    name: str,
    upstream_has: bool,
    repair: bool = False,
    options: SyncOptions | None = None,
) -> VerifyReport:
    """Compare one bucket; with `repair`, make the index agree, changing only what differs."""
    opts = options or SyncOptions()
    started = time.time()
    record = await backend.get_bucket(name)
    if record is None and not upstream_has:
        raise NoSuchBucket(BucketName=name)
    if record is None:
        buckets = {b.name: b for b in await upstream_buckets(upstream)}
        report = (
            await sync_bucket(backend, upstream, buckets[name], options=opts) if repair else None
        )
        keys = report.keys if report is not None else 0
        return VerifyReport(name, keys, (), "not-in-index", keys, time.time() - started)
    if not upstream_has:
        extra = await backend.count_objects(name)
        if repair:
            await backend.delete_bucket(name)
            await backend.clear_sync_status(name)
        return VerifyReport(
            name, 0, (), "not-upstream", extra if repair else 0, time.time() - started
        )

    session = await backend.start_sync(record, deadline=started + opts.lease) if repair else None
    differences: list[Difference] = []
    keys = 0

    async def check(chunk: Chunk) -> None:
        nonlocal keys
        keys += len(chunk.records)
        mine = await _index_interval(backend, name, chunk.after, chunk.upto)
        differences.extend(compare(mine, chunk.records))

    try:
        walk = walk_keys(list_page_fetcher(upstream, name), check, opts.workers, opts.page_size)
        if session is not None:
            await run_with_lease(session, opts.lease, walk)
        else:
            await walk
        differences.sort(key=lambda d: d.key)
        if len(differences) <= CONFIRM_LIMIT:
            differences = await _confirm(backend, upstream, name, differences, opts.workers)
        repaired = 0
        if session is not None:
            now = time.time()
            put = [replace(d.upstream, confirmed_at=now) for d in differences if d.upstream]
            delete = [d.key for d in differences if d.upstream is None]
            repaired = await session.patch(put, delete) if differences else 0
            if not differences:
                await session.abort()
    except BaseException:
        if session is not None:
            await session.abort()
        raise
    counts = {
        kind: sum(d.kind == kind for d in differences) for kind in ("missing", "extra", "changed")
    }
    return VerifyReport(
        name, keys, tuple(differences), "ok", repaired, time.time() - started, counts
    )


async def _index_interval(
    backend: Backend, bucket: str, after: str | None, upto: str | None
) -> list[ObjectRecord]:
    """The index's records with after < key <= upto, in order."""
    out: list[ObjectRecord] = []
    position = after.encode("utf-8") if after is not None else None
    while True:
        batch = await backend.scan(bucket, b"", position, PAGE)
        for entry in batch:
            if upto is not None and entry.key > upto:
                return out
            out.append(entry)
        if len(batch) < PAGE:
            return out
        position = batch[-1].key.encode("utf-8")


async def _confirm(
    backend: Backend, upstream: Upstream, bucket: str, found: list[Difference], workers: int
) -> list[Difference]:
    """Check each difference again, now: one HEAD upstream and one index read per key."""
    limit = asyncio.Semaphore(max(1, workers))

    async def again(difference: Difference) -> Difference | None:
        async with limit:
            reply = await upstream.fetch("HEAD", f"/{bucket}/{difference.key}")
            mine = await backend.get_object(bucket, difference.key)
        if reply.status == 404:
            theirs = None
        elif reply.status == 200:
            theirs = record_from_head(difference.key, reply.headers)
            if difference.upstream is not None:  # the listing's owner and checksum fields
                theirs = replace(
                    theirs,
                    owner_id=difference.upstream.owner_id,
                    owner_name=difference.upstream.owner_name,
                )
        else:
            return difference  # the upstream cannot tell now: keep what the listing said
        if mine is None and theirs is None:
            return None
        if mine is None:
            return Difference("missing", difference.key, None, theirs)
        if theirs is None:
            return Difference("extra", difference.key, mine, None)
        if same_object(mine, theirs):
            return None
        return Difference("changed", difference.key, mine, theirs)

    checked = await asyncio.gather(*(again(d) for d in found))
    return [d for d in checked if d is not None]
