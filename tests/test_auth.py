"""Client authentication through a running proxy: hand-made requests, one thing tampered at a time.

Each request is signed by botocore (or, for aws-chunked bodies, by tests/signing.py,
checked against AWS's values in test_sigv4.py), accepted as signed, then changed in
one thing and sent again: it must be refused with S3's error code, in an `<Error>`
document, and a refused write must leave nothing upstream and nothing in the index.
Real clients (boto3, the AWS CLI, boto 2, MinIO, s3cmd) are in test_auth_clients.py.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from proxy.embedded import EmbeddedProxy
from tests.signing import (
    Answer,
    Wire,
    chunked_body,
    presign_v2,
    presign_v4,
    seed_signature,
    send,
    sign_v2,
    sign_v4,
)

BUCKET = "auth-bucket"
STREAMING = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"



@pytest.fixture
def proxy(make_proxy: Callable[..., EmbeddedProxy]) -> EmbeddedProxy:
    """A proxy whose index holds BUCKET (created through it)."""
    running = make_proxy("memory")
    assert send(running.url, sign_v4("PUT", f"{running.url}/{BUCKET}")).status == 200
    return running


def upstream_keys(moto: Any) -> list[str]:
    """The keys the upstream holds in BUCKET."""
    return [item["Key"] for item in moto.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def index_keys(proxy: EmbeddedProxy) -> list[str]:
    """The keys the proxy's index holds in BUCKET."""
    records = proxy.call(proxy.context.backend.scan(BUCKET, b"", None, 1000))
    return [record.key for record in records]


def refused(answer: Answer, status: int, code: str) -> None:
    """An S3 `<Error>` with this status and code."""
    assert (answer.status, answer.code) == (status, code), answer.body[:300]
    assert answer.body.startswith(b"<?xml")
    assert b"Traceback" not in answer.body


def nothing_written(proxy: EmbeddedProxy, moto: Any) -> None:
    assert upstream_keys(moto) == []
    assert index_keys(proxy) == []


# Signature V4 in the Authorization header


def put_wire(proxy: EmbeddedProxy, key: str = "obj", body: bytes = b"hello world") -> Wire:
    return sign_v4(
        "PUT", f"{proxy.url}/{BUCKET}/{key}", {"x-amz-meta-color": "blue"}, body
    )  # fmt: skip


def test_signed_put_is_accepted_and_recorded(proxy: EmbeddedProxy, moto: Any) -> None:
    assert send(proxy.url, put_wire(proxy)).status == 200
    assert upstream_keys(moto) == index_keys(proxy) == ["obj"]


TAMPER_PUT: dict[str, tuple[Callable[[Wire], Wire], int, str]] = {
    "a signed header": (lambda w: w.with_header("x-amz-meta-color", "red"),
                        403, "SignatureDoesNotMatch"),
    "the path": (lambda w: replace(w, target=w.target.replace("/obj", "/obk")),
                 403, "SignatureDoesNotMatch"),
    "a query parameter added": (lambda w: replace(w, target=w.target + "?tagging"),
                                403, "SignatureDoesNotMatch"),
    "the body": (lambda w: replace(w, body=b"hello worle"), 400, "XAmzContentSHA256Mismatch"),
    "the body's length": (lambda w: replace(w, body=b"hello world!").with_header(
        "Content-Length", "12"), 400, "XAmzContentSHA256Mismatch"),
    "the date": (lambda w: w.with_header("X-Amz-Date", _plus_one_second(w.header("X-Amz-Date"))),
                 403, "SignatureDoesNotMatch"),
    "the signature": (lambda w: w.with_header("Authorization", w.header("Authorization")[:-4]
                                              + "0000"), 403, "SignatureDoesNotMatch"),
    "the access key": (lambda w: w.with_header("Authorization", w.header("Authorization").replace(
        "Credential=testing/", "Credential=someone/")), 403, "InvalidAccessKeyId"),
    "an unsigned x-amz header added": (lambda w: w.with_header("x-amz-acl", "public-read"),
                                       403, "AccessDenied"),
    "the method": (lambda w: replace(w, method="POST"), 403, "SignatureDoesNotMatch"),
    "the Authorization header removed": (lambda w: w.with_header("Authorization", None),
                                         403, "AccessDenied"),
    "a malformed Authorization header": (lambda w: w.with_header(
        "Authorization", w.header("Authorization").split(", Signature")[0]),
        400, "AuthorizationHeaderMalformed"),
}  # fmt: skip


def _plus_one_second(amz_date: str) -> str:
    moment = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ") + timedelta(seconds=1)
    return moment.strftime("%Y%m%dT%H%M%SZ")


@pytest.mark.parametrize("what", sorted(TAMPER_PUT))
def test_tampered_put_is_refused_and_writes_nothing(
    proxy: EmbeddedProxy, moto: Any, what: str
) -> None:
    tamper, status, code = TAMPER_PUT[what]
    refused(send(proxy.url, tamper(put_wire(proxy))), status, code)
    nothing_written(proxy, moto)


def test_wrong_secret_is_signature_does_not_match(proxy: EmbeddedProxy, moto: Any) -> None:
    wire = sign_v4("PUT", f"{proxy.url}/{BUCKET}/obj", body=b"x", secret="not-the-secret")
    refused(send(proxy.url, wire), 403, "SignatureDoesNotMatch")
    nothing_written(proxy, moto)


def test_skewed_clock_is_refused(proxy: EmbeddedProxy, moto: Any) -> None:
    past = datetime.now(UTC) - timedelta(minutes=20)
    refused(send(proxy.url, sign_v4("GET", f"{proxy.url}/{BUCKET}", when=past)),
            403, "RequestTimeTooSkewed")  # fmt: skip
    future = datetime.now(UTC) + timedelta(minutes=20)
    wire = sign_v4("PUT", f"{proxy.url}/{BUCKET}/obj", body=b"x", when=future)
    refused(send(proxy.url, wire), 403, "RequestTimeTooSkewed")
    nothing_written(proxy, moto)


def test_tampered_query_of_an_index_listing_is_refused(proxy: EmbeddedProxy) -> None:
    wire = sign_v4("GET", f"{proxy.url}/{BUCKET}?list-type=2&prefix=a")
    assert send(proxy.url, wire).status == 200
    tampered = replace(wire, target=wire.target.replace("prefix=a", "prefix=b"))
    refused(send(proxy.url, tampered), 403, "SignatureDoesNotMatch")


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/"),
        ("GET", f"/{BUCKET}"),
        ("GET", f"/{BUCKET}?list-type=2"),
        ("HEAD", f"/{BUCKET}"),
        ("GET", f"/{BUCKET}?location"),
        ("GET", f"/{BUCKET}/obj"),
        ("GET", "/_mimicdb/stats"),
        ("GET", "/_mimicdb/health"),
        ("POST", "/_mimicdb/sync"),
        ("PUT", f"/{BUCKET}/obj"),
        ("DELETE", f"/{BUCKET}"),
    ],
)
def test_unsigned_requests_are_refused_everywhere(
    proxy: EmbeddedProxy, moto: Any, method: str, path: str
) -> None:
    """Index answers and the admin API too: nothing is answered to an unsigned request."""
    host = proxy.url.removeprefix("http://")
    answer = send(proxy.url, Wire(method, path, {"Host": host}, b"x" if method == "PUT" else b""))
    assert answer.status == 403
    if method != "HEAD":
        refused(answer, 403, "AccessDenied")
    nothing_written(proxy, moto)
    assert [b["Name"] for b in moto.list_buckets()["Buckets"]] == [BUCKET]


def test_signed_admin_request_is_answered(proxy: EmbeddedProxy) -> None:
    assert send(proxy.url, sign_v4("GET", f"{proxy.url}/_mimicdb/stats")).status == 200


# aws-chunked uploads


def chunked_put(
    proxy: EmbeddedProxy,
    chunks: list[bytes],
    *,
    mode: str = STREAMING,
    trailer: tuple[str, str] | None = None,
    key: str = "streamed",
) -> tuple[Wire, str]:
    """A streaming PUT, signed; returns the wire (body set) and its x-amz-date."""
    headers = {
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(sum(len(c) for c in chunks)),
    }
    if trailer is not None:
        headers["x-amz-trailer"] = trailer[0]
    wire = sign_v4("PUT", f"{proxy.url}/{BUCKET}/{key}", headers, content_sha256=mode)
    amz_date = wire.header("X-Amz-Date")
    seed = None if mode == UNSIGNED_TRAILER else seed_signature(wire)
    body = chunked_body(
        chunks, seed=seed, amz_date=amz_date, trailer=trailer,
        sign_trailer=mode == STREAMING_TRAILER,
    )  # fmt: skip
    return with_body(wire, body), amz_date


def crc32(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


CHUNKS = [b"a" * 8192, b"b" * 8192, b"c" * 100]


def test_signed_chunked_upload_is_decoded_and_stored(proxy: EmbeddedProxy, moto: Any) -> None:
    wire, _ = chunked_put(proxy, CHUNKS)
    assert send(proxy.url, wire).status == 200
    stored = moto.get_object(Bucket=BUCKET, Key="streamed")["Body"].read()
    assert stored == b"".join(CHUNKS)
    assert index_keys(proxy) == ["streamed"]


def with_body(wire: Wire, body: bytes) -> Wire:
    """The wire with another body, and the Content-Length that goes with it."""
    return replace(wire, body=body).with_header("Content-Length", str(len(body)))


def _flip(body: bytes, needle: bytes) -> bytes:
    index = body.index(needle)
    return body[:index] + bytes([needle[0] ^ 1]) + body[index + 1 :]


def _last_signature_broken(body: bytes) -> bytes:
    head, sep, tail = body.rpartition(b"0;chunk-signature=")
    return head + sep + (b"f" if tail[:1] != b"f" else b"e") + tail[1:]


TAMPER_CHUNKS: dict[str, Callable[[bytes], bytes]] = {
    "a byte of a chunk": lambda body: _flip(body, b"b" * 8192),
    "the final chunk's signature": _last_signature_broken,
    "two chunks swapped": lambda body: body.replace(b"a" * 8192, b"@" * 8192).replace(
        b"b" * 8192, b"a" * 8192).replace(b"@" * 8192, b"b" * 8192),
    "a chunk signature removed": lambda body: body.replace(b";chunk-signature=", b";x=", 1),
}  # fmt: skip


@pytest.mark.parametrize("what", sorted(TAMPER_CHUNKS))
def test_tampered_chunk_is_refused_and_nothing_is_committed(
    proxy: EmbeddedProxy, moto: Any, what: str
) -> None:
    wire, _ = chunked_put(proxy, CHUNKS)
    refused(send(proxy.url, with_body(wire, TAMPER_CHUNKS[what](wire.body))),
            403, "SignatureDoesNotMatch")  # fmt: skip
    nothing_written(proxy, moto)


def test_empty_chunked_upload_with_a_bad_signature_commits_nothing(
    proxy: EmbeddedProxy, moto: Any
) -> None:
    """No bytes to hold back: the empty body is checked before anything goes upstream."""
    wire, _ = chunked_put(proxy, [])
    refused(send(proxy.url, with_body(wire, _last_signature_broken(wire.body))),
            403, "SignatureDoesNotMatch")  # fmt: skip
    nothing_written(proxy, moto)
    assert send(proxy.url, wire).status == 200
    assert upstream_keys(moto) == ["streamed"]


def test_signed_trailer_is_verified(proxy: EmbeddedProxy, moto: Any) -> None:
    data = b"".join(CHUNKS)
    trailer = ("x-amz-checksum-crc32", crc32(data))
    wire, _ = chunked_put(proxy, CHUNKS, mode=STREAMING_TRAILER, trailer=trailer)
    for tampered in (
        wire.body.replace(trailer[1].encode(), crc32(b"other").encode()),
        _flip(wire.body, b"x-amz-trailer-signature:") ,
    ):
        bad = with_body(wire, tampered)
        refused(send(proxy.url, bad), 403, "SignatureDoesNotMatch")
        nothing_written(proxy, moto)
    assert send(proxy.url, wire).status == 200
    assert moto.get_object(Bucket=BUCKET, Key="streamed")["Body"].read() == data


def test_unsigned_payload_trailer_checksum_is_verified(proxy: EmbeddedProxy, moto: Any) -> None:
    """STREAMING-UNSIGNED-PAYLOAD-TRAILER: the checksum trailer is what guards the data."""
    data = b"".join(CHUNKS)
    wire, _ = chunked_put(proxy, CHUNKS, mode=UNSIGNED_TRAILER,
                          trailer=("x-amz-checksum-crc32", crc32(data)))  # fmt: skip
    refused(send(proxy.url, with_body(wire, _flip(wire.body, b"c" * 100))), 400, "BadDigest")
    nothing_written(proxy, moto)
    no_trailer = wire.body.replace(f"x-amz-checksum-crc32:{crc32(data)}\r\n".encode(), b"")
    refused(send(proxy.url, with_body(wire, no_trailer)), 400, "MalformedTrailerError")
    nothing_written(proxy, moto)
    assert send(proxy.url, wire).status == 200
    assert moto.get_object(Bucket=BUCKET, Key="streamed")["Body"].read() == data


# Presigned URLs


def test_presigned_v4_get_and_put(proxy: EmbeddedProxy, moto: Any) -> None:
    put = presign_v4("PUT", f"{proxy.url}/{BUCKET}/pre")
    assert send(proxy.url, replace(put, body=b"presigned body")).status == 200
    get = presign_v4("GET", f"{proxy.url}/{BUCKET}/pre")
    answer = send(proxy.url, get)
    assert (answer.status, answer.body) == (200, b"presigned body")
    refused(send(proxy.url, replace(get, target=get.target.replace("/pre?", "/prf?"))),
            403, "SignatureDoesNotMatch")  # fmt: skip
    other = get.target.replace("X-Amz-Expires=300", "X-Amz-Expires=301")
    refused(send(proxy.url, replace(get, target=other)), 403, "SignatureDoesNotMatch")


def test_expired_presigned_v4_is_refused(proxy: EmbeddedProxy, moto: Any) -> None:
    earlier = datetime.now(UTC) - timedelta(hours=2)
    put = presign_v4("PUT", f"{proxy.url}/{BUCKET}/late", expires=3600, when=earlier)
    answer = send(proxy.url, replace(put, body=b"too late"))
    refused(answer, 403, "AccessDenied")
    assert b"Request has expired" in answer.body
    nothing_written(proxy, moto)


# Signature V2


def test_v2_requests_and_tampering(proxy: EmbeddedProxy, moto: Any) -> None:
    url = f"{proxy.url}/{BUCKET}/v2"
    put = sign_v2("PUT", url, {"Content-Type": "text/plain", "x-amz-meta-a": "1"}, b"v2 body")
    for tampered, code in (
        (put.with_header("Content-Type", "text/html"), "SignatureDoesNotMatch"),
        (put.with_header("x-amz-meta-a", "2"), "SignatureDoesNotMatch"),
        (replace(put, target=put.target + "?acl"), "SignatureDoesNotMatch"),
        (sign_v2("PUT", url, body=b"x", secret="wrong"), "SignatureDoesNotMatch"),
        (sign_v2("PUT", url, body=b"x", key="nobody"), "InvalidAccessKeyId"),
        (sign_v2("PUT", url, body=b"x", when=datetime.now(UTC) - timedelta(minutes=20)),
         "RequestTimeTooSkewed"),
    ):  # fmt: skip
        refused(send(proxy.url, tampered), 403, code)
        nothing_written(proxy, moto)
    assert send(proxy.url, put).status == 200
    answer = send(proxy.url, sign_v2("GET", url))
    assert (answer.status, answer.body) == (200, b"v2 body")


def test_v2_presigned(proxy: EmbeddedProxy) -> None:
    url = f"{proxy.url}/{BUCKET}/v2"
    assert send(proxy.url, sign_v2("PUT", url, body=b"data")).status == 200
    later = int((datetime.now(UTC) + timedelta(minutes=5)).timestamp())
    get = presign_v2("GET", url, expires_at=later)
    assert send(proxy.url, get).body == b"data"
    earlier = int((datetime.now(UTC) - timedelta(seconds=5)).timestamp())
    answer = send(proxy.url, presign_v2("GET", url, expires_at=earlier))
    refused(answer, 403, "AccessDenied")
    assert b"Request has expired" in answer.body
    refused(send(proxy.url, replace(get, target=get.target.replace("/v2?", "/v3?"))),
            403, "SignatureDoesNotMatch")  # fmt: skip


# Virtual-host addressing


def test_virtual_host_addressing_v4_and_v2(
    make_proxy: Callable[..., EmbeddedProxy], moto: Any
) -> None:
    running = make_proxy("memory", domain="s3.test")
    assert send(running.url, sign_v4("PUT", f"{running.url}/{BUCKET}")).status == 200
    virtual = f"http://{BUCKET}.s3.test:{running.port}"
    assert send(running.url, sign_v4("PUT", f"{virtual}/vh", body=b"vh body")).status == 200
    answer = send(running.url, sign_v4("GET", f"{virtual}/vh"))
    assert (answer.status, answer.body) == (200, b"vh body")
    v2 = sign_v2("GET", f"{virtual}/vh", auth_path=f"/{BUCKET}/vh")
    assert send(running.url, v2).body == b"vh body"
    # The same signatures, sent to another bucket's host, sign something else.
    elsewhere = f"other.s3.test:{running.port}"
    refused(send(running.url, sign_v4("GET", f"{virtual}/vh").with_header("Host", elsewhere)),
            403, "SignatureDoesNotMatch")  # fmt: skip
    refused(send(running.url, v2.with_header("Host", elsewhere)), 403, "SignatureDoesNotMatch")
