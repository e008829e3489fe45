"""Concurrent writers: clients putting and deleting the same keys through one proxy, and
through two proxies sharing one Redis, end with an index equal to the upstream's state.

The upstream is reached through a gate that delays requests and answers by a random few
milliseconds, as a network would. The upstream answer a write's index update relies on
may arrive after a newer write was recorded: the overtaking tests order exactly that,
and without the write versions of proxy/writes.py they leave the index wrong.

The randomized test runs 2,000 random operations from 8 clients over a small key space
(so that writers collide) through two proxies on one Redis, then runs
`mimicdb-proxy verify` against that Redis. Set MIMICDB_TEST_SEED to replay a run.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import botocore.exceptions
import pytest

from proxy.embedded import EmbeddedProxy
from proxy.verify import verify_buckets
from tests.fixtures.proxy_server import client_for
from tests.fixtures.s3_server import MotoUpstream
from tests.fixtures.upstream_gate import UpstreamGate
from tests.s3http import s3_request

BUCKET = "contended"
KEYS = [f"key-{i}" for i in range(6)] + ["dir/a", "dir/b", "é", "a b"]


def random_operation(s3: Any, rng: random.Random) -> str:
    """One write or read on a few shared keys; returns what it did, for failure messages."""
    key = rng.choice(KEYS)
    op = rng.choices(
        ["put", "delete", "delete_objects", "copy", "head", "list", "get"],
        weights=[5, 3, 1, 1, 2, 1, 1],
    )[0]
    try:
        if op == "put":
            s3.put_object(Bucket=BUCKET, Key=key, Body=os.urandom(rng.randrange(0, 40)))
        elif op == "delete":
            s3.delete_object(Bucket=BUCKET, Key=key)
        elif op == "delete_objects":
            chosen = rng.sample(KEYS, 3)
            s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": k} for k in chosen]})
        elif op == "copy":
            source = rng.choice([k for k in KEYS if k != key])
            s3.copy_object(Bucket=BUCKET, Key=key, CopySource={"Bucket": BUCKET, "Key": source})
        elif op == "head":
            s3.head_object(Bucket=BUCKET, Key=key)
        elif op == "get":
            s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        else:
            s3.list_objects_v2(Bucket=BUCKET)
    except botocore.exceptions.ClientError as exc:
        code = exc.response["Error"]["Code"]
        # A key another client just deleted: S3's own answers.
        if code not in ("404", "NoSuchKey") or op not in ("head", "get", "copy"):
            raise AssertionError(f"{op} {key}: {exc}") from exc
    return f"{op} {key}"


def hammer(urls: list[str], clients: int, operations: int, seed: int) -> None:
    """`operations` in all, from `clients` threads spread over the proxies."""
    errors: list[str] = []
    per_client = operations // clients

    def client(number: int) -> None:
        s3 = client_for(urls[number % len(urls)], read_timeout=60)
        rng = random.Random(seed * 1000 + number)
        for _ in range(per_client):
            try:
                random_operation(s3, rng)
            except AssertionError as exc:
                errors.append(str(exc))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert errors == [], f"seed {seed}: {errors[:5]}"


def index_state(proxy: EmbeddedProxy) -> list[tuple[str, str, int]]:
    records = proxy.call(proxy.context.backend.scan(BUCKET, b"", None, 1000))
    return [(r.key, r.etag, r.size) for r in records]


def upstream_state(moto: MotoUpstream) -> list[tuple[str, str, int]]:
    listed = client_for(moto.url).list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return sorted(
        ((o["Key"], o["ETag"], o["Size"]) for o in listed), key=lambda t: t[0].encode("utf-8")
    )


@pytest.fixture
def jittery(upstream_gate: UpstreamGate) -> UpstreamGate:
    upstream_gate.jitter = 0.02
    return upstream_gate


@pytest.mark.parametrize("backend", ["memory", "sqlite", "redis"])
def test_concurrent_writers_through_one_proxy(
    make_proxy: Callable[..., EmbeddedProxy],
    s3_upstream: MotoUpstream,
    jittery: UpstreamGate,
    backend: str,
) -> None:
    proxy = make_proxy(backend, upstream=jittery.url)
    client_for(proxy.url).create_bucket(Bucket=BUCKET)
    hammer([proxy.url], clients=8, operations=400, seed=1)
    assert index_state(proxy) == upstream_state(s3_upstream)
    [report] = proxy.call(verify_buckets(proxy.context.backend, proxy.context.upstream, [BUCKET]))
    assert report.equal, report.lines()


def overtake(
    gate: UpstreamGate, held: tuple[str, str], first: Callable[[], Any], then: Callable[[], Any]
) -> None:
    """`first` runs until the upstream answered its `held` (method, path) request; that
    answer is held while `then` runs to the end; then it arrives, late, as answers on a
    network may."""
    gate.hold_answer(*held)
    thread = threading.Thread(target=first)
    thread.start()
    assert gate.held.wait(30)
    then()
    gate.release()
    thread.join(timeout=60)


def stale_cases(s3: Any, other: Any, proxy: EmbeddedProxy) -> dict[str, tuple[Any, Any]]:
    """Each: a first operation whose upstream HEAD is overtaken by a second operation."""
    forced = {"Cache-Control": "no-cache"}

    def forced_head(key: str) -> Callable[[], Any]:
        return lambda: s3_request("HEAD", proxy.url, f"/{BUCKET}/{key}", headers=forced)

    def forced_list() -> Any:
        query = [("list-type", "2")]
        return s3_request("GET", proxy.url, f"/{BUCKET}", query, headers=forced)

    return {
        "put-then-delete": (
            lambda: s3.put_object(Bucket=BUCKET, Key="a", Body=b"first"),
            lambda: other.delete_object(Bucket=BUCKET, Key="a"),
        ),
        "put-then-put": (
            lambda: s3.put_object(Bucket=BUCKET, Key="b", Body=b"first"),
            lambda: other.put_object(Bucket=BUCKET, Key="b", Body=b"second!"),
        ),
        "forced-head-then-put": (
            forced_head("c"),
            lambda: other.put_object(Bucket=BUCKET, Key="c", Body=b"second!"),
        ),
        "listed-head-then-delete": (
            lambda: s3.head_object(Bucket=BUCKET, Key="d"),
            lambda: other.delete_object(Bucket=BUCKET, Key="d"),
        ),
        # A forced page listed "c" and "d" before these writes; stored late, it would
        # bring back the old "c" and the deleted "d".
        "forced-list-then-put": (
            forced_list,
            lambda: other.put_object(Bucket=BUCKET, Key="c", Body=b"second!"),
        ),
        "forced-list-then-delete": (
            forced_list,
            lambda: other.delete_object(Bucket=BUCKET, Key="d"),
        ),
    }


# The upstream answer each case holds back.
HELD = {
    "put-then-delete": ("HEAD", f"/{BUCKET}/a"),
    "put-then-put": ("HEAD", f"/{BUCKET}/b"),
    "forced-head-then-put": ("HEAD", f"/{BUCKET}/c"),
    "listed-head-then-delete": ("HEAD", f"/{BUCKET}/d"),
    "forced-list-then-put": ("GET", f"/{BUCKET}"),
    "forced-list-then-delete": ("GET", f"/{BUCKET}"),
}


@pytest.mark.parametrize("backend", ["memory", "sqlite", "redis", "two proxies on redis"])
@pytest.mark.parametrize("case", list(HELD))
def test_a_late_upstream_answer_never_overwrites_a_newer_write(
    make_proxy: Callable[..., EmbeddedProxy],
    s3_upstream: MotoUpstream,
    upstream_gate: UpstreamGate,
    backend: str,
    case: str,
) -> None:
    proxy = make_proxy(backend.split()[-1], upstream=upstream_gate.url)
    peer = make_proxy("redis", upstream=upstream_gate.url) if backend.startswith("two") else proxy
    s3, other = client_for(proxy.url), client_for(peer.url)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="c", Body=b"first")
    client_for(s3_upstream.url).put_object(Bucket=BUCKET, Key="d", Body=b"listed")
    assert s3_request("POST", proxy.url, "/_mimicdb/sync", [("bucket", BUCKET)]).ok
    first, then = stale_cases(s3, other, proxy)[case]
    overtake(upstream_gate, HELD[case], first, then)
    assert index_state(proxy) == index_state(peer) == upstream_state(s3_upstream)


def test_randomized_operations_through_two_proxies_on_one_redis(
    make_proxy: Callable[..., EmbeddedProxy],
    s3_upstream: MotoUpstream,
    jittery: UpstreamGate,
    redis_url: str,
) -> None:
    seed = int(os.environ.get("MIMICDB_TEST_SEED", time.time_ns() % 1_000_000))
    first = make_proxy("redis", upstream=jittery.url)
    second = make_proxy("redis", upstream=jittery.url)
    client_for(first.url).create_bucket(Bucket=BUCKET)
    hammer([first.url, second.url], clients=8, operations=2000, seed=seed)

    assert index_state(first) == index_state(second) == upstream_state(s3_upstream), seed
    verify = subprocess.run(
        [sys.executable, "-m", "proxy", "verify", BUCKET, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "MIMICDB_UPSTREAM": s3_upstream.url, "MIMICDB_BACKEND": redis_url},
    )
    assert verify.returncode == 0, f"seed {seed}: {verify.stdout} {verify.stderr}"
    assert '"equal": true' in verify.stdout
