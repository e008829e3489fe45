"""The parallel range walker (proxy/walk.py) over an in-memory bucket answering like S3.

The bucket is a sorted list served with start-after semantics; each test checks that
the chunks partition the key space and hold exactly the bucket's keys, whatever the
number of readers. (Against the real S3 emulator: tests/test_sync.py.)
"""

from __future__ import annotations

import asyncio
import bisect

import pytest

from proxy.backends.base import ObjectRecord
from proxy.s3xml import ListPage
from proxy.walk import Chunk, walk_keys

from .test_backends import ODD_KEYS


class Bucket:
    """Keys in S3 order; `fetch` is a ListObjectsV2 with start-after, counting concurrency."""

    def __init__(self, keys: list[str], latency: float = 0.0) -> None:
        self.keys = sorted(set(keys), key=lambda key: key.encode("utf-8"))
        self.latency = latency
        self.in_flight = 0
        self.most_in_flight = 0
        self.requests = 0
        self.fail_after: int | None = None

    async def fetch(self, start_after: str | None, max_keys: int, until: str | None) -> ListPage:
        self.requests += 1
        if self.fail_after is not None and self.requests > self.fail_after:
            raise RuntimeError("upstream went away")
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.latency)
        finally:
            self.in_flight -= 1
        start = 0 if start_after is None else bisect.bisect_right(self.keys, start_after)
        page = self.keys[start : start + max_keys]
        records = [ObjectRecord(k, 1, '"e"', "2026-12-04T15:00:00.000Z") for k in page]
        truncated = start + max_keys < len(self.keys)
        return ListPage(records, [], truncated, "token" if truncated else None)


async def walk(bucket: Bucket, workers: int, page_size: int) -> list[Chunk]:
    chunks: list[Chunk] = []

    async def collect(chunk: Chunk) -> None:
        chunks.append(chunk)

    await walk_keys(bucket.fetch, collect, workers=workers, page_size=page_size)
    return sorted(chunks, key=lambda c: (c.after is not None, c.after or ""))


def check_partition(chunks: list[Chunk], keys: list[str]) -> None:
    """Chunks tile (None, None) without gaps or overlaps and hold every key once."""
    assert chunks[0].after is None
    assert chunks[-1].upto is None
    for previous, following in zip(chunks, chunks[1:], strict=False):
        assert previous.upto is not None and previous.upto == following.after
    for chunk in chunks:
        for record in chunk.records:
            assert chunk.after is None or record.key > chunk.after
            assert chunk.upto is None or record.key <= chunk.upto
    assert [r.key for c in chunks for r in c.records] == keys


@pytest.mark.parametrize("workers", [1, 2, 8])
@pytest.mark.parametrize("page_size", [1, 3, 1000])
async def test_chunks_partition_odd_keys(workers: int, page_size: int) -> None:
    bucket = Bucket(ODD_KEYS + [f"p{i % 5}/{i:03d}" for i in range(150)])
    check_partition(await walk(bucket, workers, page_size), bucket.keys)


@pytest.mark.parametrize("keys", [[], ["only"], ["\U0010ffff"], ["a", "a\x00", "a\x00\x00"]])
async def test_tiny_buckets(keys: list[str]) -> None:
    bucket = Bucket(keys)
    check_partition(await walk(bucket, 8, 1), bucket.keys)


async def test_one_reader_walks_page_after_page() -> None:
    bucket = Bucket([f"k{i:05d}" for i in range(1000)])
    chunks = await walk(bucket, 1, 100)
    check_partition(chunks, bucket.keys)
    assert bucket.most_in_flight == 1
    assert bucket.requests == 10  # as many pages as a paginator, no probing


async def test_several_readers_list_at_once() -> None:
    bucket = Bucket([f"k{i:06d}" for i in range(20_000)], latency=0.002)
    check_partition(await walk(bucket, 8, 100), bucket.keys)
    assert bucket.most_in_flight == 8
    # Probing for split points costs some requests, far fewer than the 200 pages.
    assert bucket.requests < 200 * 1.5


async def test_skewed_keys_still_split() -> None:
    keys = [f"logs/2026/12/04/{i:06d}.gz" for i in range(5000)] + ["a", "zz"]
    bucket = Bucket(keys, latency=0.001)
    check_partition(await walk(bucket, 8, 50), bucket.keys)
    assert bucket.most_in_flight > 2


async def test_a_failed_page_fails_the_walk_and_stops_the_readers() -> None:
    bucket = Bucket([f"k{i:05d}" for i in range(5000)], latency=0.001)
    bucket.fail_after = 5
    with pytest.raises(RuntimeError, match="upstream went away"):
        await walk(bucket, 8, 10)
    await asyncio.sleep(0.05)
    assert bucket.in_flight == 0
