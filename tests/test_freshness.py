"""Freshness: the Age header, HEAD completion by one upstream HEAD, read-through modes for
buckets never synced, and background re-sync (`--resync-every`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import botocore.exceptions
import pytest

from proxy.embedded import EmbeddedProxy
from tests.fixtures.proxy_server import client_for
from tests.fixtures.s3_server import MotoUpstream
from tests.s3http import s3_request

from .test_sync import wait_for

BUCKET = "fresh"


def age(headers: dict[str, str]) -> int:
    return int(headers["age"])


def test_age_counts_from_the_last_sync_or_confirmation(
    make_proxy: Callable[..., EmbeddedProxy],
) -> None:
    proxy = make_proxy("sqlite")
    s3 = client_for(proxy.url)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"1")
    backend = proxy.context.backend
    now = time.time()
    bucket = proxy.call(backend.get_bucket(BUCKET))
    record = proxy.call(backend.get_object(BUCKET, "k"))
    assert bucket is not None and record is not None
    proxy.call(backend.put_bucket(replace(bucket, synced_at=now - 100)))
    proxy.call(backend.put_object(BUCKET, replace(record, confirmed_at=now - 40)))

    listing = s3.list_objects_v2(Bucket=BUCKET)["ResponseMetadata"]["HTTPHeaders"]
    assert 100 <= age(listing) < 130  # seconds since the sync (the margin: this test's run)
    head = s3.head_object(Bucket=BUCKET, Key="k")["ResponseMetadata"]["HTTPHeaders"]
    assert 40 <= age(head) < 70  # confirmed after the sync: the later one counts

    # Confirmed before the last sync: the sync saw it later.
    proxy.call(backend.put_object(BUCKET, replace(record, confirmed_at=now - 400)))
    head = s3.head_object(Bucket=BUCKET, Key="k")["ResponseMetadata"]["HTTPHeaders"]
    assert 100 <= age(head) < 130


def test_no_age_on_answers_from_the_upstream(make_proxy: Callable[..., EmbeddedProxy]) -> None:
    proxy = make_proxy("sqlite")
    s3 = client_for(proxy.url)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"1")
    forced = s3_request("HEAD", proxy.url, f"/{BUCKET}/k", headers={"Cache-Control": "no-cache"})
    assert forced.status_code == 200 and "Age" not in forced.headers
    assert "Age" in s3_request("HEAD", proxy.url, f"/{BUCKET}/k").headers


def test_an_entry_known_from_a_listing_takes_one_upstream_head(
    make_proxy: Callable[..., EmbeddedProxy], s3_upstream: MotoUpstream
) -> None:
    upstream = client_for(s3_upstream.url)
    upstream.create_bucket(Bucket=BUCKET)
    upstream.put_object(
        Bucket=BUCKET,
        Key="doc",
        Body=b"hello",
        ContentType="text/markdown",
        ContentLanguage="fr",
        Metadata={"owner": "ada"},
    )
    proxy = make_proxy("sqlite")
    assert s3_request("POST", proxy.url, "/_mimicdb/sync", [("bucket", BUCKET)]).ok
    listed = proxy.call(proxy.context.backend.get_object(BUCKET, "doc"))
    assert listed is not None and listed.headers is None

    s3 = client_for(proxy.url)
    sent = proxy.context.upstream.requests_sent
    first = s3.head_object(Bucket=BUCKET, Key="doc")
    assert proxy.context.upstream.requests_sent == sent + 1
    second = s3.head_object(Bucket=BUCKET, Key="doc")
    third = s3.head_object(Bucket=BUCKET, Key="doc", IfNoneMatch='"other"')
    assert proxy.context.upstream.requests_sent == sent + 1  # then served locally
    for answer in (first, second, third):
        assert answer["ContentType"] == "text/markdown"
        assert answer["ContentLanguage"] == "fr"
        assert answer["Metadata"] == {"owner": "ada"}
        assert answer["ContentLength"] == 5
    assert proxy.context.requests[("HeadObject", "upstream")] == 1
    assert proxy.context.requests[("HeadObject", "index")] == 2


def test_strict_by_default_a_bucket_never_synced_does_not_exist(
    make_proxy: Callable[..., EmbeddedProxy], s3_upstream: MotoUpstream
) -> None:
    upstream = client_for(s3_upstream.url)
    upstream.create_bucket(Bucket=BUCKET)
    upstream.put_object(Bucket=BUCKET, Key="k", Body=b"1")
    s3 = client_for(make_proxy("sqlite").url)
    with pytest.raises(botocore.exceptions.ClientError, match="NoSuchBucket"):
        s3.list_objects_v2(Bucket=BUCKET)
    assert s3.list_buckets()["Buckets"] == []


def test_passthrough_forwards_reads_of_unsynced_buckets_and_records_them(
    make_proxy: Callable[..., EmbeddedProxy], s3_upstream: MotoUpstream
) -> None:
    upstream = client_for(s3_upstream.url)
    upstream.create_bucket(Bucket=BUCKET)
    upstream.put_object(Bucket=BUCKET, Key="k", Body=b"1", ContentType="text/plain")
    proxy = make_proxy("sqlite", unsynced="passthrough")
    s3 = client_for(proxy.url)

    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [BUCKET]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == ["k"]
    assert s3.head_object(Bucket=BUCKET, Key="k")["ContentType"] == "text/plain"
    assert s3.get_object(Bucket=BUCKET, Key="k")["Body"].read() == b"1"
    # Recorded, but not complete: reads keep going upstream until a sync.
    recorded = proxy.call(proxy.context.backend.get_object(BUCKET, "k"))
    assert recorded is not None and recorded.headers is not None
    upstream.put_object(Bucket=BUCKET, Key="behind-the-back", Body=b"2")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys == ["behind-the-back", "k"]
    assert proxy.context.requests[("ListObjectsV2", "index")] == 0

    assert s3_request("POST", proxy.url, "/_mimicdb/sync", [("bucket", BUCKET)]).ok
    upstream.put_object(Bucket=BUCKET, Key="after-sync", Body=b"3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys == ["behind-the-back", "k"]  # synced: the index answers, as strict does
    assert proxy.context.requests[("ListObjectsV2", "index")] == 1


def test_sync_mode_starts_a_background_sync_on_first_use(
    make_proxy: Callable[..., EmbeddedProxy], s3_upstream: MotoUpstream
) -> None:
    upstream = client_for(s3_upstream.url)
    upstream.create_bucket(Bucket=BUCKET)
    for i in range(20):
        upstream.put_object(Bucket=BUCKET, Key=f"k{i:02d}", Body=b"1")
    proxy = make_proxy("sqlite", unsynced="sync")
    s3 = client_for(proxy.url)
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 20  # forwarded meanwhile

    def synced() -> bool:
        bucket = proxy.call(proxy.context.backend.get_bucket(BUCKET))
        return bucket is not None and bucket.synced_at is not None

    wait_for(synced)
    assert proxy.call(proxy.context.backend.count_objects(BUCKET)) == 20
    before = proxy.context.requests[("ListObjectsV2", "index")]
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 20
    assert proxy.context.requests[("ListObjectsV2", "index")] == before + 1
    with pytest.raises(botocore.exceptions.ClientError, match="NoSuchBucket"):
        s3.list_objects_v2(Bucket="no-such-bucket")  # forwarded: S3's own answer


def test_resync_every_brings_in_changes_made_behind_the_proxy(
    make_proxy: Callable[..., EmbeddedProxy], s3_upstream: MotoUpstream
) -> None:
    upstream = client_for(s3_upstream.url)
    upstream.create_bucket(Bucket=BUCKET)
    proxy = make_proxy("sqlite", resync_every=0.2)
    assert s3_request("POST", proxy.url, "/_mimicdb/sync", [("bucket", BUCKET)]).ok
    upstream.put_object(Bucket=BUCKET, Key="behind-the-back", Body=b"1")
    s3 = client_for(proxy.url)
    wait_for(lambda: s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 1)
    assert proxy.context.requests[("ListObjectsV2", "upstream")] == 0
