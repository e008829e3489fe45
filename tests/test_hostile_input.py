"""Bad input is harmless: hostile XML, S3's limits, bodies cut short or of the wrong length.

Every request here is signed by the right key (so it reaches the code behind the
authentication) and must be answered with S3's error, never a 500 or a traceback,
leaving the upstream and the index as they were.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from proxy.embedded import EmbeddedProxy
from proxy.errors import S3Error
from proxy.validation import check_method
from proxy.xmlbody import xml_root
from tests.signing import Answer, Wire, chunked_body, seed_signature, send, sign_v4

BUCKET = "hostile"



@pytest.fixture
def proxy(make_proxy: Callable[..., EmbeddedProxy]) -> EmbeddedProxy:
    """A proxy whose index holds BUCKET with one key, `k`."""
    running = make_proxy("sqlite")
    assert send(running.url, sign_v4("PUT", f"{running.url}/{BUCKET}")).status == 200
    assert send(running.url, sign_v4("PUT", f"{running.url}/{BUCKET}/k", body=b"v")).status == 200
    return running


def snapshot(proxy: EmbeddedProxy, moto: Any) -> tuple[object, object]:
    """(upstream, index): buckets, their keys, ETags and tags, as each holds them."""
    upstream: dict[str, object] = {}
    for bucket in moto.list_buckets()["Buckets"]:
        contents = moto.list_objects_v2(Bucket=bucket["Name"]).get("Contents", [])
        upstream[bucket["Name"]] = sorted(
            (o["Key"], o["ETag"], str(moto.get_object_tagging(Bucket=bucket["Name"],
                                                              Key=o["Key"])["TagSet"]))
            for o in contents
        )  # fmt: skip
    backend = proxy.context.backend
    index = {
        b.name: sorted((r.key, r.etag) for r in proxy.call(backend.scan(b.name, b"", None, 2000)))
        for b in proxy.call(backend.list_buckets())
    }
    return upstream, index


def refused(answer: Answer, status: int, code: str) -> None:
    assert (answer.status, answer.code) == (status, code), answer.body[:300]
    assert b"Traceback" not in answer.body


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    """A named pipe: whoever opens it to read blocks, so reading it would hang the request."""
    path = tmp_path / "secret-pipe"
    os.mkfifo(path)
    return path


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A listening socket that counts who connects (nothing must)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.setblocking(False)
    yield server
    server.close()


def connections(server: socket.socket) -> int:
    count = 0
    while True:
        try:
            connection, _ = server.accept()
        except BlockingIOError:
            return count
        connection.close()
        count += 1


def xxe(root: str, inner: str, fifo: Path, port: int) -> bytes:
    """A document whose entities would read `fifo` and fetch from `port` if resolved."""
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE {root} [\n'
        f'  <!ENTITY file SYSTEM "file://{fifo}">\n'
        f'  <!ENTITY net SYSTEM "http://127.0.0.1:{port}/x">\n]>\n'
        f"<{root}>{inner}</{root}>"
    ).encode()


def billion_laughs(root: str) -> bytes:
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
    )
    return f'<?xml version="1.0"?><!DOCTYPE {root} [{entities}]><{root}>&lol9;</{root}>'.encode()


def _xml_requests(url: str, upload: str) -> dict[str, tuple[str, str, str, str]]:
    """name -> (method, url, root element, inner XML using &file; and &net;)."""
    tag = "<TagSet><Tag><Key>&file;</Key><Value>&net;</Value></Tag></TagSet>"
    return {
        "DeleteObjects": ("POST", f"{url}/{BUCKET}?delete", "Delete",
                          "<Object><Key>&file;</Key></Object><Object><Key>k</Key></Object>"),
        "CompleteMultipartUpload": ("POST", f"{url}/{BUCKET}/mp?uploadId={upload}",
                                    "CompleteMultipartUpload",
                                    "<Part><PartNumber>1</PartNumber><ETag>&net;</ETag></Part>"),
        "CreateBucketConfiguration": ("PUT", f"{url}/newbucket", "CreateBucketConfiguration",
                                      "<LocationConstraint>&file;</LocationConstraint>"),
        "PutObjectTagging": ("PUT", f"{url}/{BUCKET}/k?tagging", "Tagging", tag),
        "PutBucketTagging": ("PUT", f"{url}/{BUCKET}?tagging", "Tagging", tag),
    }  # fmt: skip


@pytest.mark.parametrize(
    "operation",
    ["DeleteObjects", "CompleteMultipartUpload", "CreateBucketConfiguration",
     "PutObjectTagging", "PutBucketTagging"],
)  # fmt: skip
@pytest.mark.parametrize("attack", ["xxe", "billion-laughs"])
def test_hostile_xml_is_malformed_and_reads_nothing(
    proxy: EmbeddedProxy, moto: Any, fifo: Path, listener: socket.socket,
    operation: str, attack: str,
) -> None:  # fmt: skip
    upload = moto.create_multipart_upload(Bucket=BUCKET, Key="mp")["UploadId"]
    moto.upload_part(Bucket=BUCKET, Key="mp", UploadId=upload, PartNumber=1, Body=b"part")
    before = snapshot(proxy, moto)
    method, url, root, inner = _xml_requests(proxy.url, upload)[operation]
    port = listener.getsockname()[1]
    body = xxe(root, inner, fifo, port) if attack == "xxe" else billion_laughs(root)
    answer = send(proxy.url, sign_v4(method, url, body=body), timeout=20)
    refused(answer, 400, "MalformedXML")
    assert connections(listener) == 0
    assert snapshot(proxy, moto) == before
    parts = moto.list_parts(Bucket=BUCKET, Key="mp", UploadId=upload)["Parts"]
    assert len(parts) == 1  # the upload was not completed


def test_well_formed_xml_still_passes(proxy: EmbeddedProxy, moto: Any) -> None:
    body = b"<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>"
    wire = sign_v4("PUT", f"{proxy.url}/{BUCKET}/k?tagging", body=body)
    assert send(proxy.url, wire).status == 200
    assert moto.get_object_tagging(Bucket=BUCKET, Key="k")["TagSet"] == [{"Key": "a", "Value": "b"}]


def test_xml_bodies_are_recognised() -> None:
    assert xml_root("POST", {"uploadId": "x"}) == "CompleteMultipartUpload"
    assert xml_root("POST", {"delete": ""}) == "Delete"
    assert xml_root("PUT", {"tagging": ""}) == "Tagging"
    assert xml_root("PUT", {"lifecycle": ""}) == "LifecycleConfiguration"
    assert xml_root("PUT", {"uploadId": "x", "partNumber": "1"}) is None  # a part: data
    assert xml_root("PUT", {"policy": ""}) is None  # JSON
    assert xml_root("PUT", {}) is None
    assert xml_root("GET", {"tagging": ""}) is None


@pytest.mark.parametrize(
    "body, headers, code",
    [
        (b"", {}, "MissingRequestBodyError"),
        (b"<Delete><Object><Key>k</Key></Object></Delete>", {}, "MalformedXML"),
        (b"<Tagging><TagSet>", {}, "MalformedXML"),
        (b"not xml at all", {}, "MalformedXML"),
    ],
)
def test_misplaced_or_missing_documents(
    proxy: EmbeddedProxy, moto: Any, body: bytes, headers: dict[str, str], code: str
) -> None:
    """A tagging PUT must carry a Tagging document (moto would crash on the others)."""
    before = snapshot(proxy, moto)
    wire = sign_v4("PUT", f"{proxy.url}/{BUCKET}/k?tagging", headers, body)
    refused(send(proxy.url, wire), 400, code)
    assert snapshot(proxy, moto) == before


def test_canned_acl_needs_no_document(proxy: EmbeddedProxy) -> None:
    wire = sign_v4("PUT", f"{proxy.url}/{BUCKET}/k?acl", {"x-amz-acl": "private"})
    assert send(proxy.url, wire).status == 200
    refused(send(proxy.url, sign_v4("PUT", f"{proxy.url}/{BUCKET}/k?acl")),
            400, "MissingRequestBodyError")  # fmt: skip


def test_key_length_limit(proxy: EmbeddedProxy, moto: Any) -> None:
    longest = "k" * 1024
    wire = sign_v4("PUT", f"{proxy.url}/{BUCKET}/{longest}", body=b"x")
    assert send(proxy.url, wire).status == 200
    before = snapshot(proxy, moto)
    too_long = "é" * 513  # 1,026 bytes of UTF-8 in 513 characters
    refused(send(proxy.url, sign_v4("PUT", f"{proxy.url}/{BUCKET}/{'%C3%A9' * 513}", body=b"x")),
            400, "KeyTooLongError")  # fmt: skip
    refused(send(proxy.url, sign_v4("POST", f"{proxy.url}/{BUCKET}/{'k' * 1025}?uploads")),
            400, "KeyTooLongError")  # fmt: skip
    assert len(too_long.encode()) > 1024
    assert snapshot(proxy, moto) == before


def test_delete_objects_over_a_thousand_keys(proxy: EmbeddedProxy, moto: Any) -> None:
    """AWS refuses 1,001 keys (MalformedXML); moto would accept them, so the proxy must not ask."""
    before = snapshot(proxy, moto)
    objects = "".join(f"<Object><Key>key{i}</Key></Object>" for i in range(1000)) + (
        "<Object><Key>k</Key></Object>"
    )
    body = f"<Delete>{objects}</Delete>".encode()
    refused(send(proxy.url, sign_v4("POST", f"{proxy.url}/{BUCKET}?delete", body=body)),
            400, "MalformedXML")  # fmt: skip
    assert snapshot(proxy, moto) == before


@pytest.mark.parametrize(
    "name", ["ab", "UPPER", "a..b", "-dash", "dash-", "192.168.1.1", "xn--bucket", "a" * 64,
             "under_score", "dot.-dash"],
)  # fmt: skip
def test_invalid_bucket_names(proxy: EmbeddedProxy, moto: Any, name: str) -> None:
    before = snapshot(proxy, moto)
    refused(send(proxy.url, sign_v4("PUT", f"{proxy.url}/{name}")), 400, "InvalidBucketName")
    assert snapshot(proxy, moto) == before


@pytest.mark.parametrize(
    "query, code",
    [
        ("list-type=2&max-keys=abc", "InvalidArgument"),
        ("max-keys=-1", "InvalidArgument"),
        ("max-keys=99999999999999999999999", "InvalidArgument"),
        ("list-type=2&continuation-token=not-a-token", "InvalidArgument"),
        ("list-type=2&continuation-token=%FF%FE", "InvalidArgument"),
        ("list-type=2&encoding-type=base64", "InvalidArgument"),
    ],
)
def test_bad_listing_arguments(proxy: EmbeddedProxy, query: str, code: str) -> None:
    refused(send(proxy.url, sign_v4("GET", f"{proxy.url}/{BUCKET}?{query}")), 400, code)


def test_invalid_utf8_in_the_path(proxy: EmbeddedProxy, moto: Any) -> None:
    before = snapshot(proxy, moto)
    for method in ("GET", "PUT", "DELETE"):
        body = b"x" if method == "PUT" else b""
        wire = sign_v4(method, f"{proxy.url}/{BUCKET}/bad%FF%FEkey", body=body)
        refused(send(proxy.url, wire), 400, "InvalidURI")
    assert snapshot(proxy, moto) == before


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({"x-amz-meta-big": "v" * 20000}, "RequestHeaderSectionTooLarge"),
        ({"x-amz-meta-del": "a\x7fb"}, "BadRequest"),
    ],
    ids=["big", "del"],
)
def test_headers_http_refuses_and_the_proxy_goes_on(
    proxy: EmbeddedProxy, headers: dict[str, str], code: str
) -> None:
    """aiohttp's HTTP parser refuses these before any handler: S3's error all the same
    (more of them, on raw sockets, in test_malformed_http.py)."""
    refused(send(proxy.url, sign_v4("GET", f"{proxy.url}/{BUCKET}", headers)), 400, code)
    assert send(proxy.url, sign_v4("GET", f"{proxy.url}/{BUCKET}")).status == 200


@pytest.mark.parametrize("expect", ["100-continue", "something-else", "caf\u00e9"])
def test_any_expect_header_is_harmless(proxy: EmbeddedProxy, expect: str) -> None:
    """S3 ignores an Expect it does not know (aiohttp alone would answer 417, or 500)."""
    wire = sign_v4("PUT", f"{proxy.url}/{BUCKET}/expect", {"Expect": expect}, b"body")
    assert send(proxy.url, wire).status == 200


def _raw(proxy: EmbeddedProxy, wire: Wire, body: bytes, *, half_close: bool) -> bytes:
    """Send headers and `body` on a raw socket; half-close (and read the answer) or just drop."""
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=20) as sock:
        head = f"{wire.method} {wire.target} HTTP/1.1\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in wire.headers.items()
        ) + "\r\n"
        sock.sendall(head.encode() + body)
        if not half_close:
            return b""
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


def _wait_for_error(proxy: EmbeddedProxy, code: str, count: int) -> None:
    """Until the proxy has answered `count` errors of `code` (the dropped request is handled)."""
    deadline = time.monotonic() + 20
    while proxy.context.errors[code] < count:
        assert time.monotonic() < deadline, dict(proxy.context.errors)
        time.sleep(0.02)


def test_body_shorter_than_content_length(proxy: EmbeddedProxy, moto: Any) -> None:
    before = snapshot(proxy, moto)
    wire = sign_v4("PUT", f"{proxy.url}/{BUCKET}/short", content_sha256="UNSIGNED-PAYLOAD")
    wire = wire.with_header("Content-Length", "100000")
    # aiohttp drops a connection whose peer half-closes: there is no answer to read,
    # but the request is still handled to its end, as an IncompleteBody.
    answer = _raw(proxy, wire, b"x" * 60_000, half_close=True)
    assert b"Traceback" not in answer and b" 500 " not in answer
    _wait_for_error(proxy, "IncompleteBody", 1)
    assert snapshot(proxy, moto) == before


def test_client_disconnecting_mid_upload_leaves_nothing(proxy: EmbeddedProxy, moto: Any) -> None:
    before = snapshot(proxy, moto)
    wire = sign_v4("PUT", f"{proxy.url}/{BUCKET}/dropped", content_sha256="UNSIGNED-PAYLOAD")
    wire = wire.with_header("Content-Length", str(5_000_000))
    _raw(proxy, wire, b"y" * 1_000_000, half_close=False)
    _wait_for_error(proxy, "IncompleteBody", 1)
    # an aws-chunked upload dropped in the middle of a chunk
    headers = {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": "200000"}
    chunked = sign_v4("PUT", f"{proxy.url}/{BUCKET}/dropped-chunks", headers,
                      content_sha256="STREAMING-AWS4-HMAC-SHA256-PAYLOAD")  # fmt: skip
    body = chunked_body([b"z" * 100_000, b"z" * 100_000], seed=seed_signature(chunked),
                        amz_date=chunked.header("X-Amz-Date"))  # fmt: skip
    chunked = chunked.with_header("Content-Length", str(len(body)))
    _raw(proxy, chunked, body[:150_000], half_close=False)
    _wait_for_error(proxy, "IncompleteBody", 2)
    assert snapshot(proxy, moto) == before


def test_chunked_body_shorter_than_its_decoded_length(proxy: EmbeddedProxy, moto: Any) -> None:
    before = snapshot(proxy, moto)
    headers = {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": "300"}
    wire = sign_v4("PUT", f"{proxy.url}/{BUCKET}/liar", headers,
                   content_sha256="STREAMING-AWS4-HMAC-SHA256-PAYLOAD")  # fmt: skip
    body = chunked_body([b"q" * 200], seed=seed_signature(wire), amz_date=wire.header("X-Amz-Date"))
    answer = send(proxy.url, replace(wire, body=body).with_header("Content-Length", str(len(body))))
    refused(answer, 400, "IncompleteBody")
    assert snapshot(proxy, moto) == before


@pytest.mark.parametrize(
    "body",
    [
        b"zz;chunk-signature=00\r\nabc\r\n",
        b"ffffffffff\r\n",
        b"-5\r\nabc\r\n",
        b"3\r\nabcXY0\r\n\r\n",
    ],
)
def test_garbled_chunk_framing(proxy: EmbeddedProxy, moto: Any, body: bytes) -> None:
    before = snapshot(proxy, moto)
    headers = {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": "3"}
    wire = sign_v4("PUT", f"{proxy.url}/{BUCKET}/garbled", headers,
                   content_sha256="STREAMING-UNSIGNED-PAYLOAD-TRAILER")  # fmt: skip
    answer = send(proxy.url, replace(wire, body=body).with_header("Content-Length", str(len(body))))
    assert answer.status == 400 and answer.code in ("InvalidRequest", "IncompleteBody")
    assert snapshot(proxy, moto) == before


@pytest.mark.parametrize(
    "method, level, query, content_type, code",
    [
        ("PATCH", "object", {}, "", "MethodNotAllowed"),
        ("POST", "bucket", {}, "text/plain", "PreconditionFailed"),
        ("POST", "bucket", {}, "multipart/form-data; boundary=x", "MethodNotAllowed"),
        ("POST", "object", {"acl": ""}, "", "MethodNotAllowed"),
        ("DELETE", "bucket", {"acl": ""}, "", "MethodNotAllowed"),
        ("DELETE", "object", {"uploads": ""}, "", "MethodNotAllowed"),
        ("PUT", "bucket", {"restore": ""}, "", "MethodNotAllowed"),
        ("PUT", "bucket", {"uploads": ""}, "", "MethodNotAllowed"),
        ("PUT", "object", {"uploadId": "u"}, "", "InvalidArgument"),
        ("PUT", "object", {"uploadId": "u", "partNumber": "0"}, "", "InvalidArgument"),
        ("PUT", "object", {"uploadId": "u", "partNumber": "10001"}, "", "InvalidArgument"),
        ("PUT", "object", {"partNumber": "1"}, "", "InvalidArgument"),
        ("PUT", "object", {"uploadId": "u", "partNumber": "1"}, "", None),
        ("PUT", "bucket", {"tagging": ""}, "", None),
        ("DELETE", "object", {"uploadId": "u"}, "", None),
        ("DELETE", "bucket", {"lifecycle": ""}, "", None),
        ("POST", "bucket", {"delete": ""}, "", None),
        ("POST", "object", {"uploads": ""}, "", None),
        ("GET", "object", {"acl": ""}, "", None),
        ("OPTIONS", "object", {}, "", None),
    ],
)
def test_methods_s3_has(
    method: str, level: str, query: dict[str, str], content_type: str, code: str | None
) -> None:
    """What reaches the upstream is an S3 operation: moto takes some others for writes."""
    if code is None:
        check_method(method, level, query, content_type)
        return
    with pytest.raises(S3Error) as caught:
        check_method(method, level, query, content_type)
    assert caught.value.code == code


def test_a_bucket_name_ending_in_a_newline_is_invalid(proxy: EmbeddedProxy, moto: Any) -> None:
    before = snapshot(proxy, moto)
    refused(send(proxy.url, sign_v4("PUT", f"{proxy.url}/abc%0A")), 400, "InvalidBucketName")
    assert snapshot(proxy, moto) == before


@pytest.mark.parametrize("target", ["//k", "//", "/%2F/k", "/a%20b/k", "/b%00/k"])
def test_requests_to_no_possible_bucket(proxy: EmbeddedProxy, moto: Any, target: str) -> None:
    """S3 could hold no such bucket; moto would read `//k` as CreateBucket `k`."""
    before = snapshot(proxy, moto)
    host = proxy.url.removeprefix("http://")
    wire = sign_v4("PUT", f"http://{host}{target}", body=b"x")
    refused(send(proxy.url, wire), 400, "InvalidBucketName")
    assert snapshot(proxy, moto) == before
