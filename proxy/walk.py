"""Parallel listing of one bucket: its key space split into ranges walked by concurrent readers.

ListObjectsV2 has a lower bound (`start-after`) and no upper one, so a reader of the
range (after, until] lists from `after` and stops at the first key beyond `until`. Work
is split as it goes: a reader with nothing to do halves the widest range still being
walked (at a key between the owner's position and the range's end, `keyspace`), the
owner stops at that key and the idle reader starts after it. A range is split only while
its last full page suggests at least two more pages in it: near the end of a walk, a
split would cost a request and save none. The first request of a range split off asks
for a short page: many such ranges turn out empty, and a full page of keys beyond them
would be parsed for nothing. With one reader this is a plain sequential walk, page by
page.

Every page becomes a `Chunk`: the listed keys of an interval of the key space. The
chunks of a walk partition the whole key space, so a sync stages exactly the keys a
sequential walk would, and verify compares each interval with the index.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .backends.base import ObjectRecord
from .keyspace import range_width, split_point
from .s3xml import ListPage

__all__ = ["PROBE", "Chunk", "FetchPage", "OnChunk", "walk_keys"]

# Keys asked for by the first request of a range split off another.
PROBE = 100

# (start_after, max_keys, until) -> one ListObjectsV2 page, keys in S3 order; keys past
# `until` (where the reader will stop) may be left out, the page then says `clipped`.
FetchPage = Callable[[str | None, int, str | None], Awaitable[ListPage]]


@dataclass(frozen=True)
class Chunk:
    """The keys the upstream holds in (after, upto]; None bounds are the key space's ends."""

    after: str | None
    upto: str | None
    records: list[ObjectRecord]


OnChunk = Callable[[Chunk], Awaitable[None]]


@dataclass
class _Range:
    after: str | None  # keys > after
    until: str | None  # keys <= until; lowered when an idle reader takes the upper part
    position: str | None = None  # the last key listed so far
    listed: bool = False  # a first page came back: the range is worth splitting
    done: bool = False
    page_width: float = -math.inf  # how much of the key space its last full page covered

    @property
    def start(self) -> str | None:
        return self.position if self.position is not None else self.after


class _Walk:
    def __init__(self, fetch: FetchPage, on_chunk: OnChunk, page_size: int) -> None:
        self._fetch = fetch
        self._on_chunk = on_chunk
        self._page_size = page_size
        self._ranges = [_Range(after=None, until=None)]
        self._queue = list(self._ranges)
        self._changed = asyncio.Condition()
        self.pages = 0

    async def worker(self) -> None:
        while (work := await self._take()) is not None:
            await self._walk(work)

    async def _take(self) -> _Range | None:
        async with self._changed:
            while True:
                if self._queue:
                    return self._queue.pop()
                active = [r for r in self._ranges if not r.done]
                if not active:
                    return None
                taken = self._split(active)
                if taken is not None:
                    return taken
                await self._changed.wait()

    def _split(self, active: list[_Range]) -> _Range | None:
        """Give an idle reader the upper part of the widest range that can be split."""
        widths = {id(r): range_width(r.start or "", r.until) for r in active if r.listed}
        # Split only where the density seen so far says two pages or more remain.
        candidates = [r for r in active if id(r) in widths and widths[id(r)] >= r.page_width + 1]
        candidates.sort(key=lambda r: widths[id(r)], reverse=True)
        for owner in candidates:
            point = split_point(owner.start or "", owner.until)
            if point is None:
                continue
            upper = _Range(after=point, until=owner.until, position=None)
            owner.until = point
            self._ranges.append(upper)
            return upper
        return None

    async def _walk(self, work: _Range) -> None:
        while not work.done:
            before = work.start
            probing = not work.listed and work.after is not None
            size = min(self._page_size, PROBE) if probing else self._page_size
            page = await self._fetch(before, size, work.until)
            self.pages += 1
            # The range's end may have moved down while the page was on its way.
            until = work.until
            kept = [r for r in page.records if until is None or r.key <= until]
            finished = (
                not page.is_truncated
                or page.clipped
                or not page.records
                or len(kept) < len(page.records)
                or (until is not None and kept[-1].key >= until)
            )
            if kept:
                if len(kept) == size == self._page_size:
                    work.page_width = range_width(before or "", kept[-1].key)
                work.position = kept[-1].key
            work.listed = True
            work.done = finished
            upto = until if finished else work.position
            await self._on_chunk(Chunk(before, upto, kept))
            async with self._changed:
                self._changed.notify_all()


async def walk_keys(
    fetch: FetchPage, on_chunk: OnChunk, workers: int = 8, page_size: int = 1000
) -> int:
    """Walk the whole key space with `workers` concurrent readers; how many pages it took."""
    walk = _Walk(fetch, on_chunk, page_size)
    tasks = [asyncio.create_task(walk.worker()) for _ in range(max(1, workers))]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return walk.pages
