"""`Expect: 100-continue`: the 100 comes only once the request is accepted, before its body.

On raw sockets, as a client that waits for the 100 before sending its body: a request
refused by authentication (or any check before the body) gets its `<Error>` with no
`100 Continue` before it, and `Connection: close`, so what the client sends next is
never taken for a request; an accepted one gets `100 Continue`, then, once the body
is sent, its answer, on a connection that stays open. Real clients that send the
expectation (boto3 for bodies over 1 MB, the AWS CLI) are in tests/clients and below.
"""

from __future__ import annotations

import io
import logging
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from lxml import etree

from proxy.embedded import EmbeddedProxy
from tests.fixtures.proxy_server import client_for
from tests.signing import Wire, chunked_body, seed_signature, send, sign_v4

BUCKET = "expecting"
BODY = b"the body, held back until invited"
EXPECT = {"Expect": "100-continue"}



@pytest.fixture
def proxy(make_proxy: Callable[..., EmbeddedProxy]) -> EmbeddedProxy:
    """A proxy whose index holds BUCKET (created through it)."""
    running = make_proxy("memory")
    assert send(running.url, sign_v4("PUT", f"{running.url}/{BUCKET}")).status == 200
    return running


@dataclass(frozen=True)
class Head:
    """A status line and headers, as read off the socket."""

    status_line: str
    headers: dict[str, str]

    @property
    def status(self) -> int:
        return int(self.status_line.split(" ", 2)[1])


class Conversation:
    """One connection, read piece by piece: an interim answer, then a final one."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def send_head(self, wire: Wire, version: str = "HTTP/1.1") -> None:
        head = f"{wire.method} {wire.target} {version}\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in wire.headers.items()
        )  # fmt: skip
        self.sock.sendall((head + "\r\n").encode())

    def read_head(self) -> Head:
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            assert chunk, f"closed before an answer: {self.buffer!r}"
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return Head(lines[0], headers)

    def read_body(self, head: Head) -> bytes:
        length = int(head.headers.get("content-length", "0"))
        while len(self.buffer) < length:
            chunk = self.sock.recv(65536)
            assert chunk, "closed in the middle of an answer"
            self.buffer += chunk
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return body

    def rest(self) -> bytes:
        """All the server sends until it closes the connection."""
        received = self.buffer
        try:
            while chunk := self.sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
        return received


@contextmanager
def conversation(proxy: EmbeddedProxy) -> Iterator[Conversation]:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        yield Conversation(sock)


def put(proxy: EmbeddedProxy, name: str = "k", **sign: Any) -> Wire:
    """A PUT of BODY with `Expect: 100-continue`, the payload unsigned (sent later)."""
    wire = sign_v4("PUT", f"{proxy.url}/{BUCKET}/{name}", dict(EXPECT), BODY,
                   content_sha256="UNSIGNED-PAYLOAD", **sign)  # fmt: skip
    return wire.with_header("Content-Length", str(len(BODY)))


def error_code(body: bytes) -> str:
    root = etree.fromstring(body)
    assert root.tag == "Error"
    return root.findtext("Code") or ""


def upstream_keys(moto: Any) -> list[str]:
    return [item["Key"] for item in moto.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


REFUSED: dict[str, tuple[Callable[[EmbeddedProxy], Wire], int, str]] = {
    "unsigned": (lambda p: put(p).with_header("Authorization", None), 403, "AccessDenied"),
    "wrong secret": (lambda p: put(p, secret="wrong"), 403, "SignatureDoesNotMatch"),
    "unknown key": (lambda p: put(p, key="nobody"), 403, "InvalidAccessKeyId"),
    "tampered header": (lambda p: put(p).with_header("x-amz-meta-a", "b"), 403, "AccessDenied"),
    "tampered path": (lambda p: replace(put(p), target=f"/{BUCKET}/other"),
                      403, "SignatureDoesNotMatch"),
    # past authentication, refused by a check before the body: no invitation either
    "key too long": (lambda p: put(p, name="k" * 1100), 400, "KeyTooLongError"),
    "bad part number": (lambda p: put(p, name="k?uploadId=u&partNumber=0"),
                        400, "InvalidArgument"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(REFUSED))
def test_refused_request_gets_no_100_and_the_connection_closes(
    proxy: EmbeddedProxy, moto: Any, case: str
) -> None:
    make, status, code = REFUSED[case]
    with conversation(proxy) as talk:
        talk.send_head(make(proxy))
        head = talk.read_head()
        assert head.status_line != "HTTP/1.1 100 Continue"
        assert (head.status, error_code(talk.read_body(head))) == (status, code)
        assert head.headers["connection"] == "close"
        # A client that took the connection for still open would send its next request:
        # it is never answered (the framing takes its first bytes for the unsent body),
        # and the connection closes.
        talk.send_head(sign_v4("GET", f"{proxy.url}/{BUCKET}"))
        assert talk.rest() == b""
    assert upstream_keys(moto) == []
    assert proxy.context.errors[code] == 1


def test_accepted_request_gets_100_then_its_answer(proxy: EmbeddedProxy, moto: Any) -> None:
    with conversation(proxy) as talk:
        talk.send_head(put(proxy))
        head = talk.read_head()
        assert head.status_line == "HTTP/1.1 100 Continue"
        assert talk.buffer == b""  # nothing more until the body is sent
        talk.sock.sendall(BODY)
        final = talk.read_head()
        assert final.status == 200, talk.read_body(final)
        talk.read_body(final)
        assert "connection" not in final.headers  # kept alive: the next request may follow
        talk.send_head(sign_v4("GET", f"{proxy.url}/{BUCKET}/k"))
        again = talk.read_head()
        assert (again.status, talk.read_body(again)) == (200, BODY)
    assert moto.get_object(Bucket=BUCKET, Key="k")["Body"].read() == BODY


def test_signed_payload_and_aws_chunked_bodies_are_invited_too(
    proxy: EmbeddedProxy, moto: Any
) -> None:
    signed = sign_v4("PUT", f"{proxy.url}/{BUCKET}/signed", dict(EXPECT), BODY)
    headers = {**EXPECT, "Content-Encoding": "aws-chunked",
               "x-amz-decoded-content-length": str(len(BODY))}  # fmt: skip
    chunked = sign_v4("PUT", f"{proxy.url}/{BUCKET}/chunked", headers,
                      content_sha256="STREAMING-AWS4-HMAC-SHA256-PAYLOAD")  # fmt: skip
    chunked_bytes = chunked_body([BODY], seed=seed_signature(chunked),
                                 amz_date=chunked.header("X-Amz-Date"))  # fmt: skip
    chunked = replace(chunked, body=chunked_bytes)
    for wire in (signed, chunked):
        wire = wire.with_header("Content-Length", str(len(wire.body)))
        with conversation(proxy) as talk:
            talk.send_head(wire)
            assert talk.read_head().status_line == "HTTP/1.1 100 Continue"
            talk.sock.sendall(wire.body)
            final = talk.read_head()
            assert final.status == 200, talk.read_body(final)
    assert moto.get_object(Bucket=BUCKET, Key="signed")["Body"].read() == BODY
    assert moto.get_object(Bucket=BUCKET, Key="chunked")["Body"].read() == BODY


def test_a_whole_body_read_in_the_handler_is_invited(proxy: EmbeddedProxy, moto: Any) -> None:
    """DeleteObjects reads its document whole (payload.read_body): the 100 comes first."""
    moto.put_object(Bucket=BUCKET, Key="gone", Body=b"x")
    document = b"<Delete><Object><Key>gone</Key></Object></Delete>"
    wire = sign_v4("POST", f"{proxy.url}/{BUCKET}?delete", dict(EXPECT), document)
    with conversation(proxy) as talk:
        talk.send_head(wire.with_header("Content-Length", str(len(document))))
        assert talk.read_head().status_line == "HTTP/1.1 100 Continue"
        talk.sock.sendall(document)
        final = talk.read_head()
        assert final.status == 200, talk.read_body(final)
    assert upstream_keys(moto) == []


def test_http_10_never_gets_100(proxy: EmbeddedProxy, moto: Any) -> None:
    with conversation(proxy) as talk:
        talk.send_head(put(proxy), version="HTTP/1.0")
        talk.sock.sendall(BODY)
        head = talk.read_head()
        assert head.status_line.startswith("HTTP/1.0 200"), head.status_line
    assert moto.get_object(Bucket=BUCKET, Key="k")["Body"].read() == BODY


def test_another_expect_is_ignored(proxy: EmbeddedProxy, moto: Any) -> None:
    wire = put(proxy).with_header("Expect", "something-else")
    with conversation(proxy) as talk:
        talk.send_head(wire)
        talk.sock.sendall(BODY)
        head = talk.read_head()
        assert head.status == 200
    assert moto.get_object(Bucket=BUCKET, Key="k")["Body"].read() == BODY


def test_boto3_waits_for_the_100_and_uploads(
    proxy: EmbeddedProxy, moto: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """boto3 sends `Expect: 100-continue` with a file body, and waits for the 100."""
    data = bytes(range(256)) * (6 * 4096)  # 6 MB
    with caplog.at_level(logging.DEBUG, logger="botocore.awsrequest"):
        client_for(proxy.url).put_object(Bucket=BUCKET, Key="big", Body=io.BytesIO(data))
    assert "100 Continue response seen, now sending request body." in caplog.messages
    assert moto.get_object(Bucket=BUCKET, Key="big")["Body"].read() == data
    wrong = boto3.client("s3", endpoint_url=proxy.url, region_name="us-east-1",
                         aws_access_key_id="testing", aws_secret_access_key="wrong")  # fmt: skip
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="botocore.awsrequest"):
        with pytest.raises(ClientError) as refused:
            wrong.put_object(Bucket=BUCKET, Key="nope", Body=io.BytesIO(data))
    assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert any("non 100 Continue" in message for message in caplog.messages)
