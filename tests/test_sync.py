"""Sync against the S3 emulator: parallel equals sequential, writes during a sync are kept,
a failed sync leaves the previous index, progress and status are reported.

moto differs from AWS here: it refuses keys holding a newline (its router rejects the
path), so those keys are left out of the odd keys below; AWS stores them.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends
from moto.server import ThreadedMotoServer

from proxy.backends import Backend, MemoryBackend, ObjectRecord
from proxy.backends.redis import RedisBackend
from proxy.backends.sqlite import SQLiteBackend
from proxy.config import Config, Credentials
from proxy.embedded import EmbeddedProxy
from proxy.errors import ServiceUnavailable
from proxy.sync import SyncOptions, sync_buckets
from proxy.upstream import Upstream
from proxy.verify import verify_buckets
from tests.fixtures.proxy_server import client_for
from tests.fixtures.s3_server import MotoUpstream, start_moto
from tests.fixtures.upstream_gate import UpstreamGate
from tests.s3http import s3_request

from .test_backends import ODD_KEYS

BUCKET = "sync-bucket"
MOTO_ODD_KEYS = [key for key in ODD_KEYS if "\n" not in key]


def fill(bucket: str, keys: list[str], body: bytes = b"x") -> None:
    """Put keys straight into the emulator's memory: thousands in well under a second."""
    moto = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for key in keys:
        moto.put_object(bucket, key, body)


async def open_upstream(url: str) -> Upstream:
    upstream = Upstream(Config(upstream=url, credentials=Credentials("testing", "testing")))
    await upstream.open()
    return upstream


def state(records: list[ObjectRecord]) -> list[tuple[str, str, int, str, str | None]]:
    """What a sync must agree on: key, ETag, size, date, owner (not the time it ran)."""
    return [(r.key, r.etag, r.size, r.last_modified, r.owner_id) for r in records]


async def everything(backend: Backend, bucket: str) -> list[ObjectRecord]:
    return await backend.scan(bucket, b"", None, 100_000)


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def two_indexes(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Backend, Backend]]:
    pair: tuple[Backend, Backend]
    if request.param == "memory":
        pair = (MemoryBackend(), MemoryBackend())
    elif request.param == "sqlite":
        pair = (SQLiteBackend(str(tmp_path / "a.db")), SQLiteBackend(str(tmp_path / "b.db")))
    else:
        url = request.getfixturevalue("redis_url")
        pair = (
            RedisBackend.from_url(url, namespace="a"),
            RedisBackend.from_url(url, namespace="b"),
        )
    yield pair
    for backend in pair:
        await backend.close()


async def test_parallel_sync_builds_the_same_index_as_a_sequential_one(
    s3_upstream: MotoUpstream, two_indexes: tuple[Backend, Backend]
) -> None:
    s3 = client_for(s3_upstream.url)
    s3.create_bucket(Bucket=BUCKET)
    keys = MOTO_ODD_KEYS + [f"p{i % 7}/k{i:04d}" for i in range(400)] + ["~tail", "zz/z"]
    for key in MOTO_ODD_KEYS:  # through the real client: the odd keys' encoding matters
        s3.put_object(Bucket=BUCKET, Key=key, Body=key.encode("utf-8"))
    fill(BUCKET, keys[len(MOTO_ODD_KEYS) :])
    upstream = await open_upstream(s3_upstream.url)
    sequential, parallel = two_indexes
    try:
        [one] = await sync_buckets(
            sequential, upstream, [BUCKET], options=SyncOptions(workers=1, page_size=7)
        )
        [many] = await sync_buckets(
            parallel, upstream, [BUCKET], options=SyncOptions(workers=8, page_size=7)
        )
    finally:
        await upstream.close()
    walked = state(await everything(sequential, BUCKET))
    assert walked == state(await everything(parallel, BUCKET))
    assert [key for key, *_ in walked] == sorted(keys, key=lambda k: k.encode("utf-8"))
    assert one.keys == many.keys == len(keys)
    assert one.pages == -(-len(keys) // 7)  # sequential: one request per page
    assert many.pages > one.pages  # the parallel walk probed for split points


async def test_writes_through_the_proxy_during_a_sync_are_kept(
    make_proxy: Callable[..., EmbeddedProxy], upstream_gate: UpstreamGate
) -> None:
    proxy = make_proxy("sqlite", upstream=upstream_gate.url, sync_workers=1)
    s3 = client_for(proxy.url)
    s3.create_bucket(Bucket=BUCKET)
    fill(BUCKET, [f"k{i:04d}" for i in range(1500)])
    # Hold the walk after its first page (k0000..k0999): the staged listing is older
    # than the writes below, which land inside that page's range.
    upstream_gate.hold(after_lists=1)
    answer = s3_request(
        "POST", proxy.url, "/_mimicdb/sync", [("bucket", BUCKET), ("wait", "false")]
    )
    assert answer.status_code == 202
    assert upstream_gate.held.wait(30)
    s3.put_object(Bucket=BUCKET, Key="k0005", Body=b"rewritten")
    s3.delete_object(Bucket=BUCKET, Key="k0006")
    s3.put_object(Bucket=BUCKET, Key="k0007a", Body=b"new")
    progress = s3_request("GET", proxy.url, "/_mimicdb/sync").json()
    [running] = progress["running"]
    assert (running["bucket"], running["kind"], running["keys"]) == (BUCKET, "sync", 1000)
    upstream_gate.release()
    wait_for(lambda: not s3_request("GET", proxy.url, "/_mimicdb/sync").json()["running"])

    index = {r.key: r for r in proxy.call(everything(proxy.context.backend, BUCKET))}
    assert "k0006" not in index
    assert index["k0005"].etag == s3.head_object(Bucket=BUCKET, Key="k0005")["ETag"]
    assert index["k0005"].size == len(b"rewritten")
    assert "k0007a" in index
    assert len(index) == 1500
    [status] = s3_request("GET", proxy.url, "/_mimicdb/sync").json()["status"]
    assert (status["bucket"], status["state"], status["keys"]) == (BUCKET, "ok", 1500)
    upkeep = s3_request("GET", proxy.url, "/_mimicdb/stats").json()["upkeep"]
    assert upkeep["status"] == [status] and upkeep["running"] == []
    assert upkeep["finished"][0]["bucket"] == BUCKET and upkeep["finished"][0]["keys"] == 1500
    report = proxy.call(verify_buckets(proxy.context.backend, proxy.context.upstream, [BUCKET]))
    assert report[0].equal, report[0].lines()


@pytest.fixture
def own_moto() -> Iterator[MotoUpstream]:
    """A moto server of this test alone, so that stopping it harms no other test.

    Every moto server of the process shares one in-memory state: it is emptied first.
    """
    upstream = start_moto()
    upstream.reset()
    yield upstream
    upstream.server.stop()


async def test_upstream_stopped_mid_sync_leaves_the_previous_index(
    own_moto: MotoUpstream, tmp_path: Path
) -> None:
    s3 = client_for(own_moto.url)
    s3.create_bucket(Bucket=BUCKET)
    fill(BUCKET, [f"old{i:03d}" for i in range(50)])
    backend = SQLiteBackend(str(tmp_path / "index.db"))
    upstream = await open_upstream(own_moto.url)
    options = SyncOptions(workers=1, page_size=5)
    await sync_buckets(backend, upstream, [BUCKET], options=options)
    before = await everything(backend, BUCKET)
    bucket_before = await backend.get_bucket(BUCKET)

    fill(BUCKET, [f"new{i:03d}" for i in range(30)])
    s3.delete_object(Bucket=BUCKET, Key="old000")
    _, port = own_moto.server.get_host_and_port()

    def stop_upstream(bucket: str, keys: int) -> None:
        if own_moto.server._server is not None:  # the first page is in: stop S3 mid-walk
            own_moto.server.stop()

    await upstream.close()  # no kept-alive connection may outlive the server
    upstream = await open_upstream(own_moto.url)
    with pytest.raises(ServiceUnavailable):
        await sync_buckets(backend, upstream, [BUCKET], stop_upstream, options)

    assert await everything(backend, BUCKET) == before
    assert await backend.get_bucket(BUCKET) == bucket_before
    [status] = await backend.sync_statuses()
    assert (status.state, status.keys) == ("failed", 5)
    assert status.error.startswith("ServiceUnavailable")

    # S3 back (same port, same data): the next sync, then verify, find them equal.
    own_moto.server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    own_moto.server.start()
    await sync_buckets(backend, upstream, [BUCKET], options=options)
    [report] = await verify_buckets(backend, upstream, [BUCKET], options=options)
    assert report.equal, report.lines()
    assert report.keys == 79
    [status] = await backend.sync_statuses()
    assert (status.state, status.keys, status.error) == ("ok", 79, "")
    await upstream.close()
    await backend.close()


async def test_headers_known_before_a_sync_survive_it(
    s3_upstream: MotoUpstream, tmp_path: Path
) -> None:
    s3 = client_for(s3_upstream.url)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="kept", Body=b"1", ContentType="text/plain")
    s3.put_object(Bucket=BUCKET, Key="changed", Body=b"1", ContentType="text/plain")
    backend = SQLiteBackend(str(tmp_path / "index.db"))
    upstream = await open_upstream(s3_upstream.url)
    await sync_buckets(backend, upstream, [BUCKET])
    for key in ("kept", "changed"):  # as a HEAD through the proxy would complete them
        head = await upstream.fetch("HEAD", f"/{BUCKET}/{key}")
        from proxy.mirror import record_from_head

        await backend.put_object(BUCKET, record_from_head(key, head.headers))
    s3.put_object(Bucket=BUCKET, Key="changed", Body=b"22", ContentType="text/html")
    await sync_buckets(backend, upstream, [BUCKET])
    kept = await backend.get_object(BUCKET, "kept")
    changed = await backend.get_object(BUCKET, "changed")
    assert kept is not None and kept.headers is not None
    assert kept.headers["content-type"] == "text/plain"
    assert changed is not None and changed.headers is None  # the next HEAD completes it
    await upstream.close()
    await backend.close()


def wait_for(condition: Callable[[], Any], timeout: float = 30.0) -> None:
    """Poll until `condition()` is true (not a timing assertion: a bound on a hang)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


async def test_sync_status_of_a_bucket_deleted_upstream_is_forgotten(
    s3_upstream: MotoUpstream,
) -> None:
    s3 = client_for(s3_upstream.url)
    s3.create_bucket(Bucket=BUCKET)
    backend = MemoryBackend()
    upstream = await open_upstream(s3_upstream.url)
    await sync_buckets(backend, upstream)
    assert [s.bucket for s in await backend.sync_statuses()] == [BUCKET]
    s3.delete_bucket(Bucket=BUCKET)
    await sync_buckets(backend, upstream)
    assert await backend.sync_statuses() == []
    assert await backend.list_buckets() == []
    await upstream.close()


def test_replace_keeps_records_comparable() -> None:
    record = ObjectRecord("k", 1, '"e"', "2026-12-04T15:00:00.123Z")
    assert state([replace(record, confirmed_at=5.0)]) == state([record])
