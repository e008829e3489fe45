"""Writes through mimicdb are mirrored into the index: uploads, deletes, copies, multipart.

After each write the index answers as S3 now would, with no sync and no forced read;
`s3` (plain boto 2, straight to the upstream) checks that S3 got the write too.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import pytest
from boto.exception import S3ResponseError

from mimicdb import MimicDB
from mimicdb.s3.key import Key

from .helpers import upstream_requests

PART = 5 * 1024 * 1024  # S3's smallest part but the last


@pytest.fixture
def bucket(conn: Any) -> Any:
    """A bucket made through mimicdb, so the index knows it (empty)."""
    return conn.create_bucket("writes")


def names(bucket: Any) -> list[str]:
    return [key.name for key in bucket.list()]


def test_set_contents_from_file_and_filename(bucket: Any, tmp_path: Path) -> None:
    Key(bucket, "from-file").set_contents_from_file(io.BytesIO(b"file data"))
    path = tmp_path / "upload.txt"
    path.write_bytes(b"filename data!")
    Key(bucket, "from-filename").set_contents_from_filename(str(path))
    assert names(bucket) == ["from-file", "from-filename"]
    found = bucket.get_key("from-filename")
    assert found.size == 14
    assert found.md5 == hashlib.md5(b"filename data!").hexdigest()
    assert found.content_type == "text/plain"  # boto guesses it from the file name


def test_overwrite_updates_the_entry(bucket: Any, mimic: MimicDB) -> None:
    key = Key(bucket, "k")
    key.set_contents_from_string("first")
    key.set_contents_from_string("second, longer", headers={"x-amz-meta-v": "2"})
    before = upstream_requests(mimic)
    found = bucket.get_key("k")
    assert upstream_requests(mimic) == before
    assert (found.size, found.metadata) == (14, {"v": "2"})
    assert found.md5 == hashlib.md5(b"second, longer").hexdigest() == key.md5


def test_delete_keys_by_name_key_and_generator(bucket: Any, s3: Any) -> None:
    for name in ["a", "b", "c", "d", "e", "f"]:
        Key(bucket, name).set_contents_from_string(name)
    result = bucket.delete_keys(["a", "b"])
    assert sorted(d.key for d in result.deleted) == ["a", "b"] and not result.errors
    bucket.delete_keys([bucket.get_key("c")])
    assert names(bucket) == ["d", "e", "f"]
    bucket.delete_keys(bucket.list())  # a generator, as the seed's users wrote it
    assert names(bucket) == []
    assert list(s3.get_bucket("writes").list()) == []


def test_delete_keys_past_1000_in_one_call(bucket: Any, s3: Any) -> None:
    # boto sends 1,000 per request; the index follows each request's result.
    keys = [f"k{i:04d}" for i in range(1003)]
    for name in keys[:3] + keys[-3:]:
        Key(bucket, name).set_contents_from_string("x")
    result = bucket.delete_keys(keys)
    assert len(result.deleted) == 1003 and not result.errors
    assert names(bucket) == []
    assert list(s3.get_bucket("writes").list()) == []


def test_copy_key_within_and_across_buckets(bucket: Any, conn: Any, mimic: MimicDB) -> None:
    Key(bucket, "src").set_contents_from_string("copied", headers={"x-amz-meta-m": "1"})
    bucket.copy_key("dst", "writes", "src")
    other = conn.create_bucket("writes-other")
    other.copy_key("elsewhere", "writes", "src", metadata={"m": "2"})
    before = upstream_requests(mimic)
    copied = bucket.get_key("dst")
    assert (copied.size, copied.md5, copied.metadata) == (6, bucket.get_key("src").md5, {"m": "1"})
    assert other.get_key("elsewhere").metadata == {"m": "2"}
    assert names(other) == ["elsewhere"]
    assert upstream_requests(mimic) == before


def test_copy_of_a_missing_source_is_not_recorded(bucket: Any) -> None:
    with pytest.raises(S3ResponseError):
        bucket.copy_key("dst", "writes", "never-there")
    assert bucket.get_key("dst") is None


def test_multipart_upload_is_recorded_on_completion(bucket: Any, s3: Any) -> None:
    upload = bucket.initiate_multipart_upload("big", metadata={"kind": "parts"})
    upload.upload_part_from_file(io.BytesIO(b"a" * PART), 1)
    upload.upload_part_from_file(io.BytesIO(b"b" * 10), 2)
    assert bucket.get_key("big") is None  # nothing is recorded before completion
    assert names(bucket) == []
    completed = upload.complete_upload()
    key = bucket.get_key("big")
    assert key.size == PART + 10
    assert key.etag == completed.etag == s3.get_bucket("writes").get_key("big").etag
    assert key.etag.endswith('-2"') and key.md5 is None  # a multipart ETag is no MD5
    assert key.metadata == {"kind": "parts"}
    assert names(bucket) == ["big"]


def test_aborted_multipart_upload_is_not_recorded(bucket: Any) -> None:
    upload = bucket.initiate_multipart_upload("abandoned")
    upload.upload_part_from_file(io.BytesIO(b"x" * 10), 1)
    upload.cancel_upload()
    assert bucket.get_key("abandoned") is None
    assert names(bucket) == []


def test_writes_to_a_bucket_the_index_lacks_stay_unknown(conn: Any, s3: Any) -> None:
    # The seed's rule: a bucket the index does not hold does not exist until synced.
    s3.create_bucket("unsynced")
    bucket = conn.get_bucket("unsynced", validate=False)
    Key(bucket, "k").set_contents_from_string("x")
    assert s3.get_bucket("unsynced").get_key("k") is not None
    assert bucket.get_key("k") is None
    bucket.sync()
    assert bucket.get_key("k").size == 1
