"""Forwarding a client's request upstream: headers filtered, body streamed, answer streamed back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from ..chunked import ChunkedDecoder, is_aws_chunked
from ..context import Context
from ..errors import IncompleteBody, MissingContentLength, ServiceUnavailable
from ..expect import continued
from ..payload import check_empty_body, checked_stream
from ..routing import S3Request
from ..upstream import HOP_BY_HOP, Body, Reply
from ..xmlbody import xml_root

__all__ = [
    "forward",
    "forward_whole",
    "reply_response",
    "response_headers",
    "upstream_body",
    "upstream_headers",
]

_CHUNK = 256 * 1024
# Headers of the upstream's answer that belong to its connection, not to the client.
_RESPONSE_DROP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"}
)
# Headers the client sends only to describe an aws-chunked body, dropped once decoded.
_CHUNKED_ONLY = frozenset(
    {"x-amz-decoded-content-length", "x-amz-trailer", "x-amz-sdk-checksum-algorithm"}
)


def upstream_headers(request: S3Request) -> dict[str, str]:
    """The client's headers worth sending on; the force marker of a read is dropped."""
    out: dict[str, str] = {}
    chunked = _is_chunked(request)
    for name, value in request.http.headers.items():
        lower = name.lower()
        if lower in HOP_BY_HOP:
            continue
        if lower == "cache-control" and request.forced:
            continue
        if chunked and lower in _CHUNKED_ONLY:
            continue
        if chunked and lower == "content-encoding":
            value = ",".join(
                part for part in value.split(",") if part.strip().lower() != "aws-chunked"
            )
            if not value:
                continue
        out[name] = value
    return out


def _is_chunked(request: S3Request) -> bool:
    headers = request.http.headers
    return is_aws_chunked(
        headers.get("Content-Encoding", ""), headers.get("x-amz-content-sha256", "")
    )


async def upstream_body(request: S3Request) -> tuple[Body, int | None]:
    """The body to send on, streamed, and its length (decoded when aws-chunked).

    On its way it passes the checks of payload.py (signed hash, chunk signatures,
    trailers, XML documents), which fail it before its last bytes go upstream. Its
    first read sends the `100 Continue` an `Expect` asked for (expect.py).
    """
    http = request.http
    if request.method not in ("PUT", "POST"):
        return None, None
    root = xml_root(request.method, request.query.keys())
    if _is_chunked(request):
        declared = http.headers.get("x-amz-decoded-content-length")
        if declared is None or not declared.isdigit():
            raise MissingContentLength()
        decoder = ChunkedDecoder(http.content)
        body = continued(http, checked_stream(http, decoder.chunks(), decoder, xml_root=root))
        if int(declared) == 0:
            # Nothing can be held back from an empty body: check it whole before sending.
            return b"".join([chunk async for chunk in _checked(body, 0)]), 0
        return _checked(body, int(declared)), int(declared)
    length = http.content_length
    if length is None:
        if http.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raise MissingContentLength()
        check_empty_body(http, xml_root=root)
        return b"", 0
    if length == 0:
        check_empty_body(http, xml_root=root)
        return b"", 0
    body = continued(http, checked_stream(http, http.content.iter_chunked(_CHUNK), xml_root=root))
    return _checked(body, length), length


async def _checked(chunks: AsyncIterator[bytes], expected: int) -> AsyncIterator[bytes]:
    """Pass chunks on, failing the upload when the client sends fewer or more bytes."""
    seen = 0
    try:
        async for chunk in chunks:
            seen += len(chunk)
            if seen > expected:
                raise IncompleteBody("The body is longer than its declared length.")
            yield chunk
    except (aiohttp.ClientPayloadError, ConnectionResetError, asyncio.IncompleteReadError) as exc:
        raise IncompleteBody() from exc
    if seen != expected:
        raise IncompleteBody()


def response_headers(headers: Mapping[str, str]) -> CIMultiDict[str]:
    """The upstream's answer headers worth passing to the client."""
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        if name.lower() not in _RESPONSE_DROP:
            out.add(name, value)
    return out


def reply_response(reply: Reply) -> web.Response:
    """A whole upstream answer as the client's response."""
    response = web.Response(
        status=reply.status, body=reply.body, headers=response_headers(reply.headers)
    )
    if "Content-Length" in reply.headers and not reply.body:
        # HEAD answers: keep the length the upstream announced.
        response.headers["Content-Length"] = reply.headers["Content-Length"]
    return response


async def forward_whole(context: Context, request: S3Request) -> Reply:
    """Send the request on (body streamed) and read the whole, small answer."""
    body, length = await upstream_body(request)
    response = await context.upstream.open_stream(
        request.method,
        request.upstream_path,
        request.query_pairs,
        upstream_headers(request),
        body,
        length,
    )
    try:
        data = await response.read()
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise ServiceUnavailable("The upstream S3 connection broke.") from exc
    finally:
        response.release()
    return Reply(response.status, response.headers, data)


OnResponse = Callable[[aiohttp.ClientResponse], Awaitable[None]]


async def forward(
    context: Context, request: S3Request, on_response: OnResponse | None = None
) -> web.StreamResponse:
    """Pass a request through unchanged, streaming both bodies.

    `on_response` sees the upstream's status and headers before the body is streamed.
    """
    body, length = await upstream_body(request)
    upstream = await context.upstream.open_stream(
        request.method,
        request.upstream_path,
        request.query_pairs,
        upstream_headers(request),
        body,
        length,
    )
    try:
        if on_response is not None:
            await on_response(upstream)
        if request.method == "HEAD" or upstream.status in (204, 304):
            await upstream.read()
            reply = Reply(upstream.status, upstream.headers, b"")
            return reply_response(reply)
        response = web.StreamResponse(
            status=upstream.status, headers=response_headers(upstream.headers)
        )
        if upstream.content_length is not None:
            response.content_length = upstream.content_length
        await response.prepare(request.http)
        try:
            async for chunk in upstream.content.iter_chunked(_CHUNK):
                await response.write(chunk)
        except (TimeoutError, aiohttp.ClientError):
            # Headers are sent: all that is left is to cut the connection, as S3 would.
            if request.http.transport is not None:
                request.http.transport.close()
            return response
        await response.write_eof()
        return response
    finally:
        upstream.release()
