"""Pure helpers of mimicdb.s3, with literal inputs and outputs."""

from __future__ import annotations

import pytest

from mimicdb.s3 import with_force
from mimicdb.s3.connection import region_of, upstream_url
from mimicdb.s3.key import md5_from_etag


@pytest.mark.parametrize(
    ("host", "port", "secure", "path", "env", "url"),
    [
        (None, None, True, "/", {}, "https://s3.amazonaws.com"),
        (
            None,
            None,
            True,
            "/",
            {"MIMICDB_UPSTREAM": "http://127.0.0.1:9000/"},
            "http://127.0.0.1:9000",
        ),
        ("minio.local", 9000, False, "/", {"MIMICDB_UPSTREAM": "x"}, "http://minio.local:9000"),
        ("s3.eu-west-1.amazonaws.com", None, True, "/", {}, "https://s3.eu-west-1.amazonaws.com"),
        ("gw", 8443, True, "/s3/", {}, "https://gw:8443/s3"),
    ],
)
def test_upstream_url(
    host: str | None, port: int | None, secure: bool, path: str, env: dict[str, str], url: str
) -> None:
    assert upstream_url(host, port, secure, path, env) == url


def test_upstream_url_without_host_prefers_the_environment_to_boto_config() -> None:
    env = {"MIMICDB_UPSTREAM": "http://127.0.0.1:9000"}
    assert upstream_url(None, None, True, "/", env, "s3.example") == "http://127.0.0.1:9000"
    assert upstream_url(None, None, False, "/", {}, "s3.example") == "http://s3.example"
    assert upstream_url("given", None, False, "/", env, "s3.example") == "http://given"


@pytest.mark.parametrize(
    ("url", "env", "region"),
    [
        ("https://s3.amazonaws.com", {}, "us-east-1"),
        ("https://s3.eu-west-1.amazonaws.com", {}, "eu-west-1"),
        ("https://s3-ap-southeast-2.amazonaws.com", {}, "ap-southeast-2"),
        ("https://s3.dualstack.us-west-2.amazonaws.com", {}, "us-west-2"),
        ("https://s3.cn-north-1.amazonaws.com.cn", {}, "cn-north-1"),
        ("https://s3.us-gov-west-1.amazonaws.com", {}, "us-gov-west-1"),
        ("http://127.0.0.1:9000", {"AWS_DEFAULT_REGION": "eu-central-1"}, "eu-central-1"),
        ("http://127.0.0.1:9000", {"MIMICDB_REGION": "x-1", "AWS_REGION": "y-1"}, "x-1"),
    ],
)
def test_region_of(url: str, env: dict[str, str], region: str) -> None:
    assert region_of(url, env) == region


@pytest.mark.parametrize(
    ("etag", "encryption", "md5"),
    [
        ('"76ee3de97a1b8b903319b7c013d8c877"', None, "76ee3de97a1b8b903319b7c013d8c877"),
        ('"76EE3DE97A1B8B903319B7C013D8C877"', "AES256", "76ee3de97a1b8b903319b7c013d8c877"),
        ('"76ee3de97a1b8b903319b7c013d8c877"', "aws:kms", None),
        ('"9b2cf535f27731c974343645a3985328-2"', None, None),
        (None, None, None),
        ("", None, None),
    ],
)
def test_md5_from_etag(etag: str | None, encryption: str | None, md5: str | None) -> None:
    assert md5_from_etag(etag, encryption) == md5


def test_with_force_adds_the_proxy_force_request_and_keeps_the_callers_dict() -> None:
    headers = {"x-amz-meta-a": "1"}
    assert with_force(headers, True) == {"x-amz-meta-a": "1", "Cache-Control": "no-cache"}
    assert headers == {"x-amz-meta-a": "1"}
    assert with_force(None, True) == {"Cache-Control": "no-cache"}
    assert with_force(None, False) is None
    assert with_force(headers, None) == headers
