"""Faults: Redis stopped and restarted under load, the upstream hanging, and a proxy process
killed mid-sync. After each, `verify` finds the index equal to the upstream.

Redis runs here with an append-only file synced on every write (as a production index
would), so a killed server comes back with its data.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from proxy.embedded import EmbeddedProxy
from proxy.repair import journal_path
from proxy.verify import verify_buckets
from tests.fixtures.proxy_server import client_for
from tests.fixtures.redis_server import RedisServer, started_redis
from tests.fixtures.upstream_gate import UpstreamGate
from tests.s3http import s3_request

from .test_sync import wait_for

BUCKET = "faults"
UNKNOWN = "?"  # a write whose outcome the client could not see


@pytest.fixture
def persistent_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own, keeping its data across a restart."""
    (tmp_path / "redis").mkdir()
    yield from started_redis(tmp_path / "redis", persist=True)


class Worker(threading.Thread):
    """One client owning a few keys: each answer must agree with what it last wrote, or be 503."""

    def __init__(self, number: int, url: str, stop: threading.Event, seed: int) -> None:
        super().__init__(daemon=True)
        self.s3 = client_for(url, read_timeout=30)
        self.keys = [f"c{number}/k{j}" for j in range(4)]
        self.model: dict[str, str | None] = dict.fromkeys(self.keys)
        self.stop = stop
        self.rng = random.Random(seed)
        self.counts: Counter[str] = Counter()
        self.wrong: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            self.step()

    def step(self) -> None:
        op = self.rng.choice(["put", "put", "delete", "head", "head", "list"])
        key = self.rng.choice(self.keys)
        try:
            if op == "put":
                body = os.urandom(self.rng.randrange(1, 64))
                self.model[key] = self.s3.put_object(Bucket=BUCKET, Key=key, Body=body)["ETag"]
            elif op == "delete":
                self.s3.delete_object(Bucket=BUCKET, Key=key)
                self.model[key] = None
            elif op == "head":
                etag = self.s3.head_object(Bucket=BUCKET, Key=key)["ETag"]
                if self.model[key] not in (etag, UNKNOWN):
                    self.wrong.append(f"HEAD {key}: {etag}, wrote {self.model[key]}")
            else:
                listed = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=self.keys[0][:3])
                found = {o["Key"]: o["ETag"] for o in listed.get("Contents", [])}
                for name, etag in self.model.items():
                    if etag != UNKNOWN and found.get(name) != etag:
                        self.wrong.append(f"LIST {name}: {found.get(name)}, wrote {etag}")
            self.counts[f"{op} ok"] += 1
        except botocore.exceptions.ClientError as exc:
            status = exc.response["ResponseMetadata"]["HTTPStatusCode"]
            if op == "head" and status == 404:
                if self.model[key] not in (None, UNKNOWN):
                    self.wrong.append(f"HEAD {key}: 404, wrote {self.model[key]}")
                self.counts["head ok"] += 1
            elif status == 503 and exc.response["Error"]["Code"] in ("503", "ServiceUnavailable"):
                self.counts["503"] += 1
                if op in ("put", "delete"):
                    self.model[key] = UNKNOWN
            else:
                self.wrong.append(f"{op} {key}: {status} {exc.response['Error']}")

    @property
    def done(self) -> int:
        return sum(self.counts.values())


def run_workers(workers: list[Worker], until: Callable[[], bool]) -> None:
    wait_for(until, timeout=120)


def test_redis_stopped_and_restarted_under_load(
    make_proxy: Callable[..., EmbeddedProxy], persistent_redis: RedisServer, tmp_path: Path
) -> None:
    proxy = make_proxy(persistent_redis.url, state_dir=str(tmp_path / "state"))
    s3 = client_for(proxy.url)
    s3.create_bucket(Bucket=BUCKET)
    s3.create_bucket(Bucket="quiet")  # only read: never marked for repair
    s3.put_object(Bucket="quiet", Key="q", Body=b"q")
    stop = threading.Event()
    workers = [Worker(n, proxy.url, stop, seed=n) for n in range(4)]
    for worker in workers:
        worker.start()

    def total() -> int:
        return sum(w.done for w in workers)

    try:
        wait_for(lambda: total() >= 80, timeout=120)
        persistent_redis.stop()
        stopped_at = total()
        wait_for(lambda: total() >= stopped_at + 80, timeout=120)
        # Index reads answer 503 during the outage (reads of the bucket the workers
        # write to go upstream once a write marked it for repair).
        for read in (
            lambda: s3.head_object(Bucket="quiet", Key="q"),
            lambda: s3.list_objects_v2(Bucket="quiet"),
            lambda: s3.list_buckets(),
        ):
            with pytest.raises(
                botocore.exceptions.ClientError, match=r"\(503\)|ServiceUnavailable"
            ):
                read()
        persistent_redis.start()
        started_at = total()
        wait_for(lambda: total() >= started_at + 120, timeout=120)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=60)

    assert [w for worker in workers for w in worker.wrong] == []
    # Writes went through during the outage; the bucket was marked, durably, and repaired.
    assert journal_path(str(tmp_path / "state"), persistent_redis.url).exists()
    wait_for(lambda: len(proxy.context.keeper.journal) == 0, timeout=60)
    [report] = proxy.call(verify_buckets(proxy.context.backend, proxy.context.upstream, [BUCKET]))
    assert report.equal, report.lines()
    # Reconnected by itself: the index answers again.
    before = proxy.context.requests[("HeadObject", "index")]
    assert s3.head_object(Bucket="quiet", Key="q")["ContentLength"] == 1
    assert proxy.context.requests[("HeadObject", "index")] == before + 1


def test_a_repair_mark_outlives_the_proxy(
    make_proxy: Callable[..., EmbeddedProxy], persistent_redis: RedisServer, tmp_path: Path
) -> None:
    state = str(tmp_path / "state")
    first = make_proxy(persistent_redis.url, state_dir=state)
    s3 = client_for(first.url)
    s3.create_bucket(Bucket=BUCKET)
    persistent_redis.stop()
    etag = s3.put_object(Bucket=BUCKET, Key="written-in-the-dark", Body=b"1")["ETag"]
    # Marked for repair: its reads go upstream, so even now the answer is right.
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == [
        "written-in-the-dark"
    ]
    first.stop()
    persistent_redis.start()

    second = make_proxy(persistent_redis.url, state_dir=state)
    wait_for(lambda: len(second.context.keeper.journal) == 0, timeout=60)
    listed = client_for(second.url).list_objects_v2(Bucket=BUCKET)["Contents"]
    assert [(o["Key"], o["ETag"]) for o in listed] == [("written-in-the-dark", etag)]
    assert second.context.requests[("ListObjectsV2", "index")] == 1


def test_reads_of_a_bucket_owed_a_repair_go_upstream(
    make_proxy: Callable[..., EmbeddedProxy], persistent_redis: RedisServer, tmp_path: Path
) -> None:
    proxy = make_proxy(persistent_redis.url, state_dir=str(tmp_path / "state"))
    s3 = client_for(proxy.url)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"old")
    persistent_redis.stop()
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"newer")  # the index still says "old"
    assert proxy.context.keeper.needs_repair(BUCKET)
    # While the mark stands, HEAD goes upstream: the new size, not the index's.
    assert s3.head_object(Bucket=BUCKET, Key="k")["ContentLength"] == len(b"newer")
    persistent_redis.start()
    wait_for(lambda: not proxy.context.keeper.needs_repair(BUCKET), timeout=60)
    record = proxy.call(proxy.context.backend.get_object(BUCKET, "k"))
    assert record is not None and record.size == len(b"newer")


def test_a_repair_mark_reaches_every_proxy_on_the_index(
    make_proxy: Callable[..., EmbeddedProxy],
    persistent_redis: RedisServer,
    upstream_gate: UpstreamGate,
    tmp_path: Path,
) -> None:
    def proxy(name: str) -> EmbeddedProxy:
        state = str(tmp_path / name)
        return make_proxy(persistent_redis.url, upstream=upstream_gate.url, state_dir=state)

    first, second = proxy("first"), proxy("second")
    s3, peer = client_for(first.url), client_for(second.url)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"old")
    persistent_redis.stop()
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"newer")  # only `first` knows it was missed
    assert first.context.keeper.needs_repair(BUCKET)
    assert not second.context.keeper.needs_repair(BUCKET)
    upstream_gate.hold()  # the repairs' listings wait, so the mark stands meanwhile
    try:
        persistent_redis.start()
        wait_for(lambda: second.context.keeper.needs_repair(BUCKET), timeout=30)
        # `second` reads the bucket upstream, not from the index that still says "old".
        assert peer.head_object(Bucket=BUCKET, Key="k")["ContentLength"] == len(b"newer")
    finally:
        upstream_gate.release()
    keepers = [first.context.keeper, second.context.keeper]
    wait_for(lambda: not any(keeper.needs_repair(BUCKET) for keeper in keepers), timeout=60)
    record = second.call(second.context.backend.get_object(BUCKET, "k"))
    assert record is not None and record.size == len(b"newer")


def test_an_unreachable_upstream_answers_503_in_bounded_time(
    make_proxy: Callable[..., EmbeddedProxy], upstream_gate: UpstreamGate
) -> None:
    proxy = make_proxy("sqlite", upstream=upstream_gate.url, upstream_timeout=0.5)
    s3 = client_for(proxy.url, read_timeout=10, connect_timeout=5)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"1")
    upstream_gate.hang()
    try:
        # The index keeps answering.
        assert s3.head_object(Bucket=BUCKET, Key="k")["ContentLength"] == 1
        assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 1
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [BUCKET]
        # Writes and forced reads answer 503 after the timeout, well within the client's.
        writes: list[Callable[[], Any]] = [
            lambda: s3.put_object(Bucket=BUCKET, Key="k2", Body=b"2"),
            lambda: s3.delete_object(Bucket=BUCKET, Key="k"),
            lambda: s3.get_object(Bucket=BUCKET, Key="k"),
        ]
        for call in writes:
            with pytest.raises(botocore.exceptions.ClientError) as caught:
                call()
            assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        forced = s3_request(
            "HEAD", proxy.url, f"/{BUCKET}/k", headers={"Cache-Control": "no-cache"}
        )
        assert forced.status_code == 503
        # One answer, not the SDK's retries: the timeout bounds it (a hang would not end;
        # the bound is loose, for a shared machine).
        for method, body in [("PUT", b"2"), ("DELETE", b""), ("GET", b"")]:
            started = time.monotonic()
            answer = s3_request(method, proxy.url, f"/{BUCKET}/k", body=body)
            assert answer.status_code == 503
            assert "<Code>ServiceUnavailable</Code>" in answer.text
            assert time.monotonic() - started < 5
    finally:
        upstream_gate.release()
    assert s3.head_object(Bucket=BUCKET, Key="k")["ContentLength"] == 1  # nothing was lost


def test_an_upstream_that_refuses_connections_answers_503(
    make_proxy: Callable[..., EmbeddedProxy], upstream_gate: UpstreamGate
) -> None:
    proxy = make_proxy("sqlite", upstream=upstream_gate.url)
    s3 = client_for(proxy.url, read_timeout=10)
    s3.create_bucket(Bucket=BUCKET)
    upstream_gate.stop()
    with pytest.raises(botocore.exceptions.ClientError, match="ServiceUnavailable"):
        s3.put_object(Bucket=BUCKET, Key="k", Body=b"1")
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0


@pytest.fixture
def volatile_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """One that keeps nothing across a restart."""
    (tmp_path / "volatile-redis").mkdir()
    yield from started_redis(tmp_path / "volatile-redis")


def test_a_redis_restarted_empty_is_noticed_and_rebuilt(
    make_proxy: Callable[..., EmbeddedProxy], volatile_redis: RedisServer
) -> None:
    proxy = make_proxy(volatile_redis.url)
    s3 = client_for(proxy.url)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"kept upstream")
    wait_for(lambda: proxy.context.keeper.backend.losses == 0, timeout=5)
    time.sleep(1.5)  # the keeper has seen which buckets the index holds
    volatile_redis.stop()
    volatile_redis.start()  # empty: it would answer NoSuchBucket to everything
    # Never a wrong answer: a 503 while the loss is noticed, then the upstream's own.
    for _ in range(3):
        try:
            assert s3.head_object(Bucket=BUCKET, Key="k")["ContentLength"] == 13
            break
        except botocore.exceptions.ClientError as exc:
            assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    else:
        raise AssertionError("no answer after the restart")
    assert proxy.context.keeper.backend.losses == 1
    health = s3_request("GET", proxy.url, "/_mimicdb/health").json()
    assert health["index"] is True  # ready: reads are answered, from upstream for now
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == ["k"]
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [BUCKET]
    # The keeper syncs the bucket back in, then the index answers again.
    wait_for(lambda: not proxy.context.keeper.backend.index_lost(), timeout=30)
    record = proxy.call(proxy.context.backend.get_object(BUCKET, "k"))
    assert record is not None and record.size == 13
    [report] = proxy.call(verify_buckets(proxy.context.backend, proxy.context.upstream, [BUCKET]))
    assert report.equal, report.lines()
