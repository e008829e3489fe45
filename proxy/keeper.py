"""`IndexKeeper`: what keeps one proxy's index right over time, in the background.

- Sync leases: sessions of syncs whose process died are expired, and their bucket's
  status turns to "failed"; at start the keeper says which buckets' last sync failed.
- Repairs: buckets whose index missed a write (`writes`) are kept in the repair
  journal; as soon as the index answers again the mark is published in it (so every
  proxy on that index sees it within a second) and repaired (verify + patch) by
  whichever proxy gets there first. Until then, reads of such a bucket go to the
  upstream, so no stale answer is served.
- A lost index (a Redis restarted without its data, `Backend.index_lost`): reads go to
  the upstream while the buckets the index held are synced again.
- `--resync-every`: every bucket of the index re-synced on a timer.
- `--unsynced passthrough|sync`: reads of a bucket never synced go to the upstream
  (and the index records what they see); `sync` also starts a sync of that bucket.
- Progress of running syncs and verifies, for the admin API.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from dataclasses import replace
from typing import TypeVar

from .backends.base import Backend
from .config import Config
from .errors import NoSuchBucket, S3Error
from .progress import ProgressBoard
from .repair import RepairJournal, RepairMark
from .routing import S3Request
from .sync import SyncOptions, SyncReport, sync_buckets, upstream_buckets
from .upstream import Upstream
from .verify import VerifyReport, verify_bucket, verify_buckets

__all__ = ["UNSYNCED_MODES", "IndexKeeper"]

log = logging.getLogger(__name__)

UNSYNCED_MODES = ("strict", "passthrough", "sync")

T = TypeVar("T")

# Seconds between looks at the repair marks in the index (and retries of a repair).
_REPAIR_RETRY = 1.0

# Seconds between looks at which buckets an index that can be lost holds.
_INDEX_WATCH = 1.0


class IndexKeeper:
    """Background upkeep of one proxy's index; `start` and `stop` it with the app."""

    def __init__(
        self, config: Config, backend: Backend, upstream: Upstream, journal: RepairJournal
    ) -> None:
        self._config = config
        self._backend = backend
        self._upstream = upstream
        self.journal = journal
        self.progress = ProgressBoard()
        self.options = SyncOptions(workers=config.sync_workers, lease=config.sync_lease)
        # One sync, verify or repair at a time per proxy: each is parallel inside.
        self._walking = asyncio.Lock()
        self._wake_repairs = asyncio.Event()
        # bucket -> token of the repair marks in the index, as last read
        self._published: dict[str, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._background_syncs: set[str] = set()
        # every sync this proxy ran (admin, --resync-every, --unsynced sync), for metrics:
        # "ok" per bucket synced, "error" per failed run
        self.sync_runs: Counter[str] = Counter()

    @property
    def backend(self) -> Backend:
        """The index this keeper keeps."""
        return self._backend

    @property
    def upstream(self) -> Upstream:
        """The upstream it compares with."""
        return self._upstream

    # Lifecycle

    async def start(self) -> None:
        """Report what the last run left behind, then start the background loops."""
        await self.report_at_start()
        self.spawn(self._lease_loop())
        self.spawn(self._repair_loop())
        if self._backend.detects_loss:
            self.spawn(self._index_loop())
        if self._config.resync_every:
            self.spawn(self._resync_loop(self._config.resync_every))

    async def stop(self) -> None:
        """Cancel the background work."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def spawn(self, work: Awaitable[object]) -> None:
        """Run `work` in the background until it ends or the keeper stops."""

        async def run() -> None:
            await work

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def report_at_start(self) -> None:
        """Expire dead syncs, and warn about failed syncs and pending repairs."""
        try:
            await self.expire_syncs()
            statuses = await self._backend.sync_statuses()
        except S3Error as exc:
            log.warning("the index does not answer at start (%s); syncs not checked", exc.code)
            statuses = []
        for status in statuses:
            if status.state == "failed":
                log.warning(
                    "bucket %s: the last sync failed (started %s, %d keys walked): %s",
                    status.bucket,
                    time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(status.started_at)),
                    status.keys,
                    status.error,
                )
            elif status.state == "running":
                log.warning(
                    "bucket %s: a sync (session %s) is running elsewhere or did not finish; "
                    "it is marked failed if its lease runs out",
                    status.bucket,
                    status.session,
                )
        for mark in self.journal.marks():
            log.warning("bucket %s: owed a repair (%s)", mark.bucket, mark.reason)

    # Syncs, verifies and their leases

    async def expire_syncs(self) -> list[str]:
        """Drop sync sessions past their deadline; their buckets' last sync failed."""
        expired = await self._backend.expire_syncs(time.time())
        if not expired:
            return []
        statuses = {s.bucket: s for s in await self._backend.sync_statuses()}
        for bucket, session in expired:
            status = statuses.get(bucket)
            if status is None or status.state != "running" or status.session != session:
                continue  # a verify's session, or a status a later sync replaced
            error = "the sync stopped without finishing (its process died); its lease expired"
            await self._backend.put_sync_status(
                replace(status, state="failed", finished_at=time.time(), error=error)
            )
            log.warning("bucket %s: the last sync failed: %s", bucket, error)
        return [bucket for bucket, _ in expired]

    async def _tracked(self, buckets: Sequence[str], kind: str, run: Awaitable[T]) -> T:
        for bucket in buckets:
            self.progress.begin(bucket, kind)
        try:
            result = await run
        except BaseException as exc:
            error = f"{exc.code}: {exc.message}" if isinstance(exc, S3Error) else repr(exc)
            for bucket in self.progress.running():
                self.progress.end(bucket, error)
            raise
        for bucket in self.progress.running():
            self.progress.end(bucket)
        return result

    async def sync(self, names: Sequence[str] = ()) -> list[SyncReport]:
        """Sync buckets (every one when none is named), with progress on the board."""
        async with self._walking:
            run = sync_buckets(
                self._backend, self._upstream, names, self.progress.update, self.options
            )
            try:
                reports = await self._tracked(names, "sync", run)
            except S3Error:
                self.sync_runs["error"] += 1
                raise
            self.sync_runs["ok"] += len(reports)
            return reports

    async def verify(self, names: Sequence[str] = (), repair: bool = False) -> list[VerifyReport]:
        """Compare buckets with the upstream; `repair` applies the differences."""
        async with self._walking:
            run = verify_buckets(self._backend, self._upstream, names, repair, self.options)
            return await self._tracked(names, "verify", run)

    def sync_in_background(self, bucket: str) -> None:
        """Start one sync of `bucket` unless one was started already."""
        if bucket in self._background_syncs:
            return
        self._background_syncs.add(bucket)

        async def run() -> None:
            try:
                await self.sync([bucket])
            except NoSuchBucket:
                pass  # stays in the set: no retry storm for a bucket that does not exist
            except S3Error as exc:
                log.warning("background sync of %s failed: %s", bucket, exc.code)
                self._background_syncs.discard(bucket)

        self.spawn(run())

    async def _every(self, seconds: float, work: Callable[[], Awaitable[object]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await work()
            except S3Error as exc:
                log.warning("background %s failed: %s %s", work.__name__, exc.code, exc.message)

    async def _index_loop(self) -> None:
        """Remember which buckets the index holds; rebuild them if it is found emptied."""
        known: list[str] = []
        while True:
            await asyncio.sleep(_INDEX_WATCH)
            try:
                if self._backend.index_lost():
                    await self.rebuild(known)
                else:
                    known = [bucket.name for bucket in await self._backend.list_buckets()]
            except S3Error as exc:
                log.warning("index watch: %s %s", exc.code, exc.message)

    async def rebuild(self, buckets: Sequence[str]) -> None:
        """Sync `buckets` into an index found emptied, then trust it again."""
        log.warning("re-syncing %d bucket(s) into the emptied index", len(buckets))
        for name in buckets:
            try:
                await self.sync([name])
            except NoSuchBucket:
                pass  # gone upstream meanwhile: the emptied index is right not to hold it
        await self._backend.rebuilt()
        log.warning("the index is rebuilt; reads are answered from it again")

    async def _lease_loop(self) -> None:
        await self._every(max(0.05, self._config.sync_lease / 2), self.expire_syncs)

    async def _resync_loop(self, every: float) -> None:
        await self._every(every, self.resync_all)

    async def resync_all(self) -> None:
        """Sync every bucket the index holds, one by one."""
        for bucket in await self._backend.list_buckets():
            try:
                await self.sync([bucket.name])
            except S3Error as exc:
                log.warning("re-sync of %s failed: %s", bucket.name, exc.code)

    # Repairs

    def mark_for_repair(self, bucket: str, reason: str, add_bucket: bool = False) -> None:
        """Remember that `bucket`'s index missed a write; repaired when the index answers."""
        self.journal.mark(bucket, reason, add_bucket)
        log.warning("bucket %s marked for repair: %s", bucket, reason)
        self._wake_repairs.set()

    def needs_repair(self, bucket: str) -> bool:
        """Whether reads of `bucket` must not be answered from the index yet."""
        return bucket in self.journal or bucket in self._published

    async def _repair_loop(self) -> None:
        while True:
            self._wake_repairs.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake_repairs.wait(), _REPAIR_RETRY)
            await self.repair_pending()

    async def repair_pending(self) -> int:
        """Publish this proxy's marks in the index, then repair every mark it holds (any
        proxy's); how many were repaired. Nothing happens while the index does not answer.
        """
        try:
            for mark in self.journal.marks():
                if self._published.get(mark.bucket) != _token(mark):  # not already there
                    await self._backend.put_repair_mark(mark.bucket, _token(mark))
            self._published = await self._backend.repair_marks()
        except S3Error:
            return 0
        repaired = 0
        for bucket, token in sorted(self._published.items()):
            try:
                await self._repair(bucket, _adds_bucket(token))
                await self._backend.clear_repair_mark(bucket, token)
            except S3Error as exc:
                log.warning("repair of %s failed (%s); retrying", bucket, exc.code)
                return repaired
            del self._published[bucket]
            for mark in self.journal.marks():
                if mark.bucket == bucket and _token(mark) == token:
                    self.journal.clear(mark)
            repaired += 1
        return repaired

    async def _repair(self, bucket: str, add_bucket: bool) -> None:
        async with self._walking:
            listed = {b.name: b for b in await upstream_buckets(self._upstream)}
            known = await self._backend.get_bucket(bucket) is not None
            # A bucket the index does not hold stays unknown (the strict default), unless
            # the missed write was the one that should have added it.
            if not known and not (add_bucket and bucket in listed):
                return
            run = verify_bucket(
                self._backend,
                self._upstream,
                bucket,
                bucket in listed,
                True,
                self.options,
            )
            report = await self._tracked([bucket], "verify", run)
            log.warning("bucket %s repaired: %s", bucket, report.lines()[0])

    # Reads: from the index, or not

    async def admit(self, request: S3Request) -> S3Request:
        """The request as it must be served: reads the index cannot answer are forced."""
        if request.method not in ("GET", "HEAD") or request.forced:
            return request
        if self._backend.index_lost():
            return replace(request, force=True)
        mode = self._config.unsynced
        if request.bucket is None:
            return replace(request, force=True) if mode != "strict" else request
        if self.needs_repair(request.bucket):
            return replace(request, force=True)
        if mode == "strict":
            return request
        bucket = await self._backend.get_bucket(request.bucket)
        if bucket is not None and bucket.synced_at is not None:
            return request
        if mode == "sync":
            self.sync_in_background(request.bucket)
        return replace(request, force=True)

    async def report(self) -> dict[str, object]:
        """Running syncs, each bucket's last sync, and pending repairs, as JSON."""
        return {
            **self.progress.snapshot(),
            "status": [
                {
                    "bucket": status.bucket,
                    "state": status.state,
                    "session": status.session,
                    "started_at": status.started_at,
                    "finished_at": status.finished_at,
                    "keys": status.keys,
                    "error": status.error,
                }
                for status in await self._backend.sync_statuses()
            ],
            "repairs": [
                {"bucket": m.bucket, "marked_at": m.marked_at, "reason": m.reason}
                for m in self.journal.marks()
            ]
            + [
                {"bucket": bucket, "reason": "marked by another proxy on this index"}
                for bucket in sorted(self._published)
                if bucket not in self.journal
            ],
            "unsynced": self._config.unsynced,
            "resync_every": self._config.resync_every,
        }


def _token(mark: RepairMark) -> str:
    """A journal mark as published in the index: which mark it is, and its add_bucket."""
    return json.dumps(
        {"marked_at": mark.marked_at, "generation": mark.generation, "add": mark.add_bucket}
    )


def _adds_bucket(token: str) -> bool:
    """Whether a published mark's missed write created its bucket."""
    try:
        return bool(json.loads(token).get("add", False))
    except (ValueError, AttributeError):
        return False
