"""Sync: the upstream's state of buckets walked with ListObjectsV2 and swapped into the index.

A bucket's new state is built aside (`Backend.start_sync`) and swapped in at the end,
so readers never see half a bucket and a failed sync leaves the old state. The walk
runs several readers over ranges of the key space (`walk.walk_keys`); the staged state
is the same set of keys whatever the split. HEAD headers already in the index survive
a sync when the object's ETag is unchanged.

Each sync records its status in the index ("running" with its session, then "ok" or
"failed"), and renews its session's lease while it runs: a process killed mid-sync
leaves a session that expires and a status that `keeper` turns into "failed".
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import Any

from . import s3xml
from .backends.base import (
    SYNC_LEASE,
    Backend,
    BucketRecord,
    ObjectRecord,
    SyncExpired,
    SyncSession,
    SyncStatus,
)
from .errors import NoSuchBucket, S3Error, ServiceUnavailable
from .mirror import carry_headers
from .upstream import Upstream
from .walk import Chunk, FetchPage, walk_keys

__all__ = [
    "PAGE",
    "Progress",
    "SyncOptions",
    "SyncReport",
    "bucket_region",
    "list_page_fetcher",
    "run_with_lease",
    "sync_bucket",
    "sync_buckets",
    "upstream_buckets",
]

log = logging.getLogger(__name__)

PAGE = 1000

Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class SyncReport:
    """What one bucket's sync did."""

    bucket: str
    keys: int
    seconds: float
    pages: int = 0


@dataclass(frozen=True)
class SyncOptions:
    """How a sync walks: concurrent readers, keys per page, seconds of lease per renewal."""

    workers: int = 8
    page_size: int = PAGE
    lease: float = SYNC_LEASE


class UpstreamError(S3Error):
    """An upstream error answer met during a sync."""

    code, status = "UpstreamError", 502


def _raise_for(status: int, body: bytes) -> None:
    code = s3xml.parse_error_code(body) or f"HTTP{status}"
    if code == "NoSuchBucket":
        raise NoSuchBucket()
    if status >= 500:
        raise ServiceUnavailable(f"upstream answered {status} {code}")
    raise UpstreamError(f"upstream answered {status} {code}")


async def upstream_buckets(upstream: Upstream) -> list[BucketRecord]:
    """ListBuckets from the upstream."""
    reply = await upstream.fetch("GET", "/")
    if reply.status != 200:
        _raise_for(reply.status, reply.body)
    buckets, _, _ = s3xml.parse_list_buckets(reply.body)
    return buckets


async def bucket_region(upstream: Upstream, name: str) -> str:
    """GetBucketLocation from the upstream."""
    reply = await upstream.fetch("GET", f"/{name}", [("location", "")])
    if reply.status != 200:
        _raise_for(reply.status, reply.body)
    return s3xml.parse_location(reply.body)


def list_page_fetcher(upstream: Upstream, bucket: str) -> FetchPage:
    """ListObjectsV2 pages of one bucket, by start-after; records confirmed as of the page.

    Keys come URL-encoded (`encoding-type=url`, decoded by the parser): XML 1.0 cannot
    carry every character a key may hold.
    """

    async def fetch(start_after: str | None, max_keys: int, until: str | None) -> s3xml.ListPage:
        query = [
            ("list-type", "2"),
            ("max-keys", str(max_keys)),
            ("fetch-owner", "true"),
            ("encoding-type", "url"),
        ]
        if start_after is not None:
            query.append(("start-after", start_after))
        reply = await upstream.fetch("GET", f"/{bucket}", query)
        if reply.status != 200:
            _raise_for(reply.status, reply.body)
        return s3xml.parse_list_objects(reply.body, confirmed_at=time.time(), until=until)

    return fetch


async def sync_buckets(
    backend: Backend,
    upstream: Upstream,
    names: Sequence[str] = (),
    progress: Progress | None = None,
    options: SyncOptions | None = None,
) -> list[SyncReport]:
    """Sync the named buckets, or every bucket (forgetting those gone upstream)."""
    listed = {b.name: b for b in await upstream_buckets(upstream)}
    if not names:
        for known in await backend.list_buckets():
            if known.name not in listed:
                await backend.delete_bucket(known.name)
                await backend.clear_sync_status(known.name)
        targets = list(listed.values())
    else:
        missing = [n for n in names if n not in listed]
        for name in missing:
            await backend.delete_bucket(name)
            await backend.clear_sync_status(name)
        if missing:
            raise NoSuchBucket(BucketName=missing[0])
        targets = [listed[n] for n in names]
    return [await sync_bucket(backend, upstream, b, progress, options) for b in targets]


async def sync_bucket(
    backend: Backend,
    upstream: Upstream,
    bucket: BucketRecord,
    progress: Progress | None = None,
    options: SyncOptions | None = None,
) -> SyncReport:
    """Walk one bucket upstream and swap its new state into the index."""
    opts = options or SyncOptions()
    started = time.time()
    region = await bucket_region(upstream, bucket.name)
    record = replace(bucket, region=region)
    session = await backend.start_sync(record, deadline=started + opts.lease)
    status = SyncStatus(bucket.name, "running", session=session.id, started_at=started)
    count = 0

    async def stage(chunk: Chunk) -> None:
        nonlocal count
        records = await _keep_known_headers(backend, bucket.name, chunk.after, chunk.records)
        await session.add(records)
        count += len(records)
        if progress is not None:
            progress(bucket.name, count)

    try:
        await backend.put_sync_status(status)
        fetch = list_page_fetcher(upstream, bucket.name)
        pages = await run_with_lease(
            session, opts.lease, walk_keys(fetch, stage, opts.workers, opts.page_size)
        )
        await session.commit(time.time())
    except BaseException as exc:
        await _give_up(backend, session, replace(status, keys=count), exc)
        if isinstance(exc, SyncExpired):
            raise ServiceUnavailable(f"The sync of {bucket.name} lost its session: {exc}") from exc
        raise
    finished = time.time()
    done = replace(status, state="ok", session="", finished_at=finished, keys=count)
    await backend.put_sync_status(done)
    if record.owner_id:
        current = await backend.get_bucket(bucket.name)
        if current is not None:
            await backend.put_bucket(
                replace(current, owner_id=record.owner_id, owner_name=record.owner_name)
            )
    return SyncReport(bucket.name, count, finished - started, pages)


async def run_with_lease(session: SyncSession, lease: float, walk: Coroutine[Any, Any, int]) -> int:
    """Run a walk while renewing the session's lease; a lost session stops the walk."""

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(lease / 3)
            await session.renew(time.time() + lease)

    walking = asyncio.create_task(walk)
    beating = asyncio.create_task(heartbeat())
    try:
        await asyncio.wait({walking, beating}, return_when=asyncio.FIRST_COMPLETED)
        if not walking.done():  # the heartbeat failed: its error ends the sync
            walking.cancel()
            with suppress(asyncio.CancelledError):
                await walking
            beating.result()
        return walking.result()
    finally:
        for task in (walking, beating):
            task.cancel()
        await asyncio.gather(walking, beating, return_exceptions=True)


async def _give_up(
    backend: Backend, session: SyncSession, status: SyncStatus, exc: BaseException
) -> None:
    """Abort the session and record the failure; the old state stays as it was."""
    error = f"{exc.code}: {exc.message}" if isinstance(exc, S3Error) else repr(exc)
    if isinstance(exc, asyncio.CancelledError):
        error = "cancelled"
    log.warning("sync of %s failed after %d keys: %s", status.bucket, status.keys, error)
    failed = replace(status, state="failed", finished_at=time.time(), error=error)
    try:
        await session.abort()
        await backend.put_sync_status(failed)
    except Exception as cleanup:  # the index itself may be what failed
        # The session's lease runs out by itself; the status stays "running" until then,
        # and `keeper` turns it into "failed" when it expires the session.
        log.warning("could not record the failed sync of %s: %r", status.bucket, cleanup)


async def _keep_known_headers(
    backend: Backend, bucket: str, after: str | None, records: list[ObjectRecord]
) -> list[ObjectRecord]:
    """Carry HEAD headers over from the old index where the object did not change."""
    if not records:
        return records
    last = records[-1].key.encode("utf-8")
    old: dict[str, ObjectRecord] = {}
    position = after.encode("utf-8") if after is not None else None
    while True:
        batch = await backend.scan(bucket, b"", position, PAGE)
        for entry in batch:
            if entry.key.encode("utf-8") > last:
                break
            old[entry.key] = entry
        if len(batch) < PAGE or batch[-1].key.encode("utf-8") >= last:
            break
        position = batch[-1].key.encode("utf-8")
    return [carry_headers(record, old.get(record.key)) for record in records]
