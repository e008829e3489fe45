"""A 2015 user's suite: buckets, keys, sync, forced and unforced reads, on every backend.

`conn` is mimicdb's S3Connection; `s3` is plain boto 2 straight to the upstream, the
way the seed's own tests changed S3 "outside MimicDB". The index is the truth until a
sync or a forced read: what `s3` does is invisible to `conn` until then.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from boto.exception import S3ResponseError

from mimicdb import MimicDB
from mimicdb.s3.bucket import Bucket
from mimicdb.s3.key import Key

from .helpers import put, upstream_requests


def md5(data: str) -> str:
    return hashlib.md5(data.encode()).hexdigest()


@pytest.fixture
def seeded(s3: Any) -> Any:
    """A bucket on S3 with one key, 'upload', made before MimicDB knew anything."""
    bucket = s3.create_bucket("mimicdb-tests")
    put(bucket, "upload", "upload")
    return bucket


# Buckets


def test_no_buckets_before_sync(conn: Any, seeded: Any) -> None:
    assert conn.get_all_buckets() == []


def test_get_all_buckets_forced_asks_s3_and_records(conn: Any, seeded: Any) -> None:
    assert [b.name for b in conn.get_all_buckets(force=True)] == ["mimicdb-tests"]
    buckets = conn.get_all_buckets()
    assert [b.name for b in buckets] == ["mimicdb-tests"]
    assert all(isinstance(b, Bucket) for b in buckets)


def test_get_bucket_the_index_lacks_raises_404(conn: Any, seeded: Any) -> None:
    with pytest.raises(S3ResponseError) as raised:
        conn.get_bucket("mimicdb-tests")
    assert raised.value.status == 404
    assert raised.value.error_code == "NoSuchBucket"
    assert conn.lookup("mimicdb-tests") is None
    assert "mimicdb-tests" not in conn


def test_get_bucket_without_validate_does_not_check(conn: Any, mimic: MimicDB) -> None:
    before = upstream_requests(mimic)
    bucket = conn.get_bucket("never-made", validate=False)
    assert isinstance(bucket, Bucket) and bucket.name == "never-made"
    assert upstream_requests(mimic) == before


def test_get_bucket_forced_records_it(conn: Any, seeded: Any) -> None:
    assert conn.get_bucket("mimicdb-tests", force=True).name == "mimicdb-tests"
    assert conn.get_bucket("mimicdb-tests").name == "mimicdb-tests"
    assert [b.name for b in conn.get_all_buckets()] == ["mimicdb-tests"]


def test_get_bucket_forced_forgets_a_bucket_gone_from_s3(conn: Any, s3: Any) -> None:
    s3.create_bucket("short-lived")
    conn.sync()
    s3.delete_bucket("short-lived")
    assert conn.get_bucket("short-lived").name == "short-lived"  # the index still has it
    with pytest.raises(S3ResponseError):
        conn.get_bucket("short-lived", force=True)
    with pytest.raises(S3ResponseError):
        conn.get_bucket("short-lived")


def test_create_bucket_is_recorded(conn: Any, s3: Any) -> None:
    bucket = conn.create_bucket("mimicdb-create")
    assert isinstance(bucket, Bucket)
    assert [b.name for b in conn.get_all_buckets()] == ["mimicdb-create"]
    assert [b.name for b in s3.get_all_buckets()] == ["mimicdb-create"]
    # A new bucket is empty, and the index knows all of it.
    assert list(conn.get_bucket("mimicdb-create").list()) == []


def test_delete_non_empty_bucket_raises_and_stays(conn: Any, seeded: Any) -> None:
    conn.sync()
    with pytest.raises(S3ResponseError) as raised:
        conn.delete_bucket("mimicdb-tests")
    assert raised.value.status == 409
    assert [b.name for b in conn.get_all_buckets()] == ["mimicdb-tests"]


def test_delete_empty_bucket_leaves_the_index(conn: Any, seeded: Any) -> None:
    seeded.delete_key("upload")
    conn.sync()
    conn.delete_bucket("mimicdb-tests")
    assert conn.get_all_buckets() == []
    assert [b.name for b in conn.get_all_buckets(force=True)] == []


# Sync


def test_sync_records_buckets_keys_and_metadata(conn: Any, seeded: Any) -> None:
    conn.sync()
    assert [b.name for b in conn.get_all_buckets()] == ["mimicdb-tests"]
    key = conn.get_bucket("mimicdb-tests").get_key("upload")
    assert key.size == len("upload")
    assert key.md5 == md5("upload")
    assert isinstance(key.md5, str)
    assert key.etag == f'"{md5("upload")}"'


def test_sync_named_buckets_only(conn: Any, s3: Any, seeded: Any) -> None:
    s3.create_bucket("mimicdb-tests-other")
    conn.sync("mimicdb-tests")
    assert [b.name for b in conn.get_all_buckets()] == ["mimicdb-tests"]
    conn.sync(["mimicdb-tests-other"])  # the seed's last form took a list
    names = [b.name for b in conn.get_all_buckets()]
    assert names == ["mimicdb-tests", "mimicdb-tests-other"]


def test_sync_a_bucket_s3_lacks_raises(conn: Any, seeded: Any) -> None:
    with pytest.raises(S3ResponseError) as raised:
        conn.sync("no-such-bucket")
    assert raised.value.status == 404
    assert raised.value.error_code == "NoSuchBucket"


def test_sync_replaces_old_entries(conn: Any, seeded: Any) -> None:
    conn.sync()
    put(seeded, "upload", "sync_clear")
    put(seeded, "added", "added")
    conn.sync()
    bucket = conn.get_bucket("mimicdb-tests")
    key = bucket.get_key("upload")
    assert (key.size, key.md5) == (len("sync_clear"), md5("sync_clear"))
    assert [k.name for k in bucket.list()] == ["added", "upload"]


def test_sync_forgets_keys_gone_from_s3(conn: Any, seeded: Any) -> None:
    conn.sync()
    seeded.delete_key("upload")
    conn.sync("mimicdb-tests")
    bucket = conn.get_bucket("mimicdb-tests")
    assert bucket.get_key("upload") is None
    assert list(bucket.list()) == []


def test_sync_all_forgets_buckets_gone_from_s3(conn: Any, s3: Any, seeded: Any) -> None:
    s3.create_bucket("gone-soon")
    conn.sync()
    s3.delete_bucket("gone-soon")
    conn.sync()
    assert [b.name for b in conn.get_all_buckets()] == ["mimicdb-tests"]


def test_bucket_sync(conn: Any, seeded: Any) -> None:
    conn.sync()
    put(seeded, "sync", "sync")
    bucket = conn.get_bucket("mimicdb-tests")
    assert bucket.get_key("sync") is None
    bucket.sync()
    key = bucket.get_key("sync")
    assert (key.size, key.md5) == (len("sync"), md5("sync"))


def test_bucket_sync_metadata_asks_each_key_once(conn: Any, mimic: MimicDB, seeded: Any) -> None:
    put(seeded, "typed", "{}", headers={"Content-Type": "application/json"})
    conn.sync()
    bucket = conn.get_bucket("mimicdb-tests")
    bucket.sync(metadata=True)
    before = upstream_requests(mimic)
    assert bucket.get_key("typed").content_type == "application/json"
    assert upstream_requests(mimic) == before  # completed by the sync, not now


# Keys


def test_unsynced_key_is_none(conn: Any, seeded: Any) -> None:
    conn.sync()
    put(seeded, "get_key", "get_key")
    assert conn.get_bucket("mimicdb-tests").get_key("get_key") is None


def test_unsynced_key_forced(conn: Any, seeded: Any) -> None:
    conn.sync()
    put(seeded, "get_key", "get_key", headers={"x-amz-meta-colour": "blue"})
    bucket = conn.get_bucket("mimicdb-tests")
    key = bucket.get_key("get_key", force=True)
    assert isinstance(key, Key)
    assert (key.size, key.md5, key.metadata) == (7, md5("get_key"), {"colour": "blue"})
    # Recorded: the next, unforced read finds it in the index.
    assert bucket.get_key("get_key").metadata == {"colour": "blue"}
    assert "get_key" in [k.name for k in bucket]


def test_forced_get_key_removes_a_key_gone_from_s3(conn: Any, seeded: Any) -> None:
    conn.sync()
    bucket = conn.get_bucket("mimicdb-tests")
    # A synced entry is completed by one HEAD to S3 on its first read; after that, the
    # index alone answers.
    assert bucket.get_key("upload") is not None
    seeded.delete_key("upload")
    assert bucket.get_key("upload") is not None
    assert bucket.get_key("upload", force=True) is None
    assert bucket.get_key("upload") is None


def test_get_key_answers_from_the_index(conn: Any, mimic: MimicDB, seeded: Any) -> None:
    put(seeded, "meta", "data", headers={"Content-Type": "text/csv", "x-amz-meta-a": "1"})
    conn.sync()
    bucket = conn.get_bucket("mimicdb-tests")
    bucket.get_key("meta")  # the first read completes the listing's entry with one HEAD
    before = upstream_requests(mimic)
    key = bucket.get_key("meta")
    assert upstream_requests(mimic) == before
    assert key.content_type == "text/csv"
    assert key.metadata == {"a": "1"}
    assert key.last_modified is not None and key.last_modified.endswith("GMT")
    assert "meta" in bucket and "nope" not in bucket


def test_key_name_assignment(conn: Any, seeded: Any) -> None:
    conn.sync()
    bucket = conn.get_bucket("mimicdb-tests")
    key = Key(bucket)
    assert key.key is None
    key.key = "upload"
    assert key.key == "upload" and key.name == "upload"


# Writes, mirrored


def test_upload_is_recorded_with_size_and_md5(conn: Any, seeded: Any) -> None:
    conn.sync()
    bucket = conn.get_bucket("mimicdb-tests")
    key = Key(bucket)
    key.key = "track"
    key.set_contents_from_string("track")
    assert key.md5 == md5("track") and isinstance(key.md5, str)
    found = bucket.get_key("track")
    assert (found.size, found.md5) == (5, md5("track"))
    assert "track" in [k.name for k in bucket.list()]


def test_upload_with_the_name_given_at_init(conn: Any, seeded: Any) -> None:
    conn.sync()
    bucket = conn.get_bucket("mimicdb-tests")
    Key(bucket, "track").set_contents_from_string("track")
    assert bucket.get_key("track").size == 5


def test_download_of_an_indexed_key(conn: Any, seeded: Any) -> None:
    conn.sync()
    key = conn.get_bucket("mimicdb-tests").get_key("upload")
    assert key.get_contents_as_string() == b"upload"


def test_download_of_a_key_the_index_lacks_is_404(conn: Any, seeded: Any) -> None:
    conn.sync()
    put(seeded, "download", "download")
    key = Key(conn.get_bucket("mimicdb-tests"), "download")
    with pytest.raises(S3ResponseError) as raised:
        key.get_contents_as_string()
    assert raised.value.status == 404


def test_delete_key(conn: Any, s3: Any, seeded: Any) -> None:
    conn.sync()
    bucket = conn.get_bucket("mimicdb-tests")
    bucket.delete_key("upload")
    assert bucket.get_key("upload") is None
    assert s3.get_bucket("mimicdb-tests").get_key("upload") is None


def test_key_delete(conn: Any, s3: Any, seeded: Any) -> None:
    conn.sync()
    conn.get_bucket("mimicdb-tests").get_key("upload").delete()
    assert conn.get_bucket("mimicdb-tests").get_key("upload") is None
    assert s3.get_bucket("mimicdb-tests").get_key("upload") is None
