"""The seed's benchmark: `list(bucket.list())` through plain boto 2 vs. through mimicdb.

A bucket of `--keys` keys (10,000) lives in a moto server. Plain boto lists it from the
upstream, page by page; mimicdb, after one `conn.sync()`, lists it from its index. Both
are timed with the upstream reached directly and through a small reverse proxy that
waits `--delay-ms` (20 ms) before each request, a stand-in for S3's real latency. For
each backend the script prints both times and the factor (boto time / mimicdb time).

    .venv/bin/python bench/bench_mimicdb.py [--keys 10000] [--delay-ms 20]
        [--backends memory,sqlite,redis] [--repeat 3]

`redis` runs only where `redis-server` is on PATH (a throwaway one on a free port).
Each time printed is the best of `--repeat` runs. Everything listens on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import boto3
import redis
from aiohttp import web
from moto.server import ThreadedMotoServer

from mimicdb import MimicDB  # before boto: its shim makes boto 2 import on 3.12+
from mimicdb.backends import Backend
from mimicdb.backends.default import Redis
from mimicdb.backends.memory import Memory
from mimicdb.backends.sqlite import SQLite
from mimicdb.s3.connection import S3Connection

# isort: split
from boto.s3.connection import OrdinaryCallingFormat
from boto.s3.connection import S3Connection as BotoS3Connection

BUCKET = "mimicdb-benchmark"
_DROP = frozenset({"host", "content-length", "transfer-encoding", "connection"})


class DelayingProxy:
    """A reverse proxy on loopback that waits `delay` seconds, then forwards to `target`."""

    def __init__(self, target: str, delay: float) -> None:
        self._target = target
        self._delay = delay
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    def start(self) -> DelayingProxy:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._serve(), self._loop)
        self.port = future.result(30)
        return self

    async def _serve(self) -> int:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=1024**3)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        assert site._server is not None
        return int(site._server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]

    async def _forward(self, request: web.Request) -> web.Response:
        await asyncio.sleep(self._delay)
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROP}
        async with self._session.request(
            request.method,
            self._target + request.raw_path,
            headers=headers,
            data=await request.read(),
            allow_redirects=False,
        ) as upstream:
            body = await upstream.read()
            out = {k: v for k, v in upstream.headers.items() if k.lower() not in _DROP}
            return web.Response(status=upstream.status, headers=out, body=body)

    def stop(self) -> None:
        async def close() -> None:
            if self._runner is not None:
                await self._runner.cleanup()
            if self._session is not None:
                await self._session.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def redis_server() -> Iterator[int]:
    """A throwaway redis-server on a free port; yields the port."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not on PATH: leave 'redis' out of --backends")
    port = free_port()
    with tempfile.TemporaryDirectory() as directory:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", directory],
            stdout=subprocess.DEVNULL,
        )
        try:
            client = redis.Redis(port=port)
            for _ in range(500):
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.01)
            yield port
        finally:
            process.kill()
            process.wait()


def seed(url: str, keys: int) -> None:
    """The benchmark bucket and its keys, straight into the upstream."""
    client = boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )
    client.create_bucket(Bucket=BUCKET)
    names = [f"data/{i // 100:03d}/object-{i:06d}.bin" for i in range(keys)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda name: client.put_object(Bucket=BUCKET, Key=name, Body=b"x"), names))


def best_of(repeat: int, run: Callable[[], int], expected: int) -> float:
    """The fastest of `repeat` timed runs; each must see every key."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        count = run()
        times.append(time.perf_counter() - started)
        if count != expected:
            raise SystemExit(f"listed {count} keys, expected {expected}")
    return min(times)


def make_backend(kind: str, redis_port: int | None, directory: Path) -> Backend:
    if kind == "memory":
        return Memory()
    if kind == "sqlite":
        return SQLite(str(directory / f"bench-{time.monotonic_ns()}.db"))
    assert redis_port is not None
    return Redis(host="127.0.0.1", port=redis_port, namespace=f"bench{time.monotonic_ns()}")


def run(args: argparse.Namespace, redis_port: int | None, directory: Path) -> None:
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    _, moto_port = moto.get_host_and_port()
    direct = f"http://127.0.0.1:{moto_port}"
    print(f"seeding {args.keys} keys into moto ...", flush=True)
    seed(direct, args.keys)
    delayed = DelayingProxy(direct, args.delay_ms / 1000).start()
    upstreams = {"direct": moto_port, f"+{args.delay_ms:g}ms": delayed.port}
    try:
        for label, port in upstreams.items():
            plain = BotoS3Connection(
                "bench", "bench", host="127.0.0.1", port=port, is_secure=False,
                calling_format=OrdinaryCallingFormat(),
            )  # fmt: skip
            plain_bucket = plain.get_bucket(BUCKET)
            boto_time = best_of(
                args.repeat, lambda b=plain_bucket: sum(1 for _ in b.list()), args.keys
            )
            for kind in args.backends:
                with MimicDB(make_backend(kind, redis_port, directory)):
                    conn = S3Connection("bench", "bench", host="127.0.0.1", port=port,
                                        is_secure=False)  # fmt: skip
                    started = time.perf_counter()
                    conn.sync(BUCKET)
                    sync_time = time.perf_counter() - started
                    bucket = conn.get_bucket(BUCKET)
                    mimic_time = best_of(
                        args.repeat, lambda b=bucket: sum(1 for _ in b.list()), args.keys
                    )
                print(
                    f"upstream {label:>7}  backend {kind:<6}  boto {boto_time:7.3f}s  "
                    f"mimicdb {mimic_time:7.3f}s  factor {boto_time / mimic_time:6.1f}x faster  "
                    f"(one sync: {sync_time:.2f}s)",
                    flush=True,
                )
    finally:
        delayed.stop()
        moto.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--delay-ms", type=float, default=20.0)
    parser.add_argument("--backends", default="memory,sqlite,redis")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    args.backends = [b for b in args.backends.split(",") if b]
    with tempfile.TemporaryDirectory() as directory:
        if "redis" in args.backends:
            with redis_server() as port:
                run(args, port, Path(directory))
        else:
            run(args, None, Path(directory))


if __name__ == "__main__":
    sys.exit(main())
