"""boto3 with its default settings (checksums on) through the proxy, over every index backend."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from proxy.embedded import EmbeddedProxy

from ..fixtures.proxy_server import client_for
from ..fixtures.s3_server import MotoUpstream
from ..s3http import s3_request
from .conftest import ACCESS_KEY, BUCKET, REGION, SECRET_KEY, SEEDED, Stack


def proxy_client(url: str) -> Any:
    """What the README tells people to write: only the endpoint, key pair and region."""
    return boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
    )


def test_list_head_get_after_sync(stack: Stack) -> None:
    s3 = proxy_client(stack.url)
    assert BUCKET in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=BUCKET, PaginationConfig={"PageSize": 2}
    )
    assert [o["Key"] for page in pages for o in page["Contents"]] == sorted(SEEDED)
    head = s3.head_object(Bucket=BUCKET, Key="data/a.csv")
    assert head["ContentLength"] == len(SEEDED["data/a.csv"])
    body = s3.get_object(Bucket=BUCKET, Key="data/a.csv")["Body"].read()
    assert body == SEEDED["data/a.csv"]
    assert stack.answered_from_index("ListObjectsV2") == 3


@pytest.mark.parametrize("backend", ["memory", "sqlite", "redis"])
def test_writes_are_mirrored_on_every_backend(
    make_proxy: Callable[..., EmbeddedProxy],
    s3_upstream: MotoUpstream,
    backend: str,
    tmp_path: Path,
) -> None:
    proxy = make_proxy(backend)
    s3 = proxy_client(proxy.url)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="one.txt", Body=b"1")
    s3.copy_object(Bucket=BUCKET, Key="two.txt", CopySource={"Bucket": BUCKET, "Key": "one.txt"})
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(6 * 1024 * 1024))
    # upload_file in 5 MiB parts: a multipart upload, mirrored when it completes
    s3.upload_file(
        str(big), BUCKET, "big.bin", Config=TransferConfig(multipart_threshold=5 * 1024 * 1024)
    )
    listing = s3.list_objects_v2(Bucket=BUCKET)["Contents"]
    assert {o["Key"]: o["Size"] for o in listing} == {
        "big.bin": big.stat().st_size,
        "one.txt": 1,
        "two.txt": 1,
    }
    back = tmp_path / "back.bin"
    s3.download_file(BUCKET, "big.bin", str(back))
    assert back.read_bytes() == big.read_bytes()
    s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "one.txt"}, {"Key": "two.txt"}]})
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == ["big.bin"]
    upstream = client_for(s3_upstream.url).list_objects_v2(Bucket=BUCKET)["Contents"]
    assert [o["Key"] for o in upstream] == ["big.bin"]


def test_presigned_get_url(stack: Stack) -> None:
    s3 = proxy_client(stack.url)
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": "readme.txt"}, ExpiresIn=300
    )
    response = requests.get(url, timeout=30)
    assert response.status_code == 200
    assert response.content == SEEDED["readme.txt"]


def test_missing_things_are_s3_errors(stack: Stack) -> None:
    s3 = proxy_client(stack.url)
    with pytest.raises(ClientError) as no_key:
        s3.get_object(Bucket=BUCKET, Key="nope")
    assert no_key.value.response["Error"]["Code"] == "NoSuchKey"
    with pytest.raises(ClientError) as no_bucket:
        s3.list_objects_v2(Bucket="not-a-bucket-here")
    assert no_bucket.value.response["Error"]["Code"] == "NoSuchBucket"
    # both answered locally: no request reached the upstream for them
    stats = s3_request("GET", stack.url, "/_mimicdb/stats").json()
    assert stats["errors"] == {"NoSuchBucket": 1, "NoSuchKey": 1}
