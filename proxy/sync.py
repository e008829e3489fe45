"""Sync: the upstream's state of buckets walked with ListObjectsV2 and swapped into the index.

A bucket's new state is built aside (`Backend.start_sync`) and swapped in at the end,
so readers never see half a bucket and a failed sync leaves the old state. HEAD
headers already in the index survive a sync when the object's ETag is unchanged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from . import s3xml
from .backends.base import Backend, BucketRecord, ObjectRecord
from .errors import NoSuchBucket, S3Error, ServiceUnavailable
from .upstream import Upstream

__all__ = ["SyncReport", "sync_bucket", "sync_buckets"]

log = logging.getLogger(__name__)

PAGE = 1000

Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class SyncReport:
    """What one bucket's sync did."""

    bucket: str
    keys: int
    seconds: float


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


async def sync_buckets(
    backend: Backend,
    upstream: Upstream,
    names: Sequence[str] = (),
    progress: Progress | None = None,
) -> list[SyncReport]:
    """Sync the named buckets, or every bucket (forgetting those gone upstream)."""
    listed = {b.name: b for b in await upstream_buckets(upstream)}
    if not names:
        for known in await backend.list_buckets():
            if known.name not in listed:
                await backend.delete_bucket(known.name)
        targets = list(listed.values())
    else:
        missing = [n for n in names if n not in listed]
        for name in missing:
            await backend.delete_bucket(name)
        if missing:
            raise NoSuchBucket(BucketName=missing[0])
        targets = [listed[n] for n in names]
    return [await sync_bucket(backend, upstream, bucket, progress) for bucket in targets]


async def sync_bucket(
    backend: Backend,
    upstream: Upstream,
    bucket: BucketRecord,
    progress: Progress | None = None,
) -> SyncReport:
    """Walk one bucket upstream and swap its new state into the index."""
    started = time.time()
    region = await bucket_region(upstream, bucket.name)
    record = replace(bucket, region=region)
    session = await backend.start_sync(record)
    count = 0
    try:
        token: str | None = None
        previous: bytes | None = None
        while True:
            query = [("list-type", "2"), ("max-keys", str(PAGE)), ("fetch-owner", "true")]
            if token is not None:
                query.append(("continuation-token", token))
            reply = await upstream.fetch("GET", f"/{bucket.name}", query)
            if reply.status != 200:
                _raise_for(reply.status, reply.body)
            page = s3xml.parse_list_objects(reply.body)
            records = await _keep_known_headers(backend, bucket.name, previous, page.records)
            await session.add(records)
            count += len(records)
            if progress is not None:
                progress(bucket.name, count)
            if page.records:
                previous = page.records[-1].key.encode("utf-8")
            if not page.is_truncated or not page.next_token:
                break
            token = page.next_token
    except BaseException:
        await session.abort()
        raise
    await session.commit(time.time())
    if record.owner_id:
        current = await backend.get_bucket(bucket.name)
        if current is not None:
            await backend.put_bucket(
                replace(current, owner_id=record.owner_id, owner_name=record.owner_name)
            )
    return SyncReport(bucket.name, count, time.time() - started)


async def _keep_known_headers(
    backend: Backend, bucket: str, after: bytes | None, records: list[ObjectRecord]
) -> list[ObjectRecord]:
    """Carry HEAD headers over from the old index where the object did not change."""
    if not records:
        return records
    last = records[-1].key.encode("utf-8")
    old: dict[str, ObjectRecord] = {}
    position = after
    while True:
        batch = await backend.scan(bucket, b"", position, PAGE)
        for entry in batch:
            if entry.key.encode("utf-8") > last:
                break
            old[entry.key] = entry
        if len(batch) < PAGE or batch[-1].key.encode("utf-8") >= last:
            break
        position = batch[-1].key.encode("utf-8")
    now = time.time()
    out = []
    for record in records:
        known = old.get(record.key)
        headers = None
        if (
            known is not None
            and known.headers is not None
            and (known.etag, known.last_modified) == (record.etag, record.last_modified)
        ):
            headers = known.headers
        out.append(replace(record, headers=headers, confirmed_at=now))
    return out
