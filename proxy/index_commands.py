"""`mimicdb-proxy sync` and `verify`: the same code the proxy runs, in this process.

Both open the index and the upstream the configuration names, say which buckets' last
sync failed (expiring syncs whose process died), and print for people, or one line of
JSON with `--json`. A sync shows a progress line per bucket while stderr is a terminal.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TextIO

from .backends import backend_from_url
from .backends.guarded import GuardedBackend
from .config import Config
from .errors import S3Error
from .keeper import IndexKeeper
from .progress import TerminalProgress
from .repair import RepairJournal
from .sync import sync_buckets
from .upstream import Upstream

__all__ = ["run_sync", "run_verify"]

# Exit codes of `verify`: equal, different, could not tell.
EQUAL, DIFFERENT, FAILED = 0, 1, 2


@asynccontextmanager
async def _opened(config: Config) -> AsyncIterator[IndexKeeper]:
    backend = GuardedBackend(backend_from_url(config.backend))
    upstream = Upstream(config)
    await backend.open()
    await upstream.open()
    # The command's own journal stays in memory: repairs are the serving proxy's.
    keeper = IndexKeeper(config, backend, upstream, RepairJournal(None))
    try:
        await keeper.report_at_start()
        yield keeper
    finally:
        await upstream.close()
        await backend.close()


def _error(command: str, exc: S3Error, as_json: bool, out: TextIO, err: TextIO) -> None:
    if as_json:
        print(json.dumps({"ok": False, "error": exc.code, "message": exc.message}), file=out)
    else:
        print(f"mimicdb-proxy {command}: {exc.code}: {exc.message}", file=err)


async def run_sync(
    config: Config,
    buckets: Sequence[str],
    as_json: bool,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Sync buckets into the index; 0 on success, 1 on failure."""
    started = time.time()
    bar = TerminalProgress(err) if err.isatty() and not as_json else None
    try:
        async with _opened(config) as keeper:
            reports = await sync_buckets(
                keeper.backend, keeper.upstream, buckets, bar, keeper.options
            )
    except S3Error as exc:
        if bar is not None:
            bar.close()
        _error("sync", exc, as_json, out, err)
        return 1
    if bar is not None:
        bar.close()
    if as_json:
        summary = {
            "ok": True,
            "keys": sum(r.keys for r in reports),
            "seconds": round(time.time() - started, 3),
            "buckets": [
                {
                    "bucket": r.bucket,
                    "keys": r.keys,
                    "pages": r.pages,
                    "seconds": round(r.seconds, 3),
                    "keys_per_second": round(r.keys / r.seconds, 1) if r.seconds > 0 else 0.0,
                }
                for r in reports
            ],
        }
        print(json.dumps(summary), file=out)
    else:
        for r in reports:
            rate = r.keys / r.seconds if r.seconds > 0 else 0.0
            print(f"{r.bucket}: {r.keys} keys in {r.seconds:.1f}s ({rate:,.0f} keys/s)", file=out)
    return 0


async def run_verify(
    config: Config,
    buckets: Sequence[str],
    repair: bool,
    as_json: bool,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Compare buckets with the upstream: 0 equal, 1 different (even if repaired), 2 failed."""
    try:
        async with _opened(config) as keeper:
            reports = await keeper.verify(buckets, repair)
    except S3Error as exc:
        _error("verify", exc, as_json, out, err)
        return FAILED
    equal = all(report.equal for report in reports)
    if as_json:
        body = {"ok": True, "equal": equal, "buckets": [r.to_json() for r in reports]}
        print(json.dumps(body), file=out)
    else:
        for report in reports:
            print("\n".join(report.lines()), file=out)
    return EQUAL if equal else DIFFERENT
