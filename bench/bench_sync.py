"""Benchmark: syncing one bucket of 100,000 keys, against a bare boto3 paginator walk of it.

(a) A sequential sync (one reader) vs. the bare walk, both without added latency: the
    sync's overhead over just listing (parsing, staging into the index, the swap).
    Target: at most 10%.
(b) A parallel sync vs. the bare walk, both with 20 ms added to every upstream request:
    the gain of walking ranges of the key space side by side. Target: at least 4x.

    .venv/bin/python -m bench.bench_sync [--keys 100000] [--shape paths|flat]
        [--latency 0.02] [--workers 8] [--backend sqlite|memory|redis] [--repeat 3]

Defaults are the figures above; `--keys 20000` runs in a fraction of the time. Each
measure is the best of `--repeat` runs, each sync into a fresh index. The upstream is
moto in its own process (bench/listing_upstream.py: why its plain listings come from a
snapshot is explained there), so the upstream's CPU does not share this process's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
from botocore.config import Config as BotoConfig

from proxy.backends import backend_from_url
from proxy.config import Config, Credentials
from proxy.sync import SyncOptions, sync_buckets
from proxy.upstream import Upstream

from .common import KEY, SECRET, redis_server
from .listing_upstream import BUCKET


@contextmanager
def upstream(keys: int, shape: str, latency: float) -> Iterator[dict[str, str]]:
    """Start bench/listing_upstream.py; yields its URLs once the bucket is filled."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.listing_upstream", "--keys", str(keys)]
        + ["--shape", shape, "--latency", str(latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise SystemExit("the bench upstream did not start")
        yield json.loads(line)
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=30)


def bare_walk(url: str) -> int:
    """ListObjectsV2 through boto3's paginator, every page read; the key count."""
    s3 = boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        config=BotoConfig(retries={"max_attempts": 1}),
    )
    count = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        count += len(page.get("Contents", []))
    return count


async def sync_once(url: str, backend_url: str, workers: int) -> int:
    """One sync of the bench bucket into a fresh index; the key count (requests: printed)."""
    backend = backend_from_url(backend_url)
    link = Upstream(Config(upstream=url, credentials=Credentials(KEY, SECRET)))
    await backend.open()
    await link.open()
    try:
        [report] = await sync_buckets(backend, link, [BUCKET], options=SyncOptions(workers))
    finally:
        await link.close()
        await backend.close()
    print(f"    {workers} reader(s): {report.pages} requests", flush=True)
    return report.keys


def best_of(repeat: int, run: Callable[[int], int], keys: int) -> float:
    """The fastest of `repeat` runs, each checked to have seen every key.

    Also prints each run's wall time and this process's CPU time: a sync whose CPU time
    nears its wall time is bound by its own parsing and staging, not by the upstream.
    """
    times = []
    for attempt in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        seen = run(attempt)
        times.append(time.perf_counter() - started)
        print(f"    {times[-1]:.2f}s wall, {time.process_time() - cpu:.2f}s CPU", flush=True)
        if seen != keys:
            raise SystemExit(f"a run saw {seen} keys, not {keys}")
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--shape", choices=("flat", "paths"), default="paths")
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--backend", choices=("sqlite", "memory", "redis"), default="sqlite")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory, contextmanager_for(args.backend) as redis:
        folder = Path(directory)

        def index(run: str) -> str:
            if args.backend == "sqlite":
                return f"sqlite:///{folder}/index-{run}.db"
            return redis if args.backend == "redis" else "memory://"

        def sync(url: str, workers: int, label: str) -> Callable[[int], int]:
            def run(attempt: int) -> int:
                target = index(f"{label}-{attempt}")
                if args.backend == "redis":
                    flush(target)
                return asyncio.run(sync_once(url, target, workers))

            return run

        print(f"filling a bucket of {args.keys:,} keys ({args.shape}) ...", flush=True)
        with upstream(args.keys, args.shape, args.latency) as urls:
            plain_bare = best_of(args.repeat, lambda _: bare_walk(urls["plain"]), args.keys)
            plain_sync = best_of(args.repeat, sync(urls["plain"], 1, "seq"), args.keys)
            slow_bare = best_of(args.repeat, lambda _: bare_walk(urls["slow"]), args.keys)
            slow_sync = best_of(args.repeat, sync(urls["slow"], args.workers, "par"), args.keys)

    overhead = plain_sync / plain_bare - 1
    speedup = slow_bare / slow_sync
    print(
        f"(a) no added latency: bare boto3 walk {plain_bare:.2f}s, sequential sync "
        f"({args.backend}) {plain_sync:.2f}s: overhead {overhead:+.1%} (target <= +10%)"
    )
    print(f"(b) +{args.latency * 1000:.0f} ms per request: bare boto3 walk {slow_bare:.2f}s, "
          f"sync with {args.workers} readers {slow_sync:.2f}s: {speedup:.1f}x faster "
          "(target >= 4x)")  # fmt: skip


@contextmanager
def contextmanager_for(backend: str) -> Iterator[str]:
    """A throwaway redis-server when the index is Redis; nothing otherwise."""
    if backend != "redis":
        yield ""
        return
    with redis_server() as url:
        yield url


def flush(url: str) -> None:
    """Empty the Redis index before a run, so that every sync starts from nothing."""
    import redis

    client = redis.Redis.from_url(url)
    client.flushall()
    client.close()


if __name__ == "__main__":
    main()
