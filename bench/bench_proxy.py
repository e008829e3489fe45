"""Benchmark: the proxy's index answers vs. the same requests against the upstream.

1. A ListObjectsV2 page of 1,000 keys and a HeadObject, through the proxy (SQLite and
   Redis index) vs. directly against moto, in the same run: printed as ratios.
2. A delimiter listing page on an index of 10,000 keys vs. 1,000,000 keys: the page
   time must not grow with the bucket (O(page + common prefixes)).

    .venv/bin/python -m bench.bench_proxy [--keys 1000] [--big 1000000] [--repeat 20]

moto is a local stand-in that answers in about a millisecond; real S3 takes
50-200 ms for a LIST, so these ratios understate what the proxy saves against AWS.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import requests

from proxy.backends import backend_from_url
from proxy.backends.base import Backend, BucketRecord, ObjectRecord

from .common import median_seconds, moto_upstream, redis_server, signed, start_proxy

BUCKET = "bench"


def _fill_upstream(url: str, keys: int) -> None:
    session = requests.Session()
    signed(session, "PUT", url, f"/{BUCKET}")
    for index in range(keys):
        signed(session, "PUT", url, f"/{BUCKET}/dir{index % 10}/key-{index:07d}", body=b"x")


def page_and_head(upstream: str, keys: int, repeat: int) -> None:
    """Part 1: proxy vs. upstream for one listing page and one HEAD."""
    session = requests.Session()
    list_query = [("list-type", "2"), ("max-keys", "1000")]
    head_path = f"/{BUCKET}/dir3/key-{3:07d}"
    direct_list = median_seconds(
        lambda: signed(session, "GET", upstream, f"/{BUCKET}", list_query), repeat
    )
    direct_head = median_seconds(lambda: signed(session, "HEAD", upstream, head_path), repeat * 5)
    print(
        f"upstream (moto): list page {direct_list * 1000:8.2f} ms, "
        f"head {direct_head * 1000:6.2f} ms"
    )
    with redis_server() as redis_url:
        for name, backend in [("sqlite", "sqlite:///:memory:"), ("redis", redis_url)]:
            proxy = start_proxy(upstream, backend)
            try:
                signed(session, "POST", proxy.url, "/_mimicdb/sync", [("bucket", BUCKET)])
                page = median_seconds(
                    lambda p=proxy: signed(session, "GET", p.url, f"/{BUCKET}", list_query), repeat
                )
                head = median_seconds(
                    lambda p=proxy: signed(session, "HEAD", p.url, head_path), repeat * 5
                )
            finally:
                proxy.stop()
            print(
                f"proxy ({name:6}):  list page {page * 1000:8.2f} ms, head {head * 1000:6.2f} ms"
                f"   -> list {direct_list / page:5.1f}x faster, head {direct_head / head:5.1f}x"
            )


async def _fill_index(backend: Backend, keys: int) -> None:
    await backend.open()
    session = await backend.start_sync(BucketRecord(BUCKET, "2026-01-01T00:00:00.000Z"))
    batch: list[ObjectRecord] = []
    for index in range(keys):
        # 100 top-level prefixes, each holding keys/100 objects, plus a few loose keys.
        key = f"p{index % 100:03d}/{index:08d}" if index % 1000 else f"loose-{index:08d}"
        batch.append(ObjectRecord(key, 1, '"e"', "2026-01-01T00:00:00.000Z"))
        if len(batch) == 10_000:
            await session.add(batch)
            batch = []
    await session.add(batch)
    await session.commit(time.time())
    await backend.close()


def page_versus_size(small: int, big: int, repeat: int) -> None:
    """Part 2: a delimiter page on a small and a big index; the ratio should stay near 1."""
    session = requests.Session()
    query = [("list-type", "2"), ("delimiter", "/")]
    with moto_upstream() as upstream, redis_server() as redis_url:
        for name, make_url in [
            ("sqlite", lambda n: f"sqlite:////tmp/mimicdb-bench-{n}.db"),
            ("redis", lambda n: redis_url.rsplit("/", 1)[0] + f"/{1 if n == small else 2}"),
        ]:
            times = {}
            for size in (small, big):
                url = make_url(size)
                if url.startswith("sqlite"):
                    import os

                    path = url[len("sqlite:///") :]
                    for suffix in ("", "-wal", "-shm"):
                        if os.path.exists(path + suffix):
                            os.remove(path + suffix)
                started = time.perf_counter()
                asyncio.run(_fill_index(backend_from_url(url), size))
                filled = time.perf_counter() - started
                proxy = start_proxy(upstream, url)
                try:
                    times[size] = median_seconds(
                        lambda p=proxy: signed(session, "GET", p.url, f"/{BUCKET}", query), repeat
                    )
                finally:
                    proxy.stop()
                print(
                    f"{name:6} index of {size:>9,} keys (filled in {filled:5.1f}s): "
                    f"delimiter page {times[size] * 1000:7.2f} ms"
                )
            print(f"{name:6} page time ratio big/small: {times[big] / times[small]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=1000, help="keys in the upstream bucket")
    parser.add_argument("--small", type=int, default=10_000, help="keys in the small index")
    parser.add_argument("--big", type=int, default=1_000_000, help="keys in the big index")
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per figure")
    args = parser.parse_args()
    with moto_upstream() as upstream:
        _fill_upstream(upstream, args.keys)
        page_and_head(upstream, args.keys, args.repeat)
    page_versus_size(args.small, args.big, args.repeat)


if __name__ == "__main__":
    main()
