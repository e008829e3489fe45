"""`/_mimicdb/metrics` and `/_mimicdb/stats` read back after a known mix of requests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families

from proxy.embedded import EmbeddedProxy

from .fixtures.s3_server import MotoUpstream
from .s3http import s3_request

BUCKET = "metrics-bucket"
KEYS = ["a.txt", "b.txt", "dir/c.txt"]


def scrape(proxy: EmbeddedProxy) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition, by (sample name, sorted labels), via Prometheus' parser."""
    response = s3_request("GET", proxy.url, "/_mimicdb/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def seed_upstream(moto: MotoUpstream) -> None:
    direct = boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1")
    direct.create_bucket(Bucket=BUCKET)
    for key in KEYS:
        direct.put_object(Bucket=BUCKET, Key=key, Body=b"x" * 10)


def sync(proxy: EmbeddedProxy, bucket: str) -> None:
    response = s3_request("POST", proxy.url, "/_mimicdb/sync", [("bucket", bucket)])
    assert response.status_code == 200, response.text


def drive_known_mix(client: Any) -> None:
    """2 ListBuckets, 3 ListObjectsV2, 1 HeadBucket, 4 HeadObject (2 first-time), 2 GET, 1 PUT."""
    for _ in range(2):
        client.list_buckets()
    for _ in range(3):
        client.list_objects_v2(Bucket=BUCKET)
    client.head_bucket(Bucket=BUCKET)
    # Known from the sync's listing only: the first HEAD of a key completes it upstream.
    for key in ("a.txt", "b.txt", "a.txt", "b.txt"):
        client.head_object(Bucket=BUCKET, Key=key)
    client.get_object(Bucket=BUCKET, Key="a.txt")["Body"].read()
    with pytest.raises(ClientError) as missing:
        client.get_object(Bucket=BUCKET, Key="no-such-key")
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"
    client.put_object(Bucket=BUCKET, Key="new.txt", Body=b"new")


def test_counts_match_a_known_mix(
    make_proxy: Callable[..., EmbeddedProxy],
    s3_upstream: MotoUpstream,
    s3_client: Callable[..., Any],
) -> None:
    seed_upstream(s3_upstream)
    proxy = make_proxy("sqlite", list_price=0.01, get_price=0.002)
    sync(proxy, BUCKET)
    drive_known_mix(s3_client(proxy.url))
    samples = scrape(proxy)

    requests_total = "mimicdb_requests_total"
    expected = {
        ("ListBuckets", "index"): 2,
        ("ListObjectsV2", "index"): 3,
        ("HeadBucket", "index"): 1,
        ("HeadObject", "upstream"): 2,
        ("HeadObject", "index"): 2,
        ("GetObject", "upstream"): 1,
        ("GetObject", "index"): 1,  # the missing key: 404 from the index, nothing sent
        ("PutObject", "upstream"): 1,
    }
    seen = {
        (dict(labels)["operation"], dict(labels)["answered_from"]): v
        for (name, labels), v in samples.items()
        if name == requests_total
    }
    assert seen == expected

    avoided = {op: n for (op, where), n in expected.items() if where == "index"}
    for operation, count in avoided.items():
        assert (
            value(samples, "mimicdb_upstream_requests_avoided_total", operation=operation) == count
        )
    # the configured prices (not the defaults): LIST 0.01, GET/HEAD 0.002 per 1,000
    assert value(
        samples,
        "mimicdb_upstream_cost_avoided_dollars_total",
        operation="ListObjectsV2",
        price_class="list",
    ) == pytest.approx(3 * 0.01 / 1000)
    assert value(
        samples,
        "mimicdb_upstream_cost_avoided_dollars_total",
        operation="HeadObject",
        price_class="get",
    ) == pytest.approx(2 * 0.002 / 1000)
    total_dollars = sum(
        v
        for (name, _), v in samples.items()
        if name == "mimicdb_upstream_cost_avoided_dollars_total"
    )
    assert total_dollars == pytest.approx((2 + 3) * 0.01 / 1000 + (1 + 2 + 1) * 0.002 / 1000)

    assert value(samples, "mimicdb_errors_total", code="NoSuchKey") == 1
    assert value(samples, "mimicdb_sync_runs_total", outcome="ok") == 1
    assert value(samples, "mimicdb_sync_runs_total", outcome="error") == 0
    assert value(samples, "mimicdb_index_up") == 1
    assert value(samples, "mimicdb_index_objects", bucket=BUCKET) == len(KEYS) + 1
    assert value(samples, "mimicdb_index_last_sync_timestamp_seconds", bucket=BUCKET) > 0

    # Every upstream request is timed once: the histogram's count is the upstream total.
    sent = value(samples, "mimicdb_upstream_requests_total")
    assert sent == proxy.context.upstream.requests_sent > 0
    timed = sum(
        v
        for (name, _), v in samples.items()
        if name == "mimicdb_upstream_request_duration_seconds_count"
    )
    assert timed == sent
    assert (
        value(samples, "mimicdb_upstream_request_duration_seconds_bucket", method="HEAD", le="+Inf")
        >= 3
    )  # two HEADs completing listed keys, one after the PUT to mirror it


def test_stats_has_the_same_numbers(
    make_proxy: Callable[..., EmbeddedProxy],
    s3_upstream: MotoUpstream,
    s3_client: Callable[..., Any],
) -> None:
    seed_upstream(s3_upstream)
    proxy = make_proxy("memory")
    sync(proxy, BUCKET)
    drive_known_mix(s3_client(proxy.url))
    stats = s3_request("GET", proxy.url, "/_mimicdb/stats").json()
    samples = scrape(proxy)

    index_answers = sum(
        v
        for (name, labels), v in samples.items()
        if name == "mimicdb_requests_total" and ("answered_from", "index") in labels
    )
    assert stats["answered_from"]["index"] == index_answers == 9
    assert stats["avoided"]["requests"] == 9
    # default prices: S3 Standard, LIST $0.005 and GET/HEAD $0.0004 per 1,000
    assert stats["avoided"]["prices_per_1000"] == {"list": 0.005, "get": 0.0004}
    assert stats["avoided"]["dollars"] == pytest.approx(5 * 0.005 / 1000 + 4 * 0.0004 / 1000)
    assert stats["errors"] == {"NoSuchKey": 1}
    assert stats["sync_runs"] == {"ok": 1, "error": 0}
    assert stats["index"] == {"up": True, "buckets": 1, "objects": len(KEYS) + 1}
    assert stats["upstream_latency"]["count"] == stats["upstream_requests"]


def test_a_failed_sync_is_counted(make_proxy: Callable[..., EmbeddedProxy]) -> None:
    proxy = make_proxy("memory")
    response = s3_request("POST", proxy.url, "/_mimicdb/sync", [("bucket", "never-created")])
    assert response.status_code == 404
    samples = scrape(proxy)
    assert value(samples, "mimicdb_sync_runs_total", outcome="error") == 1
    assert value(samples, "mimicdb_sync_runs_total", outcome="ok") == 0


def test_each_proxy_has_its_own_registry(
    make_proxy: Callable[..., EmbeddedProxy],
    s3_upstream: MotoUpstream,
    s3_client: Callable[..., Any],
) -> None:
    seed_upstream(s3_upstream)
    first, second = make_proxy("memory"), make_proxy("memory")
    s3_client(first.url).list_buckets()
    s3_client(first.url).list_buckets()
    s3_client(second.url).list_buckets()
    first_count = value(
        scrape(first), "mimicdb_requests_total", operation="ListBuckets", answered_from="index"
    )
    second_count = value(
        scrape(second), "mimicdb_requests_total", operation="ListBuckets", answered_from="index"
    )
    assert (first_count, second_count) == (2, 1)


def test_index_down_is_reported_not_raised(
    make_proxy: Callable[..., EmbeddedProxy], redis_server: Any, redis_url: str
) -> None:
    proxy = make_proxy("redis")
    assert value(scrape(proxy), "mimicdb_index_up") == 1
    redis_server.stop()
    try:
        samples = scrape(proxy)
        assert value(samples, "mimicdb_index_up") == 0
        health = s3_request("GET", proxy.url, "/_mimicdb/health")
        assert health.status_code == 503
    finally:
        redis_server.start()


def test_background_resyncs_are_counted(
    make_proxy: Callable[..., EmbeddedProxy], s3_upstream: MotoUpstream
) -> None:
    seed_upstream(s3_upstream)
    proxy = make_proxy("memory", resync_every=0.05)
    sync(proxy, BUCKET)  # the re-sync timer walks what the index holds
    deadline = time.monotonic() + 30
    while value(scrape(proxy), "mimicdb_sync_runs_total", outcome="ok") < 3:
        assert time.monotonic() < deadline, "no background re-sync was counted"
        time.sleep(0.05)


def test_public_metrics_answer_probes_unsigned_and_nothing_else(
    make_proxy: Callable[..., EmbeddedProxy],
) -> None:
    import requests

    closed = make_proxy("memory")
    opened = make_proxy("memory", public_metrics=True)
    for path in ["/_mimicdb/metrics", "/_mimicdb/health"]:
        assert requests.get(closed.url + path, timeout=10).status_code == 403
        assert requests.get(opened.url + path, timeout=10).status_code == 200
    assert b"mimicdb_" in requests.get(opened.url + "/_mimicdb/metrics", timeout=10).content
    for path in ["/_mimicdb/stats", "/", "/some-bucket"]:
        assert requests.get(opened.url + path, timeout=10).status_code == 403
    assert requests.post(opened.url + "/_mimicdb/metrics", timeout=10).status_code == 403
