"""Checking request bodies on their way upstream: the signed hash, chunk signatures, trailers, XML.

The auth middleware leaves the body's `PayloadRule` on the request; the forward path
streams the body through `checked_stream`. Every check runs before the body's last
bytes are passed on, so a body that fails never reaches the upstream whole: the
upstream request is cut short and S3 commits nothing (and the index learns nothing).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator, Iterable

import aiohttp
from aiohttp import web

from . import sigv4
from .checksums import Checksum, new_checksum
from .chunked import ChunkedDecoder, is_aws_chunked
from .errors import (
    BadDigest,
    IncompleteBody,
    InvalidRequest,
    MalformedTrailerError,
    MaxMessageLengthExceeded,
    SignatureDoesNotMatch,
    XAmzContentSHA256Mismatch,
)
from .expect import continued
from .signed import PayloadRule
from .xmlbody import MAX_XML_BODY, check_document, xml_checked

__all__ = [
    "PAYLOAD",
    "check_empty_body",
    "checked_stream",
    "read_body",
]

PAYLOAD = web.RequestKey("mimicdb.payload", PayloadRule)


def check_empty_body(http: web.Request, *, xml_root: str | None = None) -> None:
    """An empty body must match a signed payload hash too, and be allowed to be empty."""
    if xml_root is not None:
        check_document(b"", xml_root, http.headers)
    rule = http.get(PAYLOAD)
    if rule is not None and rule.sha256 is not None and rule.sha256 != sigv4.EMPTY_SHA256:
        raise XAmzContentSHA256Mismatch(
            ClientComputedContentSHA256=rule.sha256, S3ComputedContentSHA256=sigv4.EMPTY_SHA256
        )


def checked_stream(
    http: web.Request,
    chunks: AsyncIterator[bytes],
    decoder: ChunkedDecoder | None = None,
    *,
    xml_root: str | None = None,
) -> AsyncIterator[bytes]:
    """`chunks` (decoded by `decoder` when aws-chunked) with every check of the request."""
    rule = http.get(PAYLOAD)
    stream = chunks
    if decoder is not None:
        stream = _verified_chunks(chunks, decoder, rule or PayloadRule())
    elif rule is not None and rule.sha256 is not None:
        stream = _verified_sha256(chunks, rule.sha256)
    if xml_root is not None:
        stream = xml_checked(stream, xml_root, http.headers)
    return stream


async def read_body(http: web.Request, limit: int = MAX_XML_BODY) -> bytes:
    """The whole (small) body, decoded and checked; bigger than `limit` is refused.

    An owed `100 Continue` is sent before the first read (expect.py).
    """
    decoder: ChunkedDecoder | None = None
    chunks: AsyncIterator[bytes] = http.content.iter_chunked(64 * 1024)
    encoding = http.headers.get("Content-Encoding", "")
    if is_aws_chunked(encoding, http.headers.get("x-amz-content-sha256", "")):
        decoder = ChunkedDecoder(http.content)
        chunks = decoder.chunks()
    parts: list[bytes] = []
    size = 0
    try:
        async for chunk in checked_stream(http, continued(http, chunks), decoder):
            size += len(chunk)
            if size > limit:
                raise MaxMessageLengthExceeded()
            parts.append(chunk)
    except (aiohttp.ClientPayloadError, ConnectionError) as exc:
        raise IncompleteBody() from exc
    if not parts:
        check_empty_body(http)
    return b"".join(parts)


async def _verified_sha256(chunks: AsyncIterator[bytes], expected: str) -> AsyncIterator[bytes]:
    digest = hashlib.sha256()
    held: bytes | None = None
    async for chunk in chunks:
        digest.update(chunk)
        if held is not None:
            yield held
        held = chunk
    computed = digest.hexdigest()
    if not hmac.compare_digest(computed, expected):
        raise XAmzContentSHA256Mismatch(
            ClientComputedContentSHA256=expected, S3ComputedContentSHA256=computed
        )
    if held is not None:
        yield held


def _chunk_signature(rule: PayloadRule, previous: str, data: bytes) -> str:
    to_sign = sigv4.chunk_string_to_sign(rule.amz_date, rule.scope, previous, data)
    return sigv4.signature(rule.signing_key, to_sign)


def _expect_signature(decoder: ChunkedDecoder, index: int, expected: str) -> str:
    """The index-th chunk signature sent, which must be `expected`."""
    sent = decoder.signatures[index] if index < len(decoder.signatures) else ""
    if not hmac.compare_digest(sent.lower(), expected):
        raise SignatureDoesNotMatch(
            "The chunk signature we calculated does not match the signature you provided.",
            SignatureProvided=sent,
        )
    return expected


async def _verified_chunks(
    chunks: AsyncIterator[bytes], decoder: ChunkedDecoder, rule: PayloadRule
) -> AsyncIterator[bytes]:
    checksums = _checksums(rule.trailers)
    previous = rule.seed
    index = 0
    held: bytes | None = None
    async for data in chunks:
        if rule.chunk_signatures:
            previous = _expect_signature(decoder, index, _chunk_signature(rule, previous, data))
        for checksum in checksums.values():
            checksum.update(data)
        index += 1
        if held is not None:
            yield held
        held = data
    if rule.chunk_signatures:
        previous = _expect_signature(decoder, index, _chunk_signature(rule, previous, b""))
    if rule.trailer_signature:
        _verify_trailer_signature(decoder, rule, previous)
    _verify_trailers(decoder, checksums)
    if held is not None:
        yield held


def _checksums(names: Iterable[str]) -> dict[str, Checksum]:
    out: dict[str, Checksum] = {}
    for name in names:
        checksum = new_checksum(name)
        if checksum is None:
            raise InvalidRequest(
                f"The value specified in the x-amz-trailer header is not supported: {name[:64]}"
            )
        out[name] = checksum
    return out


def _verify_trailer_signature(decoder: ChunkedDecoder, rule: PayloadRule, previous: str) -> None:
    trailers = [(k, v) for k, v in decoder.trailers.items() if k != "x-amz-trailer-signature"]
    to_sign = sigv4.trailer_string_to_sign(rule.amz_date, rule.scope, previous, trailers)
    expected = sigv4.signature(rule.signing_key, to_sign)
    sent = decoder.trailers.get("x-amz-trailer-signature", "")
    if not hmac.compare_digest(sent.lower(), expected):
        raise SignatureDoesNotMatch(
            "The trailer signature we calculated does not match the signature you provided.",
            SignatureProvided=sent,
        )


def _verify_trailers(decoder: ChunkedDecoder, checksums: dict[str, Checksum]) -> None:
    for name, checksum in checksums.items():
        sent = decoder.trailers.get(name)
        if sent is None:
            raise MalformedTrailerError()
        if sent != checksum.value():
            algorithm = name.removeprefix("x-amz-checksum-").upper()
            raise BadDigest(f"The {algorithm} you specified did not match the calculated checksum.")
