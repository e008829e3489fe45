"""The MinIO Python SDK through the proxy: list, stat, get, put (single and multipart), remove."""

from __future__ import annotations

import io
import os
from urllib.parse import urlsplit

import pytest
from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import S3Error

from .conftest import ACCESS_KEY, BUCKET, REGION, SECRET_KEY, SEEDED, Stack


def minio_client(url: str) -> Minio:
    """MinIO takes host:port, not a URL; region given, so it never asks for a bucket's."""
    return Minio(
        urlsplit(url).netloc,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        secure=False,
        region=REGION,
    )


def test_list_stat_get_after_sync(stack: Stack) -> None:
    client = minio_client(stack.url)
    assert BUCKET in [b.name for b in client.list_buckets()]
    assert client.bucket_exists(BUCKET)
    recursive = [o.object_name for o in client.list_objects(BUCKET, recursive=True)]
    assert recursive == sorted(SEEDED)
    # the SDK yields a page's keys before its common prefixes
    top = [(o.object_name, o.is_dir) for o in client.list_objects(BUCKET)]
    assert sorted(top) == [("data/", True), ("logs/", True), ("readme.txt", False)]
    stat = client.stat_object(BUCKET, "data/nested/c.json")
    assert stat.size == len(SEEDED["data/nested/c.json"])
    response = client.get_object(BUCKET, "data/nested/c.json")
    try:
        assert response.read() == SEEDED["data/nested/c.json"]
    finally:
        response.close()
        response.release_conn()
    assert stack.answered_from_index("ListObjectsV2") >= 2


def test_put_multipart_and_remove(stack: Stack) -> None:
    client = minio_client(stack.url)
    client.put_object(BUCKET, "minio/small.txt", io.BytesIO(b"from minio"), length=10)
    # unknown length, 5 MiB parts: the SDK goes multipart (it sends ?uploads=)
    payload = os.urandom(6 * 1024 * 1024)
    client.put_object(
        BUCKET, "minio/big.bin", io.BytesIO(payload), length=-1, part_size=5 * 1024 * 1024
    )
    assert stack.proxy.context.requests[("CompleteMultipartUpload", "upstream")] == 1
    listed = {o.object_name: o.size for o in client.list_objects(BUCKET, prefix="minio/")}
    assert listed == {"minio/big.bin": len(payload), "minio/small.txt": 10}
    response = client.get_object(BUCKET, "minio/big.bin")
    try:
        assert response.read() == payload
    finally:
        response.close()
        response.release_conn()
    client.remove_object(BUCKET, "minio/small.txt")
    errors = list(
        client.remove_objects(BUCKET, [DeleteObject("minio/big.bin"), DeleteObject("readme.txt")])
    )
    assert errors == []
    assert [o.object_name for o in client.list_objects(BUCKET, prefix="minio/")] == []
    assert "readme.txt" not in stack.upstream_keys()
    with pytest.raises(S3Error) as missing:
        client.stat_object(BUCKET, "readme.txt")
    assert missing.value.code == "NoSuchKey"
