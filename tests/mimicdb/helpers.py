"""Helpers for the mimicdb tests: plain boto 2 connections, the embedded proxy's counters."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from boto.s3.connection import OrdinaryCallingFormat
from boto.s3.connection import S3Connection as BotoS3Connection

from mimicdb import MimicDB
from tests.fixtures.proxy_server import client_for

__all__ = ["plain_connection", "put", "seed_keys", "upstream_requests"]


def plain_connection(url: str) -> Any:
    """boto 2's own S3Connection to moto at `url` (http://host:port), path-style.

    moto picks the service by reading the Authorization header as if it were Signature
    V4, split on '/': a V2 header whose base64 signature has exactly four '/' names no
    service (a 500, about once in 1,400 requests). An access key with more '/' than
    that keeps every V2 header unlike V4, so moto falls back to S3; it checks no
    signature. (The proxy's own requests to moto are V4.)
    """
    host, port = url.removeprefix("http://").split(":")
    return BotoS3Connection(
        "not/a/sigv4/credential/scope/at/all",
        "testing",
        host=host,
        port=int(port),
        is_secure=False,
        calling_format=OrdinaryCallingFormat(),
    )


def put(bucket: Any, name: str, data: str | bytes, **kwargs: Any) -> Any:
    """Upload one key with boto 2 and return it."""
    key = bucket.new_key(name)
    key.set_contents_from_string(data, **kwargs)
    return key


def upstream_requests(db: MimicDB) -> int:
    """How many requests the MimicDB's embedded proxy has sent to S3 so far."""
    assert db.proxy is not None, "no connection has started the proxy yet"
    return db.proxy.context.upstream.requests_sent


def seed_keys(url: str, bucket: str, names: list[str], data: bytes = b"x") -> None:
    """Many keys straight into the upstream with boto3, a few at a time (set-up only)."""
    client = client_for(url)
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda name: client.put_object(Bucket=bucket, Key=name, Body=data), names))
