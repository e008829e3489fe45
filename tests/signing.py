"""Hand-made signed requests for the authentication tests, sent byte for byte.

botocore signs them (an implementation independent of the proxy's), with the clock
the test chooses; `http.client` sends them exactly as built, so a test can tamper
with one thing at a time after signing. aws-chunked bodies are signed here with
hmac/hashlib, a signer that tests/test_sigv4.py checks against AWS's published values.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlsplit

import botocore.auth
from botocore.auth import HmacV1Auth, HmacV1QueryAuth, S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from lxml import etree

KEY = "testing"
SECRET = "testing"
REGION = "us-east-1"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True)
class Wire:
    """A request as it goes on the wire: method, target (path?query), headers, body."""

    method: str
    target: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def with_header(self, name: str, value: str | None) -> Wire:
        """A copy with one header set (or removed with None), names matched ignoring case."""
        headers = {k: v for k, v in self.headers.items() if k.lower() != name.lower()}
        if value is not None:
            headers[name] = value
        return replace(self, headers=headers)

    def header(self, name: str) -> str:
        """The value of a header, by any case of its name."""
        return next(v for k, v in self.headers.items() if k.lower() == name.lower())


@dataclass(frozen=True)
class Answer:
    """What came back."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def code(self) -> str:
        """The `<Code>` of an `<Error>` body ('' when there is none)."""
        if not self.body:
            return ""
        root = etree.fromstring(self.body)
        return root.findtext("Code") or "" if root.tag == "Error" else ""


@contextmanager
def clock(moment: datetime) -> Iterator[None]:
    """botocore signs as if it were `moment`."""
    original = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = lambda remove_tzinfo=True: moment.replace(tzinfo=None)
    try:
        yield
    finally:
        botocore.auth.get_current_datetime = original


class _V4(S3SigV4Auth):  # type: ignore[misc]
    """S3SigV4Auth that keeps an x-amz-content-sha256 the test set (streaming, unsigned)."""

    def _modify_request_before_signing(self, request: Any) -> None:
        wanted = request.headers.get("X-Amz-Content-SHA256")
        super()._modify_request_before_signing(request)
        if wanted is not None:
            del request.headers["X-Amz-Content-SHA256"]
            request.headers["X-Amz-Content-SHA256"] = wanted


def _wire(request: AWSRequest) -> Wire:
    prepared = request.prepare()
    parts = urlsplit(prepared.url)
    target = parts.path + ("?" + parts.query if parts.query else "")
    body = prepared.body if isinstance(prepared.body, bytes) else b""
    return Wire(prepared.method, target, dict(prepared.headers.items()), body)


def _request(method: str, url: str, headers: dict[str, str] | None, body: bytes) -> AWSRequest:
    all_headers = {"Host": urlsplit(url).netloc, **(headers or {})}
    return AWSRequest(method=method, url=url, headers=all_headers, data=body)


def sign_v4(
    method: str,
    url: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    *,
    content_sha256: str | None = None,
    key: str = KEY,
    secret: str = SECRET,
    when: datetime | None = None,
    region: str = REGION,
) -> Wire:
    """A SigV4 Authorization-header request; `url` is already encoded as it should be sent."""
    request = _request(method, url, headers, body)
    sha = content_sha256 or hashlib.sha256(body).hexdigest()
    request.headers["X-Amz-Content-SHA256"] = sha
    with clock(when or datetime.now(UTC)):
        _V4(Credentials(key, secret), "s3", region).add_auth(request)
    return _wire(request)


def presign_v4(
    method: str,
    url: str,
    *,
    expires: int = 300,
    key: str = KEY,
    secret: str = SECRET,
    when: datetime | None = None,
    region: str = REGION,
) -> Wire:
    """A SigV4 presigned request: the signature in the query."""
    request = _request(method, url, None, b"")
    with clock(when or datetime.now(UTC)):
        S3SigV4QueryAuth(Credentials(key, secret), "s3", region, expires=expires).add_auth(request)
    wire = _wire(request)
    return replace(wire, headers={"Host": urlsplit(url).netloc})


class _V2(HmacV1Auth):  # type: ignore[misc]
    def __init__(self, credentials: Credentials, when: datetime) -> None:
        super().__init__(credentials)
        self._when = when

    def _get_date(self) -> str:
        return format_datetime(self._when.astimezone(UTC), usegmt=True)


class _V2Query(HmacV1QueryAuth):  # type: ignore[misc]
    def __init__(self, credentials: Credentials, expires_at: int) -> None:
        super().__init__(credentials, expires=0)
        self._expires_at = expires_at

    def _get_date(self) -> str:
        return str(self._expires_at)


def sign_v2(
    method: str,
    url: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    *,
    auth_path: str | None = None,
    key: str = KEY,
    secret: str = SECRET,
    when: datetime | None = None,
) -> Wire:
    """A SigV2 request (`Authorization: AWS key:signature`), as boto 2 signs."""
    request = _request(method, url, headers, body)
    if auth_path is not None:
        request.auth_path = auth_path
    _V2(Credentials(key, secret), when or datetime.now(UTC)).add_auth(request)
    return _wire(request)


def presign_v2(
    method: str, url: str, *, expires_at: int, key: str = KEY, secret: str = SECRET
) -> Wire:
    """A SigV2 presigned request (AWSAccessKeyId, Expires, Signature in the query)."""
    request = _request(method, url, None, b"")
    _V2Query(Credentials(key, secret), expires_at).add_auth(request)
    return replace(_wire(request), headers={"Host": urlsplit(url).netloc})


def seed_signature(wire: Wire) -> str:
    """The signature of a SigV4 Authorization header (the seed of a chunk chain)."""
    return wire.header("Authorization").rsplit("Signature=", 1)[1]


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def chunk_signer(secret: str, amz_date: str, region: str = REGION) -> tuple[bytes, str]:
    """The signing key and credential scope of a chunk chain."""
    key = _hmac(f"AWS4{secret}".encode(), amz_date[:8])
    for part in (region, "s3", "aws4_request"):
        key = _hmac(key, part)
    return key, f"{amz_date[:8]}/{region}/s3/aws4_request"


def chunk_signature(
    secret: str, amz_date: str, previous: str, data: bytes, region: str = REGION
) -> str:
    """One chunk's signature, chained to the previous one (AWS's sigv4-streaming)."""
    key, scope = chunk_signer(secret, amz_date, region)
    text = "\n".join(
        [
            "AWS4-HMAC-SHA256-PAYLOAD",
            amz_date,
            scope,
            previous,
            EMPTY_SHA256,
            hashlib.sha256(data).hexdigest(),
        ]
    )
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def trailer_signature(
    secret: str, amz_date: str, previous: str, trailer: str, region: str = REGION
) -> str:
    """The trailing headers' signature (`trailer` is `name:value\\n` lines)."""
    key, scope = chunk_signer(secret, amz_date, region)
    digest = hashlib.sha256(trailer.encode()).hexdigest()
    text = "\n".join(["AWS4-HMAC-SHA256-TRAILER", amz_date, scope, previous, digest])
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def chunked_body(
    chunks: Sequence[bytes],
    *,
    seed: str | None,
    amz_date: str = "",
    secret: str = SECRET,
    trailer: tuple[str, str] | None = None,
    sign_trailer: bool = False,
    region: str = REGION,
) -> bytes:
    """An aws-chunked body: signed chunks when `seed` is given, then an optional trailer."""
    out = b""
    previous = seed or ""
    for data in [*chunks, b""]:
        header = f"{len(data):x}"
        if seed is not None:
            previous = chunk_signature(secret, amz_date, previous, data, region)
            header += f";chunk-signature={previous}"
        out += header.encode() + b"\r\n" + data + (b"\r\n" if data else b"")
    if trailer is not None:
        line = f"{trailer[0]}:{trailer[1]}"
        out += line.encode() + b"\r\n"
        if sign_trailer:
            signature = trailer_signature(secret, amz_date, previous, line + "\n", region)
            out += f"x-amz-trailer-signature:{signature}".encode() + b"\r\n"
    return out + b"\r\n"


def send(endpoint: str, wire: Wire, timeout: float = 30) -> Answer:
    """Send exactly this request to the proxy at `endpoint` (http://127.0.0.1:PORT)."""
    parts = urlsplit(endpoint)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        connection.request(wire.method, wire.target, body=wire.body, headers=wire.headers)
        response = connection.getresponse()
        body = response.read()
        return Answer(response.status, dict(response.getheaders()), body)
    finally:
        connection.close()
